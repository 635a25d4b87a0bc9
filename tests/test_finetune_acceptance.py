"""What the BLURB readers refuse, and what they accept on purpose (docs/finetune.md, "What the
readers refuse"): each case is a small file written here in the real format, with lines copied from
the fixtures in tests/data/blurb, and the exact one-line message it gives."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from evaluation.layouts import read_split
from evaluation.tasks import TASKS, DataError
from finetune import cli

BLURB = Path(__file__).parent / "data" / "blurb"
CHEM = TASKS["BC5CDR-chem"]

# The first sentence of BC5CDR-chem's train.tsv (cambridgeltl/MTL-Bioinformatics-2016), lines 1-21.
SENTENCE = (BLURB / "ner/BC5CDR-chem-IOB/train.tsv").read_text().split("\n\n")[0] + "\n"
SECOND = (BLURB / "ner/BC5CDR-chem-IOB/devel.tsv").read_text().split("\n\n")[0] + "\n"


def _ner(tmp_path: Path, train: str, dev: str | None = None, folder: str = "ner/BC5CDR-chem-IOB",
         dev_name: str = "devel.tsv") -> str:
    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / folder / "train.tsv").write_text(train)
    if dev is not None:
        (tmp_path / folder / dev_name).write_text(dev)
    return str(tmp_path)


def _error(task, data: str, split: str) -> str:
    with pytest.raises(DataError) as caught:
        read_split(task, data, split)
    return str(caught.value)


# -- NER tags ---------------------------------------------------------------------------------------


def test_a_tag_of_another_entity_type_is_refused(tmp_path):
    # "postural" is a disease word: B-Disease in BC5CDR-disease's copy of this sentence.
    data = _ner(tmp_path, SENTENCE.replace("postural\tO", "postural\tB-Disease"))
    assert _error(CHEM, data, "train") == (
        f"{data}/ner/BC5CDR-chem-IOB/train.tsv:4: tag 'B-Disease' is not a BC5CDR-chem tag (its "
        "entity type is Chemical) (did you mean 'B-Chemical'?)")


def test_a_misspelt_tag_names_the_closest_valid_one(tmp_path):
    data = _ner(tmp_path, SENTENCE.replace("Selegiline\tB-Chemical", "Selegiline\tI-Chemcial"))
    assert _error(CHEM, data, "train") == (
        f"{data}/ner/BC5CDR-chem-IOB/train.tsv:1: tag 'I-Chemcial' is not a BC5CDR-chem tag (its "
        "entity type is Chemical) (did you mean 'I-Chemical'?)")


def test_a_malformed_tag_is_refused(tmp_path):
    data = _ner(tmp_path, SENTENCE.replace("Selegiline\tB-Chemical", "Selegiline\tB_Chemical"))
    assert _error(CHEM, data, "train") == (
        f"{data}/ner/BC5CDR-chem-IOB/train.tsv:1: malformed tag 'B_Chemical': IOB tags are O, "
        "B-<type>, I-<type>, or untyped B, I (did you mean 'B-Chemical'?)")


def test_a_dev_tag_that_train_never_has_is_refused(tmp_path):
    # Training data with B-Chemical only: an I-Chemical in dev could never be predicted.
    data = _ner(tmp_path, SENTENCE, SECOND)
    train = f"{data}/ner/BC5CDR-chem-IOB/train.tsv"
    assert _error(CHEM, data, "dev") == (
        f"{data}/ner/BC5CDR-chem-IOB/devel.tsv:2: tag 'I-Chemical' never occurs in {train}, so "
        "the model cannot learn it (did you mean 'B-Chemical'?)")
    assert len(read_split(CHEM, data, "train")) == 1


def test_untyped_files_are_read_and_a_mixed_file_is_refused(tmp_path):
    """BLURB's own generated NER files are untyped (B, I, O); the MTL files typed."""
    untyped = SENTENCE.replace("B-Chemical", "B") + "\n" + SECOND.replace("-Chemical", "")
    data = _ner(tmp_path, untyped, SECOND.replace("-Chemical", ""))
    assert {t for e in read_split(CHEM, data, "dev") for t in e.label} == {"B", "I", "O"}
    mixed = untyped + "\n" + SECOND
    data = _ner(tmp_path / "mixed", mixed)
    assert _error(CHEM, data, "train") == (
        f"{data}/ner/BC5CDR-chem-IOB/train.tsv:41: tag 'B-Chemical' is typed but line 1 has "
        "'B': a file's tags are all typed (B-Chemical) or all untyped (B)")


