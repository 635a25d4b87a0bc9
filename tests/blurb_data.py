"""A data directory laid out as BLURB's data-generation scripts write theirs (`data/<name>/...`), all 13
tasks, cut from the real fixtures in tests/data (see tests/data/PROVENANCE.md):

- tests/data/blurb_data/: files as BLURB's scripts wrote them (GAD with its header, BioASQ, EBM-NLP), cut;
- NER: BLURB's `preprocessor.py` writes each MTL-Bioinformatics-2016 line `word<TAB>tag` as `word<TAB>` and
  the tag's first character (`B-Chemical` -> `B`), other lines as they are; `untyped` does that to the real
  MTL lines here (no BLURB-written NER file was found in public repositories);
- ChemProt, DDI, HoC, BIOSSES: the fixtures (BLURB's output, via KeBioLM) split into train and dev;
- PubMedQA: real `ori_pqal.json` records written as PubMedQA's `split_dataset.py` writes its splits
  (`pqal_fold0/{train_set,dev_set}.json`, `test_set.json`; a JSON object, indent 4).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures import DATA

BLURB = DATA / "blurb"  # the task-type layout: MTL NER files, ChemProt, DDI, HoC, BIOSSES, PubMedQA
GENERATED = DATA / "blurb_data"  # BLURB's own data/ directory: GAD, BioASQ, EBM-NLP


def untyped(text: str) -> str:
    """MTL-format NER text as BLURB's data-generation script writes it: each tag cut to its first
    character (`B-Chemical` -> `B`); blank and `-DOCSTART-` lines as they are."""
    out = []
    for line in text.splitlines(keepends=True):
        if not line.split() or line.startswith("-DOCSTART-"):
            out.append(line)
        else:
            word, tag = line.rstrip("\n").split("\t")
            out.append(f"{word}\t{tag[0]}\n")
    return "".join(out)


def sentences(path: Path) -> list[str]:
    """The sentences of a `word<TAB>tag` file (each without its blank line)."""
    return [s for s in path.read_text(encoding="utf-8").split("\n\n") if s.strip()]


def _join(parts: list[str]) -> str:
    return "\n\n".join(parts) + "\n\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write_blurb_directory(root: Path) -> Path:
    """`root` laid out as BLURB's `data/` directory, every task with train and dev (and a few with
    test): small cuts of the real fixtures."""
    chem_train = sentences(BLURB / "ner/BC5CDR-chem-IOB/train.tsv")[:40]
    chem_dev = sentences(BLURB / "ner/BC5CDR-chem-IOB/devel.tsv")[:20]
    _write(root / "BC5CDR-chem/train.tsv", untyped(_join(chem_train)))
    _write(root / "BC5CDR-chem/dev.tsv", untyped(_join(chem_dev)))
    _write(root / "BC5CDR-chem/test.tsv", untyped(_join(chem_dev[:5])))
    for name in ("BC5CDR-disease", "NCBI-disease"):
        for split, source in (("train", "train"), ("dev", "devel")):
            text = (BLURB / f"ner/{name}-IOB/{source}.tsv").read_text(encoding="utf-8")
            _write(root / f"{name}/{split}.tsv", untyped(text))
    gm = sentences(BLURB / "ner/BC2GM-IOB/devel.tsv")
    _write(root / "BC2GM/train.tsv", untyped(_join(gm[:10])))
    _write(root / "BC2GM/dev.tsv", untyped(_join(gm[10:])))
    # JNLPBA: the abstract's -DOCSTART- line opens train; BLURB's folder also keeps the typed devel.tsv.
    jnlpba = sentences(BLURB / "ner/JNLPBA/devel.tsv")  # [-DOCSTART-, 7 sentences]
    _write(root / "JNLPBA/train.tsv", untyped(_join(jnlpba[:5])))
    _write(root / "JNLPBA/dev.tsv", untyped(_join(jnlpba[5:])))
    _write(root / "JNLPBA/devel.tsv", _join(jnlpba[5:]))
    # EBM-NLP: abstract 10052279 to train, 10037531 (its tags a subset) to dev.
    abstracts = (GENERATED / "ebmnlp/dev.tsv").read_text(encoding="utf-8").split("-DOCSTART- ")
    _write(root / "ebmnlp/train.tsv", "-DOCSTART- " + abstracts[2])
    _write(root / "ebmnlp/dev.tsv", "-DOCSTART- " + abstracts[1])
    chemprot = _rows(BLURB / "re/chemprot/dev.tsv")
    _write(root / "chemprot/train.tsv", "".join(chemprot[:200]))
    _write(root / "chemprot/dev.tsv", "".join(chemprot[200:]))
    ddi = _rows(BLURB / "re/DDI/dev.tsv")
    _write(root / "DDI/train.tsv", "".join(ddi[:200]))
    _write(root / "DDI/dev.tsv", "".join(ddi[200:300]))
    _write(root / "DDI/test.tsv", "".join(ddi[300:340]))
    # GAD as BLURB's preprocess_GAD_corpus writes it: a header, then the rows numbered from 0.
    header, *gad = _rows(GENERATED / "GAD/train.tsv")
    _write(root / "GAD/train.tsv", header + "".join(gad[:20]))
    _write(root / "GAD/dev.tsv", header + "".join(
        f"{number}\t{row.split(chr(9), 1)[1]}" for number, row in enumerate(gad[20:])))
    header, *hoc = _rows(BLURB / "classification/HoC/dev.tsv")
    _write(root / "HoC/train.tsv", header + "".join(hoc[:60]))
    _write(root / "HoC/dev.tsv", header + "".join(hoc[60:90]))
    for split in ("train", "dev"):
        _write(root / f"BIOSSES/{split}.tsv",
               (BLURB / f"similarity/BIOSSES/{split}.tsv").read_text(encoding="utf-8"))
        _write(root / f"BioASQ/{split}.tsv", (GENERATED / f"BioASQ/{split}.tsv").read_text(encoding="utf-8"))
    records = list(json.loads((BLURB / "qa/PubMedQA/ori_pqal.json").read_text(encoding="utf-8")).items())
    for name, part in (("pqal_fold0/train_set.json", records[:40]), ("pqal_fold0/dev_set.json", records[40:60]),
                       ("test_set.json", records[60:80])):
        _write(root / "pubmedqa" / name, json.dumps(dict(part), indent=4))
    return root
