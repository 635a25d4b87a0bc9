"""BLURB readers on the real fixture files (tests/data/blurb); the scorers on hand-computed
cases; the published anchors beside our scores.

EBM-NLP (PICO) and BioASQ have no fixture copies: their tests write small synthetic files in the
exact layout and format of BLURB's data-generation output (`ebmnlp/{train,dev,test}.tsv`:
`-DOCSTART- (PMID)` lines and `word<TAB>I-PAR|I-INT|I-OUT|O`; `BioASQ/{train,dev,test}.tsv`:
`id<TAB>question<TAB>snippets<TAB>yes|no`, no header), the sentences made up for the test."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evaluation.layouts import read_split
from evaluation.readers import (parse_tokens, read_bioasq, read_biosses, read_hoc, read_iob, read_pico,
                                read_pubmedqa, read_relation)
from evaluation.tasks import ALL_TASKS, PICO, TASKS, DataError
from finetune import anchors, scoring
from finetune.training import markdown_table

BLURB = Path(__file__).parent / "data" / "blurb"


def read_iob_text(text: str, task) -> list:
    return parse_tokens(text, f"{task.name}/dev.tsv", task)


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


# Two abstracts as BLURB writes EBM-NLP: a `-DOCSTART- (PMID)` line and a blank line open each
# abstract; IO tags; the words are made up for the test.
EBMNLP = """-DOCSTART- (10000001)

Aspirin\tI-INT
for\tO
adults\tI-PAR
with\tI-PAR
migraine\tI-PAR
.\tI-PAR

Pain\tI-OUT
relief\tI-OUT
was\tO
measured\tO
.\tO

-DOCSTART- (10000002)

