"""The tasks: what each one is (its type, head, labels, entity types), the fine-tuning defaults, and the
errors the readers raise. `TASKS` are BLURB's 13; `CLINICAL_TASKS` the clinical tasks behind a data-use
agreement (MedNLI, its BioNLP 2019 MEDIQA test, and BLUE's MedSTS, ShARe/CLEFE and i2b2 2010); `BLUE` names
BLUE's ten in its paper's order (its public five are BLURB's tasks). Where a task's files are is
`evaluation.layouts`; how they are read, `evaluation.readers`."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Sequence, Union

Label = Union[str, float, tuple[int, ...], list[str]]

# BLURB's task types: the BLURB score is the mean over these of the mean over their tasks.
NER, PICO, RE, SIMILARITY, CLASSIFICATION, QA = (
    "named entity recognition", "PICO extraction", "relation extraction",
    "sentence similarity", "document classification", "question answering")
INFERENCE = "natural language inference"

HOC_LABELS = 10
# EBM-NLP as BLURB ships it: IO tags (no B-), one per word; "O" is outside any PICO span.
PICO_TAGS = ("O", "I-PAR", "I-INT", "I-OUT")


class DataError(ValueError):
    """A task file that does not have the expected format (the message names file and line)."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One input: `text_a` is a list of words for NER, a string otherwise; `text_b` the second
    segment (BIOSSES' second sentence, PubMedQA's contexts); `label` the gold answer."""

    guid: str
    text_a: str | list[str]
    label: Label
    text_b: str | None = None


@dataclasses.dataclass(frozen=True)
class Task:
    """A BLURB dataset. `head` picks the model output: `token` (one tag per word), `sequence`
    (softmax over `labels`), `regression`, `multilabel`; `reader` names its file format
    (`evaluation.readers.READERS`). The defaults are the recipe's (see docs/finetune.md for where
    each comes from)."""

    name: str
    blurb_type: str
    head: str
    reader: str
    labels: tuple[str, ...] = ()
    negative_labels: tuple[str, ...] = ()
    entity_markers: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()  # NER: the types a typed tag (B-Chemical) may name
    epochs: float = 3.0
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_seq_length: int = 128
    # Where the data comes from, for the error a missing or unreadable file gives (data behind a data-use
    # agreement cannot be shipped); empty for BLURB's tasks (its data-generation scripts fetch them).
    source: str = ""
    benchmark: str = "BLURB"
    score_scale: tuple[float, float] | None = None  # regression: the annotators' scale


def _ner(name: str, *entity_types: str) -> Task:
    return Task(name, NER, "token", "iob", entity_types=entity_types, epochs=20.0,
                learning_rate=1e-4)


TASKS: dict[str, Task] = {task.name: task for task in [
    # The entity types of the typed tags in cambridgeltl/MTL-Bioinformatics-2016's files.
    _ner("BC5CDR-chem", "Chemical"),
    _ner("BC5CDR-disease", "Disease"),
    _ner("NCBI-disease", "Disease"),
    _ner("BC2GM", "GENE"),
    _ner("JNLPBA", "DNA", "RNA", "cell_line", "cell_type", "protein"),
    Task("ChemProt", RE, "sequence", "relation",
         labels=("false", "CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9"), negative_labels=("false",),
         entity_markers=("@CHEMICAL$", "@GENE$", "@CHEM-GENE$"), epochs=10.0),
    Task("DDI", RE, "sequence", "relation",
         labels=("DDI-false", "DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism"),
         negative_labels=("DDI-false",), entity_markers=("@DRUG$", "@DRUG-DRUG$"), epochs=10.0),
    Task("GAD", RE, "sequence", "relation", labels=("0", "1"), negative_labels=("0",),
         entity_markers=("@GENE$", "@DISEASE$"), epochs=10.0),
    Task("BIOSSES", SIMILARITY, "regression", "biosses", epochs=30.0, batch_size=16,
         score_scale=(0.0, 4.0)),
    Task("HoC", CLASSIFICATION, "multilabel", "hoc",
         labels=tuple(str(i) for i in range(HOC_LABELS)), epochs=10.0),
    Task("EBM-PICO", PICO, "token", "pico", labels=PICO_TAGS, negative_labels=("O",), epochs=20.0,
         learning_rate=1e-4),
    Task("PubMedQA", QA, "sequence", "pubmedqa", labels=("yes", "no", "maybe"), epochs=10.0,
         batch_size=16, max_seq_length=512),
    Task("BioASQ", QA, "sequence", "bioasq", labels=("yes", "no"), epochs=10.0, batch_size=16,
         max_seq_length=512),
]}


# -- the clinical tasks (MIMIC-derived or clinical notes; each needs a data-use agreement) ------------------------

MEDNLI_LABELS = ("contradiction", "entailment", "neutral")
# BLUE's i2b2 2010 relations (treatment-problem TrIP TrWP TrCP TrAP TrNAP, test-problem TeRP TeCP,
# problem-problem PIP) and its negative class.
I2B2_LABELS = ("false", "PIP", "TeCP", "TeRP", "TrAP", "TrCP", "TrIP", "TrNAP", "TrWP")

MEDNLI_SOURCE = ("MedNLI comes from PhysioNet, https://physionet.org/content/mednli/1.0.0/ (credentialed "
                 "access and its data-use agreement): unzip it so that mli_train_v1.jsonl, mli_dev_v1.jsonl "
                 "and mli_test_v1.jsonl lie in DATA/mednli/")
MEDIQA_SOURCE = ("the MEDIQA 2019 NLI test comes from PhysioNet, https://physionet.org/content/mednli-bionlp19/ "
                 "(credentialed access): put mednli_bionlp_shared_task.jsonl and "
                 "mednli_bionlp_shared_task_ground_truth.csv (pair_id,label) beside MedNLI's "
                 "mli_train_v1.jsonl and mli_dev_v1.jsonl in DATA/mednli/")
_BLUE_CONVERT = ("then BLUE's preprocessing (github.com/ncbi-nlp/BLUE_Benchmark) writes")
MEDSTS_SOURCE = ("MedSTS comes from its authors at Mayo Clinic under a data-use agreement (Wang et al. 2018; "
                 f"BLUE_Benchmark's README says how to ask for it); {_BLUE_CONVERT} DATA/MedSTS/"
                 "{train,dev,test}.tsv with the header index<TAB>sentence1<TAB>sentence2<TAB>score")
CLEFE_SOURCE = ("ShARe/CLEFE comes from PhysioNet, https://physionet.org/content/shareclefehealth2013/1.0/ "
                f"(credentialed access); {_BLUE_CONVERT} DATA/clefe/{{Training,Development,Test}}.tsv, "
                "word<TAB>file<TAB>offset<TAB>B|I|O, a blank line between sentences")
I2B2_SOURCE = ("i2b2 2010 comes from the n2c2 data portal, https://portal.dbmi.hms.harvard.edu/ (a data-use "
               f"agreement); {_BLUE_CONVERT} DATA/i2b2-2010/{{train,dev,test}}.tsv, "
               "index<TAB>sentence with @problem$ @treatment$ @test$<TAB>label")

CLINICAL_TASKS: dict[str, Task] = {task.name: task for task in [
    Task("MedNLI", INFERENCE, "sequence", "mednli", labels=MEDNLI_LABELS, epochs=3.0,
         source=MEDNLI_SOURCE, benchmark="BLUE"),
    # The BioNLP 2019 MEDIQA shared task's NLI test (its own pairs, labels in a CSV); trained on MedNLI train, dev.
    Task("MEDIQA-NLI", INFERENCE, "sequence", "mednli", labels=MEDNLI_LABELS, epochs=3.0,
         source=MEDIQA_SOURCE, benchmark="MEDIQA 2019"),
    Task("MedSTS", SIMILARITY, "regression", "medsts", epochs=10.0, batch_size=16,
         source=MEDSTS_SOURCE, benchmark="BLUE", score_scale=(0.0, 5.0)),
    Task("ShARe-CLEFE", NER, "token", "blue_ner", entity_types=("Disorder",), epochs=20.0,
         source=CLEFE_SOURCE, benchmark="BLUE"),
    Task("i2b2-2010", RE, "sequence", "relation", labels=I2B2_LABELS, negative_labels=("false",),
         entity_markers=("@problem$", "@treatment$", "@test$"), epochs=10.0, source=I2B2_SOURCE,
         benchmark="BLUE"),
]}

# BLUE's ten tasks in its paper's order (Peng et al. 2019); the public five are read as BLURB's tasks.
BLUE = ("MedSTS", "BIOSSES", "BC5CDR-disease", "BC5CDR-chem", "ShARe-CLEFE", "DDI", "ChemProt", "i2b2-2010",
        "HoC", "MedNLI")

# Where BLUE's public tasks, read here as BLURB's tasks from BLURB's files, differ from BLUE's own (its
# preprocessed data and evaluation scripts), as far as we know; `python -m finetune blue` prints these under
# its table. Sizes are the BLUE paper's Table 1 and BLURB's (Gu et al.) table.
BLUE_DIFFERENCES = {
    "BIOSSES": "the same 64/16/20 train/dev/test pair counts and Pearson in both; BLUE's TSV has the columns "
               "index, sentence1, sentence2, score (BLURB's: pair_id, sent1, sent2, score); that the pairs "
               "in each split are the same was not checked",
    "BC5CDR-disease": "the same corpus and official train/dev/test split, entity-level F1 in both; BLUE's files "
                      "are word<TAB>file<TAB>offset<TAB>tag (BLURB's: word<TAB>tag); BlueBERT's recipe trains "
                      "NER on train + dev",
    "BC5CDR-chem": "the same corpus and official train/dev/test split, entity-level F1 in both; BLUE's files "
                   "are word<TAB>file<TAB>offset<TAB>tag (BLURB's: word<TAB>tag); BlueBERT's recipe trains "
                   "NER on train + dev",
    "DDI": "micro F1 over the four positive types in both; BLUE counts 2,937/1,004/979 relation instances, "
           "BLURB's files hold 25,296/2,496/5,716 pairs with the negative ones: whether the splits match was "
           "not checked",
    "ChemProt": "the same labels (CPR:3, 4, 5, 6, 9 and false) and micro F1 over the positive ones; BLURB's "
                "ChemProt files come from BLUE's converter",
    "HoC": "different metric and split: BLUE reports example-based F1 per abstract (1,108/157/315 "
           "abstracts), BLURB micro F1 over abstract x hallmark (its own split): the scores do not compare",
}

ALL_TASKS: dict[str, Task] = {**TASKS, **CLINICAL_TASKS}
assert set(BLUE_DIFFERENCES) == set(BLUE) - set(CLINICAL_TASKS)
assert set(BLUE) <= set(ALL_TASKS)


def get_task(name: str) -> Task:
    if name not in ALL_TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(ALL_TASKS)}")
    return ALL_TASKS[name]


def did_you_mean(value: str, valid: Sequence[str]) -> str:
    """` (did you mean 'X'?)` with the closest of `valid`, or nothing when `valid` is empty."""
    match = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.0)
    return f" (did you mean {match[0]!r}?)" if match else ""