def test_typed_dev_against_untyped_train_names_the_train_file(tmp_path):
    data = _ner(tmp_path, SENTENCE.replace("B-Chemical", "B"), SENTENCE)
    assert _error(CHEM, data, "dev") == (
        f"{data}/ner/BC5CDR-chem-IOB/devel.tsv:1: tag 'B-Chemical' never occurs in "
        f"{data}/ner/BC5CDR-chem-IOB/train.tsv, so the model cannot learn it (did you mean 'B'?)")


def test_jnlpba_types_and_docstart_lines(tmp_path):
    # JNLPBA's files (MTL-Bioinformatics-2016 data/JNLPBA/devel.tsv) open each abstract with
    # "-DOCSTART-<TAB>O"; five entity types.
    text = ("-DOCSTART-\tO\n\nDisruption\tO\nof\tO\nthe\tO\nhuman\tB-DNA\nSCL\tI-DNA\nlocus\tI-DNA\n\n"
            "A\tO\nfusion\tB-DNA\nin\tO\nthe\tO\nT\tB-cell_line\ncell\tI-cell_line\n\n")
    data = _ner(tmp_path, text, text, folder="ner/JNLPBA")
    sentences = read_split(TASKS["JNLPBA"], data, "dev")
    assert [len(s.text_a) for s in sentences] == [6, 6]
    data = _ner(tmp_path / "bad", text.replace("B-cell_line", "B-cell-line"), folder="ner/JNLPBA")
    assert _error(TASKS["JNLPBA"], data, "train") == (
        f"{data}/ner/JNLPBA/train.tsv:14: tag 'B-cell-line' is not a JNLPBA tag (its entity types "
        "are DNA, RNA, cell_line, cell_type, protein) (did you mean 'B-cell_line'?)")


# -- encodings, line ends, empty files -------------------------------------------------------------


def test_a_file_that_is_not_utf8_names_its_first_bad_line(tmp_path):
    (tmp_path / "ner/BC5CDR-chem-IOB").mkdir(parents=True)
    latin1 = SENTENCE.replace("postural", "postérieur").encode("latin-1")
    (tmp_path / "ner/BC5CDR-chem-IOB/train.tsv").write_bytes(latin1)
    assert _error(CHEM, str(tmp_path), "train") == (
        f"{tmp_path}/ner/BC5CDR-chem-IOB/train.tsv:4: not UTF-8 (byte 0xe9 at column 5); BLURB's "
        "files are UTF-8: convert the file (e.g. iconv -f LATIN1 -t UTF-8)")
    (tmp_path / "ner/BC5CDR-chem-IOB/train.tsv").write_bytes(SENTENCE.encode("utf-16"))
    assert _error(CHEM, str(tmp_path), "train") == (
        f"{tmp_path}/ner/BC5CDR-chem-IOB/train.tsv:1: the file is UTF-16 (it starts with a UTF-16 "
        "byte-order mark); BLURB's files are UTF-8: convert it (iconv -f UTF-16 -t UTF-8)")