Exercise\tI-INT
lowered\tO
blood\tI-OUT
pressure\tI-OUT
.\tO
"""


def test_pico_reader_on_the_blurb_ebmnlp_layout(tmp_path):
    (tmp_path / "ner/ebmnlp").mkdir(parents=True)
    (tmp_path / "ner/ebmnlp/dev.tsv").write_text(EBMNLP)
    (tmp_path / "ner/ebmnlp/train.tsv").write_text(EBMNLP)  # dev's tags must occur in train
    sentences = read_split(TASKS["EBM-PICO"], str(tmp_path), "dev")
    assert [len(s.text_a) for s in sentences] == [6, 5, 5]  # -DOCSTART- lines are no words
    assert sentences[0].text_a[:3] == ["Aspirin", "for", "adults"]
    assert sentences[0].label[:3] == ["I-INT", "O", "I-PAR"]
    assert sentences[2].guid.endswith("dev.tsv:18") and sentences[2].label[-1] == "O"
    assert {tag for s in sentences for tag in s.label} == set(TASKS["EBM-PICO"].labels)


@pytest.mark.parametrize("line, reason", [
    ("Aspirin\tB-INT", "tag 'B-INT' is not an EBM-PICO tag: BLURB's PICO files are IO-tagged "
                       "(O, I-PAR, I-INT, I-OUT; no B- tags, which its scorer would not count) "
                       "(did you mean 'I-INT'?)"),
    ("Aspirin\tI-CMP", "tag 'I-CMP' is not an EBM-PICO tag: BLURB's PICO files are IO-tagged "
                       "(O, I-PAR, I-INT, I-OUT; no B- tags, which its scorer would not count) "
                       "(did you mean 'I-PAR'?)"),
    ("Aspirin I-INT", "expected 'word<TAB>O|I-PAR|I-INT|I-OUT', got 'Aspirin I-INT'"),  # no tab
    ("\tI-INT", "expected 'word<TAB>O|I-PAR|I-INT|I-OUT', got '\\tI-INT'"),  # no word
])
def test_pico_reader_names_a_malformed_line(tmp_path, line, reason):
    bad = tmp_path / "train.tsv"
    bad.write_text(f"-DOCSTART- (10000001)\n\nfor\tO\n{line}\n")
    with pytest.raises(DataError) as caught:
        read_pico(str(bad))
    assert str(caught.value) == f"{bad}:4: {reason}"


def test_bioasq_reader_on_the_blurb_layout(tmp_path):
    (tmp_path / "qa/BioASQ").mkdir(parents=True)
    (tmp_path / "qa/BioASQ/dev.tsv").write_text(
        "5313b049e3eabad021000013\tIs drug X used for disease Y?\tX treats Y in mice. "
        "Trials of X in Y are ongoing. \tyes\n"
        "553a8d78f321868558000003\tIs gene Z transcribed?\tZ has no promoter.\tno\n")
    examples = read_split(TASKS["BioASQ"], str(tmp_path), "dev")
    assert [e.label for e in examples] == ["yes", "no"]
    assert examples[0].guid == "5313b049e3eabad021000013"
    assert examples[0].text_a == "Is drug X used for disease Y?"
    assert examples[0].text_b == "X treats Y in mice. Trials of X in Y are ongoing."


def test_bioasq_reader_refuses_bad_rows(tmp_path):
    bad = tmp_path / "train.tsv"
    bad.write_text("a1\tIs it?\tIt is.\tyes\na2\tIs it?\tPerhaps.\tmaybe\n")
    with pytest.raises(DataError, match=r"train.tsv:2: label 'maybe' is not yes/no"):
        read_bioasq(str(bad))
    bad.write_text("a1\tIs it?\tyes\n")
    with pytest.raises(DataError, match=r"train.tsv:1: expected 4 tab-separated fields"):
        read_bioasq(str(bad))


def test_pico_f1_is_macro_word_level_over_the_pico_classes():
    gold = [["I-PAR", "I-PAR", "O", "I-INT"], ["I-OUT", "I-OUT", "O"]]
    predicted = [["I-PAR", "O", "O", "I-INT"], ["I-OUT", "I-INT", "I-OUT"]]
    # Per class, words: PAR tp 1 / predicted 1 / gold 2 -> F1 2/3; INT 1 / 2 / 1 -> 2/3;
    # OUT 1 / 2 / 2 -> 1/2. Macro: (2/3 + 2/3 + 1/2) / 3 = 11/18. "O" is no class: the two
    # correct O words add nothing (word accuracy would be 4/7).
    classes = ["I-PAR", "I-INT", "I-OUT"]
    assert scoring.pico_f1(gold, predicted, classes) == pytest.approx(11 / 18)
    assert scoring.score(TASKS["EBM-PICO"], gold, predicted, ["a", "b"]) == pytest.approx(11 / 18)
    # Macro over the fixed classes, as BLURB's scorer: a class absent from gold and prediction
    # counts 0, so a perfect tagging of PAR alone scores 1/3.
    assert scoring.pico_f1([["O", "I-PAR"]], [["O", "I-PAR"]], classes) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags, 1 predicted"):
        scoring.pico_f1([["O", "I-PAR"]], [["O"]], classes)


def test_bioasq_is_scored_by_accuracy_and_counts_as_question_answering():
    task = TASKS["BioASQ"]
    assert scoring.score(task, ["yes", "no", "yes", "yes"], ["yes", "yes", "yes", "no"],
                         ["q1", "q2", "q3", "q4"]) == 0.5
    assert scoring.metric_name(task) == "accuracy"
    assert scoring.metric_name(TASKS["EBM-PICO"]) == "macro word-level F1 (PICO classes)"
    assert scoring.metric_name(TASKS["NCBI-disease"]) == "entity-level F1 (seqeval)"
    assert scoring.metric_name(TASKS["GAD"]) == "micro F1, positive classes"
    types = {name: t.blurb_type for name, t in TASKS.items()}
    assert types["EBM-PICO"] == PICO and types["BioASQ"] == types["PubMedQA"]
    # NER 0.9, PICO 0.7, QA (0.8 + 0.4) / 2 = 0.6 -> (0.9 + 0.7 + 0.6) / 3.
    scores = {"BC5CDR-chem": 0.9, "EBM-PICO": 0.7, "BioASQ": 0.8, "PubMedQA": 0.4}
    assert scoring.blurb_score(scores, types) == pytest.approx(2.2 / 3)


def test_every_anchor_names_its_source_and_a_known_task():
    seen = set()
    for anchor in anchors.ANCHORS:
        assert anchor.model in anchors.CITATIONS and anchor.source.startswith("https://")
        assert anchor.task in ALL_TASKS or (anchor.shown_with and set(anchor.shown_with) <= set(TASKS))
        assert 0 < anchor.score <= 100 and (anchor.model, anchor.task) not in seen
        seen.add((anchor.model, anchor.task))


def _result(task: str, mean: float) -> dict:
    return {"task": task, "blurb_type": TASKS[task].blurb_type,
            "metric": scoring.metric_name(TASKS[task]), "mean": mean, "std": 0.0,
            "scores": [mean], "split": "dev", "train_examples": 80, "eval_examples": 40}


def test_the_table_shows_the_published_test_figures_beside_our_dev_scores():
    results = [_result("BC5CDR-chem", 0.5), _result("NCBI-disease", 0.25),
               _result("JNLPBA", 0.125)]
    table = markdown_table(results, 0.3)
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    assert "PubMedBERT (published, test) | BioELECTRA (published, test) | ELECTRAMed" in table
    # task | ... | ours | ... | PubMedBERT | BioELECTRA | ELECTRAMed (its own data copy: †)
    assert rows["NCBI-disease"].endswith("| 25.00 ± 0.00 | 1 | 80 / 40 | 87.82 | — | 87.54 † |")
    assert rows["BC5CDR-chem"].endswith("| 50.00 ± 0.00 | 1 | 80 / 40 | — | 93.60 | — |")
    assert rows["JNLPBA"].endswith("| — | — | — |")
    assert "**30.00**" in rows["**BLURB score** (macro over the task types above)"]
    assert "Our scores are on the **dev** split" in table
    assert "published figures are on the **test** split" in table
    assert ("Also published (ELECTRAMed, test): 90.03 on BC5CDR (chemicals and diseases in one "
            "model)") in table
    for model in anchors.MODELS:  # BLURB's models (BlueBERT's citation goes under blue.md)
        assert anchors.CITATIONS[model] in table


def _perturbed(tags: list[str], entity_type: str, seed: int) -> list[str]:
    """A prediction for a typed sentence: of its entities, every third dropped, every third kept and
    every third cut short (or, one word long, stretched onto the next word); some O words tagged B."""
    out = list(tags)
    starts = [i for i, tag in enumerate(tags) if tag.startswith("B-")]
    for k, start in enumerate(starts):
        end = start + 1
        while end < len(tags) and tags[end].startswith("I-"):
            end += 1
        if (k + seed) % 3 == 0:
            out[start:end] = ["O"] * (end - start)
        elif (k + seed) % 3 == 2:
            if end - start > 1:
                out[end - 1] = "O"
            elif end < len(tags) and tags[end] == "O":
                out[end] = f"I-{entity_type}"
    for i in range(seed % 7, len(out), 23):
        if out[i] == "O" and tags[i] == "O":
            out[i] = f"B-{entity_type}"
    return out


def test_entity_f1_is_the_same_on_typed_and_untyped_files():
    """The same real sentences and the same predictions, once typed (MTL's B-Chemical) and once as
    BLURB's scripts write them (B): identical entity F1, whatever seqeval makes of bare B/I tags."""
    from tests.blurb_data import untyped

    task = TASKS["BC5CDR-chem"]
    path = BLURB / "ner/BC5CDR-chem-IOB/devel.tsv"
    typed = read_iob(str(path), task)[:400]
    plain = read_iob_text(untyped(path.read_text()), task)[:400]
    assert [s.text_a for s in plain] == [s.text_a for s in typed]
    predicted = [_perturbed(s.label, "Chemical", n) for n, s in enumerate(typed)]
    ids = [s.guid for s in typed]
    typed_f1 = scoring.score(task, [s.label for s in typed], predicted, ids)
    untyped_f1 = scoring.score(task, [s.label for s in plain],
                               [[t[0] for t in p] for p in predicted], ids)
    assert 0.1 < typed_f1 < 0.9  # neither nothing nor everything right
    assert untyped_f1 == typed_f1
    for name in ("BC5CDR-disease", "NCBI-disease"):
        other = read_iob(str(BLURB / f"ner/{name}-IOB/devel.tsv"), TASKS[name])
        guess = [_perturbed(s.label, "Disease", n) for n, s in enumerate(other)]
        assert scoring.score(TASKS[name], [[t[0] for t in s.label] for s in other],
                             [[t[0] for t in p] for p in guess], []) == \
            scoring.score(TASKS[name], [s.label for s in other], guess, [])


def test_untyped_jnlpba_scores_spans_where_typed_scores_spans_and_types():
    """BLURB's JNLPBA files drop the five entity types: with the types predicted right both schemes
    agree; a wrong type costs the typed score only."""
    from tests.blurb_data import untyped

    task = TASKS["JNLPBA"]
    path = BLURB / "ner/JNLPBA/devel.tsv"
    typed = read_iob(str(path), task)
    plain = read_iob_text(untyped(path.read_text()), task)
    gold, gold_plain = [s.label for s in typed], [s.label for s in plain]
    assert scoring.score(task, gold, gold, []) == scoring.score(task, gold_plain, gold_plain, []) == 1.0
    wrong_type = [[t.replace("-DNA", "-protein") for t in s] for s in gold]
    assert scoring.score(task, gold_plain, [[t[0] for t in s] for s in wrong_type], []) == 1.0
    assert scoring.score(task, gold, wrong_type, []) < 1.0
    assert scoring.ner_f1([["B", "I", "O"]], [["B", "O", "O"]]) == 0.0
