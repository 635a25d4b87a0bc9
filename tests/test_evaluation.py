"""The evaluation package (the BLURB tasks, layouts and readers): plain Python (the corpus job, a Beam job,
will read benchmark files through it, and `pipelines/` must not pull in TensorFlow); each reader on real
lines of each format as BLURB's data-generation scripts write it (tests/data/PROVENANCE.md); both layouts."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from evaluation.files import FileAccess
from evaluation.layouts import BLURB as BLURB_LAYOUT
from evaluation.layouts import TASK_TYPES, find, locate, read_split
from evaluation.readers import (parse_tokens, read_bioasq, read_biosses, read_hoc, read_iob, read_pico,
                                read_pubmedqa, read_relation)
from evaluation.tasks import TASKS
from tests.blurb_data import BLURB, GENERATED, sentences, untyped, write_blurb_directory
from tests.fixtures import REPO

MODULES = ("evaluation", "evaluation.files", "evaluation.tasks", "evaluation.tags", "evaluation.readers",
           "evaluation.layouts")


def test_the_evaluation_package_imports_neither_tensorflow_nor_beam():
    script = (f"import importlib, json, sys\nfor name in {MODULES!r}:\n    importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('tensorflow', 'apache_beam', 'keras', 'tf_keras', 'finetune', 'pretrain', 'pipelines'))))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


# -- each reader on each format, on real lines (tests/data/PROVENANCE.md) ------------------------------------------


def test_typed_ner_files_as_mtl_bioinformatics_writes_them():
    """BC2GM (GENE), JNLPBA (five types, -DOCSTART-<TAB>O lines), NCBI-disease (Disease): typed tags."""
    gm = read_iob(str(BLURB / "ner/BC2GM-IOB/devel.tsv"), TASKS["BC2GM"])
    assert len(gm) == 14 and gm[0].text_a == ["Joys", "and", "F", "."]
    assert gm[6].label[gm[6].text_a.index("c"):][:3] == ["B-GENE", "I-GENE", "I-GENE"]
    jnlpba = read_iob(str(BLURB / "ner/JNLPBA/devel.tsv"), TASKS["JNLPBA"])
    assert [len(s.text_a) for s in jnlpba][:2] == [18, 25]  # the -DOCSTART- line is no sentence
    assert jnlpba[0].guid.endswith("devel.tsv:3")
    assert {t for s in jnlpba for t in s.label} == {
        "O", "B-DNA", "I-DNA", "B-cell_line", "I-cell_line", "B-protein", "I-protein", "B-cell_type"}
    ncbi = read_iob(str(BLURB / "ner/NCBI-disease-IOB/devel.tsv"), TASKS["NCBI-disease"])
    assert len(ncbi) == 60 and {t for s in ncbi for t in s.label} == {"O", "B-Disease", "I-Disease"}


def test_untyped_ner_files_as_blurb_writes_them():
    """BLURB's preprocessor keeps a tag's first character: the same sentences, B/I/O."""
    typed = read_iob(str(BLURB / "ner/BC5CDR-chem-IOB/devel.tsv"), TASKS["BC5CDR-chem"])[:200]
    path = BLURB / "ner/BC5CDR-chem-IOB/devel.tsv"
    text = untyped("\n\n".join(sentences(path)[:200]) + "\n\n")
    assert text.startswith("22\tB\n-\tI\noxacalcitriol\tI\nsuppresses\tO\n")
    plain = parse_tokens(text, "BC5CDR-chem/dev.tsv", TASKS["BC5CDR-chem"])
    assert [s.text_a for s in plain] == [s.text_a for s in typed]
    assert [s.label for s in plain] == [[t[0] for t in s.label] for s in typed]
    jnlpba = untyped((BLURB / "ner/JNLPBA/devel.tsv").read_text())
    assert jnlpba.startswith("-DOCSTART-\tO\n\nDisruption\tO\n")  # as BLURB's script leaves it
    assert len(parse_tokens(jnlpba, "JNLPBA/dev.tsv", TASKS["JNLPBA"])) == 7


def test_gad_with_the_header_blurb_writes():
    examples = read_relation(str(GENERATED / "GAD/train.tsv"), TASKS["GAD"].labels)
    assert len(examples) == 30 and [e.guid for e in examples[:3]] == ["0", "1", "2"]
    assert examples[0].text_a.startswith("this study proposes that A/A genotype")
    assert examples[0].label == "1" and examples[3].label == "0"
    assert Counter(e.label for e in examples) == {"1": 20, "0": 10}


def test_chemprot_and_ddi_without_a_header():
    chemprot = read_relation(str(BLURB / "re/chemprot/dev.tsv"), TASKS["ChemProt"].labels)
    assert len(chemprot) == 320 and chemprot[0].guid == "10064839.T56.T49"
    assert chemprot[0].text_a.startswith("Binding of dimemorfan to @GENE$")
    assert set(e.label for e in chemprot) == set(TASKS["ChemProt"].labels)
    ddi = read_relation(str(BLURB / "re/DDI/dev.tsv"), TASKS["DDI"].labels)
    assert ddi[0].guid.startswith("DDI-") and len(ddi) == 2496


def test_bioasq_as_blurb_writes_it():
    train = read_bioasq(str(GENERATED / "BioASQ/train.tsv"))
    assert [(e.guid, e.label) for e in train] == [("535d292a9a4572de6f000003", "yes"),
                                                   ("51406e6223fec90375000009", "no"),
                                                   ("54db1d580f63c58e6e000005", "yes")]
    assert train[1].text_a == "Does metformin interfere thyroxine absorption?"
    assert train[1].text_b.startswith("LT4 absorption is unchanged by concomitant metformin")
    dev = read_bioasq(str(GENERATED / "BioASQ/dev.tsv"))
    assert dev[1].text_b.startswith("spliceR: an R package") and dev[1].text_b.endswith("potential.")


def test_ebmnlp_as_blurb_writes_it():
    sentences_ = read_pico(str(GENERATED / "ebmnlp/dev.tsv"))
    assert len(sentences_) == 11  # the -DOCSTART- (PMID) lines are no sentence
    assert sentences_[0].text_a == ["Xylitol", "for", "prevention", "of", "acute", "otitis", "media", "."]
    assert sentences_[0].label[:2] == ["I-INT", "O"] and sentences_[0].guid.endswith("dev.tsv:3")
    assert {t for s in sentences_ for t in s.label} == {"O", "I-PAR", "I-INT", "I-OUT"}


def test_hoc_and_biosses_as_blurb_writes_them():
    assert len(read_hoc(str(BLURB / "classification/HoC/dev.tsv"))) == 1798
    assert len(read_biosses(str(BLURB / "similarity/BIOSSES/dev.tsv"))) == 16


def test_pubmedqa_as_blurb_leaves_it(tmp_path):
    root = write_blurb_directory(tmp_path)
    for split, count in (("train", 40), ("dev", 20), ("test", 20)):
        examples = read_split(TASKS["PubMedQA"], str(root), split)
        assert len(examples) == count and {e.label for e in examples} <= {"yes", "no", "maybe"}
    assert read_pubmedqa(str(root / "pubmedqa/pqal_fold0/train_set.json"))[0].guid == "21645374"


# -- layouts -------------------------------------------------------------------------------------------------------


def test_blurbs_own_directory_is_read_as_it_is(tmp_path):
    root = write_blurb_directory(tmp_path / "data")
    folders = {"ChemProt": "chemprot", "EBM-PICO": "ebmnlp", "PubMedQA": "pubmedqa"}
    for task in TASKS.values():
        located = locate(task, str(root))
        assert located.place.layout == BLURB_LAYOUT, task.name
        assert located.directory == f"{root}/{folders.get(task.name, task.name)}"
        train, dev = read_split(task, located, "train"), read_split(task, located, "dev")
        assert train and dev, task.name
        assert read_split(task, str(root), "dev") == dev
    chem = read_split(TASKS["BC5CDR-chem"], str(root), "dev")
    assert {t for s in chem for t in s.label} == {"B", "I", "O"}
    # JNLPBA's folder keeps BLURB's typed devel.tsv beside dev.tsv: dev.tsv (untyped) is read.
    assert {t for s in read_split(TASKS["JNLPBA"], str(root), "dev") for t in s.label} == {"B", "I", "O"}
    assert locate(TASKS["PubMedQA"], str(root)).path("test") == f"{root}/pubmedqa/test_set.json"
    assert len(read_split(TASKS["DDI"], str(root), "test")) == 40
    assert locate(TASKS["JNLPBA"], str(root)).describe() == (
        f"JNLPBA: {root}/JNLPBA (BLURB's data-generation layout: train.tsv, dev.tsv, test.tsv)")


def test_the_task_type_layout_is_still_read_and_layouts_are_told_apart_per_task(tmp_path, caplog):
    assert locate(TASKS["BC5CDR-chem"], str(BLURB)).place.layout == TASK_TYPES
    assert locate(TASKS["BC5CDR-chem"], str(BLURB)).path("dev") == f"{BLURB}/ner/BC5CDR-chem-IOB/devel.tsv"
    assert find(TASKS["GAD"], str(BLURB)) is None
    # One directory, some tasks in each layout: each is found where it is.
    root = write_blurb_directory(tmp_path / "data")
    shutil.copytree(BLURB / "ner/NCBI-disease-IOB", root / "ner/NCBI-disease-IOB")
    shutil.rmtree(root / "NCBI-disease")
    assert locate(TASKS["NCBI-disease"], str(root)).place.layout == TASK_TYPES
    assert "B-Disease" in {t for s in read_split(TASKS["NCBI-disease"], str(root), "dev") for t in s.label}
    assert locate(TASKS["BC2GM"], str(root)).place.layout == BLURB_LAYOUT
    # Both layouts for one task: BLURB's is read, and the log says so.
    shutil.copytree(BLURB / "ner/BC5CDR-chem-IOB", root / "ner/BC5CDR-chem-IOB")
    with caplog.at_level(logging.WARNING, logger="evaluation.layouts"):
        assert locate(TASKS["BC5CDR-chem"], str(root)).place.layout == BLURB_LAYOUT
    assert "BC5CDR-chem's train in both layouts; reading" in caplog.text


def test_a_missing_task_names_its_file_in_both_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        read_split(TASKS["GAD"], str(tmp_path), "train")
    assert str(missing.value) == (f"{tmp_path}/GAD/train.tsv does not exist (BLURB's data-generation "
                                  f"layout), nor does {tmp_path}/re/GAD/train.tsv (task-type folders)")


def test_readers_go_through_the_files_they_are_given():
    """A Files that is no local disk (here: a dict), as tf.io.gfile or Beam's FileSystems would be."""
    store = {"mem://d/GAD/train.tsv": (GENERATED / "GAD/train.tsv").read_bytes(),
             "mem://d/BC2GM/train.tsv": untyped((BLURB / "ner/BC2GM-IOB/devel.tsv").read_text()).encode(),
             "mem://d/BC2GM/dev.tsv": b"Joys\tO\nand\tB\n"}

    def read(path: str) -> bytes:
        if path not in store:
            raise FileNotFoundError(path)
        return store[path]

    files = FileAccess(read, store.__contains__)
    assert len(read_split(TASKS["GAD"], "mem://d", "train", files)) == 30
    assert [s.label for s in read_split(TASKS["BC2GM"], "mem://d", "dev", files)] == [["O", "B"]]
    with pytest.raises(FileNotFoundError, match="mem://d/BioASQ/train.tsv does not exist"):
        read_split(TASKS["BioASQ"], "mem://d", "train", files)