def test_crlf_line_ends_and_a_utf8_bom_are_accepted(tmp_path):
    data = _ner(tmp_path, "")
    path = tmp_path / "ner/BC5CDR-chem-IOB/train.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + (SENTENCE + "\n" + SECOND).replace("\n", "\r\n").encode())
    sentences = read_split(CHEM, data, "train")
    assert sentences[0].text_a[0] == "Selegiline" and sentences[0].label[0] == "B-Chemical"
    assert all("\r" not in w for s in sentences for w in s.text_a + s.label)
    biosses = tmp_path / "similarity/BIOSSES"
    biosses.mkdir(parents=True)
    lines = (BLURB / "similarity/BIOSSES/train.tsv").read_text().splitlines()[:3]
    (biosses / "train.tsv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    pairs = read_split(TASKS["BIOSSES"], str(tmp_path), "train")
    assert [p.guid for p in pairs] == ["78", "45"] and pairs[0].label == 2.2


@pytest.mark.parametrize("content", ["", "\n\n", "pair_id\tsent1\tsent2\tscore\n"])
def test_a_split_without_examples_is_refused(tmp_path, content):
    (tmp_path / "similarity/BIOSSES").mkdir(parents=True)
    (tmp_path / "similarity/BIOSSES/dev.tsv").write_text(content)
    if content.startswith("pair_id"):
        assert _error(TASKS["BIOSSES"], str(tmp_path), "dev") == (
            f"{tmp_path}/similarity/BIOSSES/dev.tsv: holds no example")
    else:
        assert _error(TASKS["BIOSSES"], str(tmp_path), "dev") == (
            f"{tmp_path}/similarity/BIOSSES/dev.tsv:1: expected the header ('pair_id', 'sent1', "
            f"'sent2', 'score'), got ''")
    data = _ner(tmp_path, "")
    assert _error(CHEM, data, "train") == f"{data}/ner/BC5CDR-chem-IOB/train.tsv: holds no example"


# -- BIOSSES, HoC, BioASQ, relations -------------------------------------------------------------------


def _biosses(tmp_path: Path, edit) -> str:
    lines = (BLURB / "similarity/BIOSSES/train.tsv").read_text().splitlines()[:4]
    lines = edit(lines)
    (tmp_path / "similarity/BIOSSES").mkdir(parents=True, exist_ok=True)
    (tmp_path / "similarity/BIOSSES/train.tsv").write_text("\n".join(lines) + "\n")
    return str(tmp_path)


@pytest.mark.parametrize("score, reason", [
    ("high", "score 'high' is not a number"),
    ("nan", "score 'nan' is outside BIOSSES' scale 0-4"),
    ("4.5", "score '4.5' is outside BIOSSES' scale 0-4"),
])
def test_a_biosses_score_that_is_not_on_the_scale(tmp_path, score, reason):
    def edit(lines):
        fields = lines[2].split("\t")
        lines[2] = "\t".join(fields[:3] + [score])
        return lines
    data = _biosses(tmp_path, edit)
    assert _error(TASKS["BIOSSES"], data, "train") == (
        f"{data}/similarity/BIOSSES/train.tsv:3: {reason}")


def test_a_repeated_example_id_is_refused(tmp_path):
    data = _biosses(tmp_path, lambda lines: lines + [lines[1]])
    assert _error(TASKS["BIOSSES"], data, "train") == (
        f"{data}/similarity/BIOSSES/train.tsv:5: pair_id '78' already appears on line 2")

    hoc = tmp_path / "classification/HoC"
    hoc.mkdir(parents=True)
    lines = (BLURB / "classification/HoC/dev.tsv").read_text().splitlines()[:3]
    (hoc / "dev.tsv").write_text("\n".join(lines + [lines[2]]) + "\n")
    assert _error(TASKS["HoC"], str(tmp_path), "dev") == (
        f"{hoc}/dev.tsv:4: index '22355784_s1' already appears on line 3")

    bioasq = tmp_path / "qa/BioASQ"
    bioasq.mkdir(parents=True)
    row = "553a8d78f321868558000003\tAre ultraconserved elements often transcribed?\tThey are.\tyes"
    (bioasq / "dev.tsv").write_text(f"{row}\n{row}\n")
    assert _error(TASKS["BioASQ"], str(tmp_path), "dev") == (
        f"{bioasq}/dev.tsv:2: id '553a8d78f321868558000003' already appears on line 1")


@pytest.mark.parametrize("labels, index, reason", [
    ("0_0,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0,9_2", "22355784_s0",
     "bad labels '0_0,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0,9_2': expected each hallmark 0-9 once as "
     "<hallmark>_<0 or 1>, e.g. 0_0,1_0,2_0,..."),
    ("0_0,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0", "22355784_s0",
     "bad labels '0_0,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0': expected each hallmark 0-9 once as "
     "<hallmark>_<0 or 1>, e.g. 0_0,1_0,2_0,..."),
    ("0_0,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0,9_0", "22355784",
     "index '22355784' is not PMID_sN (sentence N of document PMID), which the document-level "
     "scorer reads"),
])
def test_hoc_labels_and_index_are_checked(tmp_path, labels, index, reason):
    hoc = tmp_path / "classification/HoC"
    hoc.mkdir(parents=True)
    sentence = "Electronic properties of DNA are believed to play a crucial role ."
    (hoc / "train.tsv").write_text(f"labels\tsentence\tindex\n{labels}\t{sentence}\t{index}\n")
    assert _error(TASKS["HoC"], str(tmp_path), "train") == f"{hoc}/train.tsv:2: {reason}"


def test_a_missing_label_column_names_the_line(tmp_path):
    hoc = tmp_path / "classification/HoC"
    hoc.mkdir(parents=True)
    lines = (BLURB / "classification/HoC/dev.tsv").read_text().splitlines()[:3]
    lines[2] = lines[2].split("\t", 1)[1]  # the labels column dropped
    (hoc / "dev.tsv").write_text("\n".join(lines) + "\n")
    assert _error(TASKS["HoC"], str(tmp_path), "dev") == (
        f"{hoc}/dev.tsv:3: expected 3 tab-separated fields (labels, sentence, index), got 2")


def test_chemprot_as_blue_writes_it_header_and_repeated_pairs(tmp_path):
    """BLUE's create_chemprot_bert.py (which BLURB's ChemProt comes from) writes the header
    `index sentence label` and a chemical-gene pair once per relation it has."""
    chemprot = tmp_path / "re/chemprot"
    chemprot.mkdir(parents=True)
    sentence = "@CHEMICAL$ is a potent inhibitor of @GENE$ and an agonist of it."
    (chemprot / "train.tsv").write_text(
        "index\tsentence\tlabel\n"
        f"16357751.T1.T2\t{sentence}\tCPR:4\n16357751.T1.T2\t{sentence}\tCPR:3\n")
    examples = read_split(TASKS["ChemProt"], str(tmp_path), "train")
    assert [(e.guid, e.label) for e in examples] == [("16357751.T1.T2", "CPR:4"),
                                                     ("16357751.T1.T2", "CPR:3")]
    (chemprot / "dev.tsv").write_text(f"16357751.T1.T2\t{sentence}\tCPR-4\n")
    assert _error(TASKS["ChemProt"], str(tmp_path), "dev") == (
        f"{chemprot}/dev.tsv:1: unknown label 'CPR-4' (expected one of false, CPR:3, CPR:4, "
        "CPR:5, CPR:6, CPR:9) (did you mean 'CPR:4'?)")


# -- PubMedQA JSON ----------------------------------------------------------------------------------


RECORD = json.loads((BLURB / "qa/PubMedQA/ori_pqal.json").read_text())["21645374"]


@pytest.mark.parametrize("text, reason", [
    (json.dumps([RECORD]), "expected PubMedQA's JSON object {PMID: record}, got a JSON array"),
    ('{"21645374": ' + json.dumps(RECORD) + ',\n"21645374": ' + json.dumps(RECORD) + "}",
     "key '21645374' appears twice in one object (a JSON reader would keep the last silently)"),
    (json.dumps({"21645374": "yes"}), "record 21645374 is a JSON string, not an object"),
    (json.dumps({"21645374": {**RECORD, "CONTEXTS": "one context"}}),
     'record 21645374: CONTEXTS must be a list of strings, got "one context"'),
    (json.dumps({"21645374": {k: v for k, v in RECORD.items() if k != "final_decision"}}),
     "record 21645374 lacks final_decision"),
])
def test_pubmedqa_json_that_is_not_the_schema(tmp_path, text, reason):
    (tmp_path / "qa/PubMedQA").mkdir(parents=True)
    (tmp_path / "qa/PubMedQA/dev.json").write_text(text)
    assert _error(TASKS["PubMedQA"], str(tmp_path), "dev") == (
        f"{tmp_path}/qa/PubMedQA/dev.json: {reason}")


def test_pubmedqa_json_syntax_error_names_the_line(tmp_path):
    (tmp_path / "qa/PubMedQA").mkdir(parents=True)
    (tmp_path / "qa/PubMedQA/dev.json").write_text('{\n"21645374": {"QUESTION": "Q?",}\n}\n')
    assert _error(TASKS["PubMedQA"], str(tmp_path), "dev") == (
        f"{tmp_path}/qa/PubMedQA/dev.json:2: not valid JSON: Expecting property name enclosed in "
        "double quotes (column 31)")


# -- through the CLI: one line, exit status 2 -------------------------------------------------------------


def test_the_cli_reports_a_bad_tag_as_one_line_with_status_2(tmp_path, caplog):
    data = _ner(tmp_path, SENTENCE + "\n" + SECOND, SECOND.replace("I-Chemical", "I-Chemcial"))
    with caplog.at_level(logging.ERROR, logger="finetune"):
        status = cli.main(["run", "--task", "BC5CDR-chem", "--data", data, "--checkpoint",
                           str(tmp_path / "no-model"), "--output", str(tmp_path / "out")])
    assert status == 2
    assert [r.getMessage() for r in caplog.records if r.name == "finetune"] == [
        f"{data}/ner/BC5CDR-chem-IOB/devel.tsv:2: tag 'I-Chemcial' is not a BC5CDR-chem tag (its "
        "entity type is Chemical) (did you mean 'I-Chemical'?)"]


def test_the_cli_refuses_a_vocabulary_without_cls_from_a_hf_directory(tmp_path, caplog):
    data = _ner(tmp_path, SENTENCE + "\n" + SECOND, SECOND)
    model = tmp_path / "hf-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "electra", "vocab_size": 6}))
    (model / "vocab.txt").write_text("[PAD]\n[UNK]\n[SEP]\n[MASK]\nthe\n##s\n")
    with caplog.at_level(logging.ERROR, logger="finetune"):
        status = cli.main(["run", "--task", "BC5CDR-chem", "--data", data, "--checkpoint",
                           str(model), "--output", str(tmp_path / "out")])
    assert status == 2
    assert [r.getMessage() for r in caplog.records if r.name == "finetune"] == [
        f"{model}/vocab.txt: special tokens ['[CLS]'] are missing"]


@pytest.mark.parametrize("flag, value, message", [
    ("--epochs", "0", "argument --epochs: must be a positive number, got 0"),
    ("--max-train-examples", "0", "argument --max-train-examples: must be at least 1, got 0"),
    ("--trials", "two", "argument --trials: expected a positive integer, got 'two'"),
])
def test_the_cli_refuses_values_that_would_silently_become_defaults(tmp_path, capsys, flag,
                                                                    value, message):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--task", "BC5CDR-chem", "--data", str(tmp_path), "--checkpoint",
                  str(tmp_path), "--output", str(tmp_path / "out"), flag, value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m finetune run: error: {message}"


def test_the_cli_refuses_a_config_json_that_is_not_json(tmp_path, caplog):
    data = _ner(tmp_path, SENTENCE + "\n" + SECOND, SECOND)
    model = tmp_path / "hf-model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "electra",\n "vocab_size": 7,}\n')
    (model / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n")
    with caplog.at_level(logging.ERROR, logger="finetune"):
        status = cli.main(["run", "--task", "BC5CDR-chem", "--data", data, "--checkpoint",
                           str(model), "--output", str(tmp_path / "out")])
    assert status == 2
    assert [r.getMessage() for r in caplog.records if r.name == "finetune"] == [
        f"{model}/config.json:2: not valid JSON: Expecting property name enclosed in double quotes "
        "(column 18)"]


def test_the_cli_takes_its_defaults_from_options():
    """One place for the fine-tuning defaults: the flags left out give exactly `Options()`."""
    from finetune.training import Options

    for command in (["run", "--task", "DDI"], ["blurb"]):
        args = cli._parser().parse_args([*command, "--data", "D", "--checkpoint", "C", "--output", "O"])
        assert cli._options(args) == Options()
        assert (args.layerwise_decay, args.eval_split) == (Options.layerwise_decay, Options.eval_split)
