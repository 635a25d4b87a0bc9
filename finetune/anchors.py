"""Published figures shown beside a user's scores: BLURB's (PubMedBERT, BioELECTRA, ELECTRAMed) and, for
`python -m finetune blue`, BLUE's clinical tasks (BlueBERT, BioELECTRA's MedNLI).

Every figure is a TEST-split score as its paper reports it, in percent. Each BLURB figure was copied
from the page named in its `source` (paper-results aggregators quoting the paper, or a later paper's
comparison table). A task without a figure here had none in any source we could name: PubMedBERT's
BC5-chem, BC5-disease and JNLPBA, and most of BioELECTRA's BLURB table (its paper's full table was not
available to us). Add a figure only together with the page it was read from. The clinical figures were
added without the page at hand (their notes say so): check them against it.
"""

from __future__ import annotations

import dataclasses

MODELS = ("PubMedBERT", "BioELECTRA", "ELECTRAMed")  # the columns of blurb.md
BLUE_MODELS = ("BlueBERT", "BioELECTRA")  # the columns of blue.md

CITATIONS = {
    "PubMedBERT": "Gu et al., \"Domain-Specific Language Model Pretraining for Biomedical Natural "
                  "Language Processing\" (the BLURB paper), arXiv:2007.15779; PubMedBERT uncased, "
                  "abstracts",
    "BioELECTRA": "Kanakarajan, Kundumani and Sankarasubbu, \"BioELECTRA: Pretrained Biomedical "
                  "text Encoder using Discriminators\", BioNLP 2021, pp. 143-154, "
                  "https://aclanthology.org/2021.bionlp-1.16",
    "ELECTRAMed": "Miolo, Mantoan and Orsenigo, \"ELECTRAMed: a new pre-trained language "
                  "representation model for biomedical NLP\", arXiv:2104.09585 (2021)",
    "BlueBERT": "Peng, Yan and Lu, \"Transfer Learning in Biomedical Natural Language Processing: An "
                "Evaluation of BERT and ELMo on Ten Benchmarking Datasets\" (the BLUE paper), BioNLP 2019, "
                "https://aclanthology.org/W19-5006, arXiv:1906.05474; BlueBERT-Base pretrained on PubMed "
                "and MIMIC-III (P+M)",
}


@dataclasses.dataclass(frozen=True)
class Anchor:
    """One published figure. `task` is a task name (`evaluation.tasks.ALL_TASKS`) or, for a setup
    BLURB does not have, a name of its own with `shown_with` naming the BLURB tasks it belongs
    beside. `same_data` is False where the paper used its own copy of the data or its own metric
    rather than the files and scorer read here (BLURB's; for the clinical tasks, MedNLI as PhysioNet
    ships it and BLUE's preprocessed files)."""

    model: str
    task: str
    score: float
    source: str
    same_data: bool = True
    shown_with: tuple[str, ...] = ()
    note: str = ""


_PWC_PUBMEDBERT = "https://paperswithcode.com/paper/domain-specific-language-model-pretraining"
_PWC2_PUBMEDBERT = "https://paperswithcode2.com/paper/157841"
_PWC_ELECTRAMED = "https://www.paperswithcode.com/paper/electramed-a-new-pre-trained-language"
_ELECTRAMED_DATA = "fine-tuned on the paper's own data copies (github.com/gmpoli/electramed, data/)"
_BLUE_PAPER = "https://aclanthology.org/W19-5006"
_BLUE_NOTE = ("the BLUE paper's test results, BlueBERT-Base (P+M), BLUE's own files and metric; not re-read "
              "from the page when added")

