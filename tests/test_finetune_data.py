"""BLURB readers on the real fixture files (tests/data/blurb); the scorers on hand-computed
cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from finetune import scoring
from finetune.tasks import (TASKS, DataError, read_biosses, read_hoc, read_iob, read_pubmedqa,
                            read_relation, read_split)

BLURB = Path(__file__).parent / "data" / "blurb"


def test_iob_reader_on_bc5cdr_chem():
    sentences = read_iob(str(BLURB / "ner/BC5CDR-chem-IOB/devel.tsv"))
    assert len(sentences) == 4581
    assert sum(tag == "B-Chemical" for s in sentences for tag in s.label) == 5347
    first = sentences[0]
    assert first.text_a[:4] == ["22", "-", "oxacalcitriol", "suppresses"]
    assert first.label[:4] == ["B-Chemical", "I-Chemical", "I-Chemical", "O"]
    assert all(len(s.text_a) == len(s.label) for s in sentences)


def test_iob_reader_names_a_malformed_line(tmp_path):
    bad = tmp_path / "train.tsv"
    bad.write_text("aspirin\tB-Chemical\ninduced O\n")
    with pytest.raises(DataError, match=r"train.tsv:2"):
        read_iob(str(bad))


def test_relation_reader_on_ddi():
    examples = read_relation(str(BLURB / "re/DDI/dev.tsv"), TASKS["DDI"].labels)
    assert len(examples) == 2496
    assert Counter(e.label for e in examples) == {
        "DDI-false": 2027, "DDI-effect": 201, "DDI-mechanism": 156, "DDI-advise": 101,
        "DDI-int": 11}
    eighth = examples[7]
    assert eighth.guid == "DDI-MedLine.d119.s15.p0" and eighth.label == "DDI-mechanism"
    assert eighth.text_a.startswith("@DRUG$, an anionic-binding resin")


def test_relation_reader_refuses_an_unknown_label(tmp_path):
    bad = tmp_path / "dev.tsv"
    bad.write_text("a.1\t@CHEMICAL$ binds @GENE$.\tCPR:7\n")
    with pytest.raises(DataError, match="CPR:7"):
        read_relation(str(bad), TASKS["ChemProt"].labels)


def test_hoc_reader():
    sentences = read_hoc(str(BLURB / "classification/HoC/dev.tsv"))
    assert len(sentences) == 1798
    assert len({s.guid.split("_")[0] for s in sentences}) == 186
    assert sentences[0].guid == "22355784_s0" and sentences[0].label == (0,) * 10
    assert sentences[2].label == (0, 0, 0, 0, 0, 1, 0, 0, 0, 0)


def test_biosses_reader():
    train = read_biosses(str(BLURB / "similarity/BIOSSES/train.tsv"))
    dev = read_biosses(str(BLURB / "similarity/BIOSSES/dev.tsv"))
    assert (len(train), len(dev)) == (64, 16)
    assert train[0].guid == "78" and train[0].label == 2.2
    assert train[0].text_b.startswith("Not surprisingly, GATA2 knockdown")
    assert all(0.0 <= e.label <= 4.0 for e in train + dev)


def test_pubmedqa_reader(tmp_path):
    examples = read_pubmedqa(str(BLURB / "qa/PubMedQA/ori_pqal.json"))
    assert len(examples) == 1000
    assert Counter(e.label for e in examples) == {"yes": 552, "no": 338, "maybe": 110}
    assert examples[0].guid == "21645374" and examples[0].label == "yes"
    assert examples[0].text_a.startswith("Do mitochondria play a role")
    assert examples[0].text_b.startswith("Programmed cell death (PCD)")
    # The task reads BLURB's split files (same schema), here one record long.
    records = json.loads((BLURB / "qa/PubMedQA/ori_pqal.json").read_text())
    (tmp_path / "qa/PubMedQA").mkdir(parents=True)
    (tmp_path / "qa/PubMedQA/dev.json").write_text(json.dumps({"21645374": records["21645374"]}))
    assert read_split(TASKS["PubMedQA"], str(tmp_path), "dev")[0].label == "yes"


def test_missing_split_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="chemprot/train.tsv"):
        read_split(TASKS["ChemProt"], str(tmp_path), "train")


def test_ner_f1_is_entity_level():
    gold = [["B-Chemical", "I-Chemical", "O", "B-Chemical"], ["O", "B-Chemical"]]
    # one exact hit, a truncated span (wrong: entity level) and an entity one word off.
    predicted = [["B-Chemical", "O", "O", "B-Chemical"], ["B-Chemical", "O"]]
    # gold entities 3, predicted 3, correct 1 -> P = R = F1 = 1/3 (token level would be 4/6).
    assert scoring.ner_f1(gold, predicted) == pytest.approx(1 / 3)
    assert scoring.ner_f1(gold, gold) == 1.0


def test_relation_f1_excludes_the_negative_class():
    gold = ["false", "CPR:3", "CPR:4", "false", "CPR:4"]
    predicted = ["false", "CPR:3", "false", "CPR:4", "CPR:9"]
    # positive predictions 3 (CPR:3 hit, CPR:4 false alarm, CPR:9 wrong); positive gold 3;
    # hits 1 -> P = R = F1 = 1/3. Counting "false" as a class would give accuracy-like 2/5.
    assert scoring.relation_f1(gold, predicted, ["false"]) == pytest.approx(1 / 3)
    assert scoring.relation_f1(["DDI-false"] * 3, ["DDI-false"] * 3, ["DDI-false"]) == 0.0


def test_hoc_f1_aggregates_per_document():
    ids = ["1_s0", "1_s1", "2_s0", "2_s1"]
    gold = [(1, 0, 0), (0, 1, 0), (0, 0, 0), (0, 0, 1)]
    # Document 1's labels {0, 1} found on the other sentences: per sentence that is all wrong,
    # per document both are hits. Document 2: gold {2}, predicted {0, 2}.
    predicted = [(0, 1, 0), (1, 0, 0), (1, 0, 0), (0, 0, 1)]
    # documents: tp 3, predicted 4, gold 3 -> P 3/4, R 1, F1 6/7.
    assert scoring.hoc_f1(gold, predicted, ids) == pytest.approx(6 / 7)


def test_pearson_accuracy_and_the_blurb_score():
    assert scoring.pearson([0.0, 1.0, 2.0, 4.0], [1.0, 2.0, 3.0, 5.0]) == pytest.approx(1.0)
    assert scoring.pearson([0.0, 1.0, 2.0], [1.0, 1.0, 1.0]) == 0.0
    assert scoring.accuracy(["yes", "no", "maybe", "yes"], ["yes", "no", "no", "no"]) == 0.5
    types = {name: task.blurb_type for name, task in TASKS.items()}
    # NER mean (0.9 + 0.7) / 2 = 0.8, RE 0.6, QA 0.4 -> (0.8 + 0.6 + 0.4) / 3.
    scores = {"BC5CDR-chem": 0.9, "NCBI-disease": 0.7, "DDI": 0.6, "PubMedQA": 0.4}
    assert scoring.blurb_score(scores, types) == pytest.approx(0.6)