ANCHORS: tuple[Anchor, ...] = (
    Anchor("PubMedBERT", "NCBI-disease", 87.82, "https://paperswithcode2.com/benchmark/54981"),
    Anchor("PubMedBERT", "BC2GM", 84.52, _PWC_PUBMEDBERT),
    Anchor("PubMedBERT", "EBM-PICO", 73.38,
           "https://sotaverified.org/tasks/participant-intervention-comparison-outcome-extraction"),
    Anchor("PubMedBERT", "ChemProt", 77.24, _PWC2_PUBMEDBERT),
    Anchor("PubMedBERT", "DDI", 82.36, _PWC2_PUBMEDBERT),
    Anchor("PubMedBERT", "GAD", 82.34, _PWC2_PUBMEDBERT),
    Anchor("PubMedBERT", "BIOSSES", 92.30, _PWC_PUBMEDBERT),
    Anchor("PubMedBERT", "HoC", 82.32, "https://beta.hyper.ai/en/papers/2007.15779"),
    Anchor("PubMedBERT", "PubMedQA", 55.84, _PWC2_PUBMEDBERT),
    Anchor("PubMedBERT", "BioASQ", 87.56, _PWC_PUBMEDBERT),
    Anchor("BioELECTRA", "BC5CDR-chem", 93.60,
           "https://bmcbioinformatics.biomedcentral.com/articles/10.1186/s12859-022-05051-9/"
           "tables/3", note="quoted in BioByGANS (BMC Bioinformatics 2022), Table 3"),
    Anchor("BioELECTRA", "PubMedQA", 64.20,
           "https://vercel.hyper.ai/en/papers/bioelectra-pretrained-biomedical-text-encoder",
           note="the paper's abstract rounds it to 64%"),
    Anchor("ELECTRAMed", "NCBI-disease", 87.54, _PWC_ELECTRAMED, same_data=False,
           note=_ELECTRAMED_DATA),
    Anchor("ELECTRAMed", "ChemProt", 72.94, _PWC_ELECTRAMED, same_data=False,
           note=_ELECTRAMED_DATA),
    Anchor("ELECTRAMed", "DDI", 79.13, _PWC_ELECTRAMED, same_data=False,
           note="micro F1 on the DDI Extraction 2013 corpus, " + _ELECTRAMED_DATA),
    Anchor("ELECTRAMed", "BC5CDR (chemicals and diseases in one model)", 90.03, _PWC_ELECTRAMED,
           same_data=False, shown_with=("BC5CDR-chem", "BC5CDR-disease"),
           note="one tagger for both entity types, BLURB scores each type as its own task"),
    # The clinical tasks. No page could be opened when these were added (the machine had no network): the
    # figures are those the project was asked to show and that agree with what we know of the two papers'
    # tables and abstract; each note says so. Check them against the page before relying on them.
    Anchor("BioELECTRA", "MedNLI", 86.34, "https://aclanthology.org/2021.bionlp-1.16",
           note="the paper's abstract (accuracy, MedNLI test); not re-read from the page when added"),
    Anchor("BlueBERT", "MedNLI", 84.0, _BLUE_PAPER, note=_BLUE_NOTE),
    Anchor("BlueBERT", "MedSTS", 84.8, _BLUE_PAPER, note=_BLUE_NOTE),
    Anchor("BlueBERT", "ShARe-CLEFE", 77.1, _BLUE_PAPER, note=_BLUE_NOTE),
    Anchor("BlueBERT", "i2b2-2010", 76.4, _BLUE_PAPER, note=_BLUE_NOTE),
)


def published(task: str) -> dict[str, Anchor]:
    """The published figures for one BLURB task, by model."""
    return {a.model: a for a in ANCHORS if a.task == task}


def other_setups(tasks: list[str]) -> list[Anchor]:
    """Figures on setups BLURB does not have that belong beside any of `tasks`."""
    return [a for a in ANCHORS if set(a.shown_with) & set(tasks)]


def as_json(tasks: list[str], models: tuple[str, ...] = MODELS) -> dict:
    """The figures of `models` for `tasks` (and their related setups) with sources, for blurb.json
    (blue.json: `BLUE_MODELS`)."""
    chosen = [a for a in ANCHORS if a.task in tasks and a.model in models] + [
        a for a in other_setups(tasks) if a.model in models]
    return {"split": "test", "citations": {m: CITATIONS[m] for m in models},
            "figures": [dataclasses.asdict(a) for a in chosen]}
