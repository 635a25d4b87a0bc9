"""The clinical tasks (MedNLI, the MEDIQA 2019 NLI test, BLUE's MedSTS, ShARe/CLEFE and i2b2 2010): readers,
layouts and scorers on small files written here in the exact distributed formats (tests/clinical_data.py;
the data itself is behind data-use agreements), the errors a missing, restricted or malformed file gives, and
`python -m finetune blue`'s table without a model. Fine-tuning on them end to end: tests/test_finetune_train.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from evaluation.files import FileAccess
from evaluation.layouts import BLUE_DATA, MEDIQA, MEDNLI_ZIP_FOLDER, PHYSIONET, locate, read_split
from evaluation.readers import read_blue_ner, read_ground_truth, read_mednli, read_medsts
from evaluation.tasks import ALL_TASKS, BLUE, BLUE_DIFFERENCES, CLINICAL_TASKS, TASKS, DataError
from finetune import anchors, blue, cli, scoring
from tests.clinical_data import (MEDIQA_TEST, SIZES, mednli_line, nli_pairs, write_clinical_directory)

MEDNLI, MEDIQA_NLI = ALL_TASKS["MedNLI"], ALL_TASKS["MEDIQA-NLI"]
MEDSTS, CLEFE, I2B2 = ALL_TASKS["MedSTS"], ALL_TASKS["ShARe-CLEFE"], ALL_TASKS["i2b2-2010"]


@pytest.fixture
def data(tmp_path) -> Path:
    return write_clinical_directory(tmp_path / "data")


def _error(task, data: Path | str, split: str, kind=DataError) -> str:
    with pytest.raises(kind) as caught:
        read_split(task, str(data), split)
    message = str(caught.value)
    assert "\n" not in message  # one line
    return message


# -- the readers on each distributed format ---------------------------------------------------------------------


def test_mednli_as_physionet_ships_it(data):
    train = read_split(MEDNLI, str(data), "train")
    assert len(train) == SIZES["train"][1]
    first = train[0]
    assert first.guid == "00000000-66c7-11e7-a8dc-f45c89b91419"  # pairID
    assert first.text_a == "The patient was admitted with pneumonia and started on metoprolol."  # sentence1
    assert first.text_b == "The patient has pneumonia."  # sentence2
    assert [e.label for e in train[:3]] == ["entailment", "contradiction", "neutral"]
    assert {e.label for e in read_split(MEDNLI, str(data), "test")} == set(MEDNLI.labels)
    located = locate(MEDNLI, str(data))
    assert located.place.layout == PHYSIONET and located.path("dev") == f"{data}/mednli/mli_dev_v1.jsonl"
    assert MEDNLI.head == "sequence" and scoring.metric_name(MEDNLI) == "accuracy"


def test_mednli_in_the_folder_physionets_zip_unpacks_to(data):
    (data / "mednli").rename(data / MEDNLI_ZIP_FOLDER)
    assert locate(MEDNLI, str(data)).directory == f"{data}/{MEDNLI_ZIP_FOLDER}"
    assert len(read_split(MEDNLI, str(data), "dev")) == SIZES["dev"][1]


def test_mediqa_test_takes_its_labels_from_the_ground_truth_csv(data):
    located = locate(MEDIQA_NLI, str(data))
    assert located.place.layout == MEDIQA
    assert located.path("test") == f"{data}/mednli/mednli_bionlp_shared_task.jsonl"
    test = read_split(MEDIQA_NLI, str(data), "test")
    expected = nli_pairs(*MEDIQA_TEST)
    assert [(e.guid, e.text_a, e.text_b, e.label) for e in test] == expected
    # Train and dev are MedNLI's own.
    assert read_split(MEDIQA_NLI, str(data), "dev") == read_split(MEDNLI, str(data), "dev")
    truth = read_ground_truth(f"{data}/mednli/mednli_bionlp_shared_task_ground_truth.csv")
    assert truth[expected[0][0]] == (expected[0][3], 2)


def test_medsts_columns_are_read_by_name(data, tmp_path):
    train = read_split(MEDSTS, str(data), "train")
    assert len(train) == SIZES["train"][1] and train[0].guid == "0"
    assert train[5].label == 4.5 and train[5].text_b.startswith("Patient reports")
    assert scoring.metric_name(MEDSTS) == "Pearson" and MEDSTS.score_scale == (0.0, 5.0)
    # GLUE's STS-B column layout (more columns, the sentences and score last) gives the same examples.
    path = tmp_path / "sts-b.tsv"
    rows = (data / "MedSTS/train.tsv").read_text().splitlines()[1:4]
    path.write_text("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                    + "".join(f"{r.split(chr(9))[0]}\tclinical\tnotes\t2018\t{k}\tnote\tnote\t"
                              f"{chr(9).join(r.split(chr(9))[1:])}\n" for k, r in enumerate(rows)))
    assert read_medsts(str(path)) == train[:3]


def test_clefe_as_blue_writes_it(data):
    train = read_split(CLEFE, str(data), "train")
    assert len(train) == SIZES["train"][1]
    assert train[1].text_a == ["History", "of", "atrial", "fibrillation", "and", "chest", "pain", "."]
    assert train[1].label == ["O", "O", "B", "I", "O", "B", "I", "O"]
    assert train[1].guid == f"{data}/clefe/Training.tsv:9"  # the sentence's first line
    assert locate(CLEFE, str(data)).place.layout == BLUE_DATA
    assert scoring.metric_name(CLEFE) == "entity-level F1 (seqeval)"
    assert read_blue_ner(f"{data}/clefe/Test.tsv", CLEFE)[0].label == ["O", "O", "O", "B", "O", "O", "O"]


@pytest.mark.parametrize("names", [("Train.tsv", "Dev.tsv", "Test.tsv"), ("train.tsv", "dev.tsv", "test.tsv")])
def test_clefe_file_names_of_other_copies(data, names):
    for old, new in zip(("Training.tsv", "Development.tsv", "Test.tsv"), names):
        (data / "clefe" / old).rename(data / "clefe" / new)
    assert locate(CLEFE, str(data)).path("dev") == f"{data}/clefe/{names[1]}"
    assert len(read_split(CLEFE, str(data), "dev")) == SIZES["dev"][1]


def test_i2b2_relations_as_blue_writes_them(data):
    train = read_split(I2B2, str(data), "train")
    assert len(train) == SIZES["train"][1]  # the header is no example
    assert (train[0].guid, train[0].label) == ("0", "TrAP")
    assert train[0].text_a == "On hospital day 1 , @treatment$ was given for @problem$ ."
    assert {e.label for e in train} == set(I2B2.labels)
    assert I2B2.entity_markers == ("@problem$", "@treatment$", "@test$")


# -- the scorers: BLUE's metrics are the existing ones ----------------------------------------------------------


def test_blues_metrics_on_hand_computed_cases():
    # MedNLI: accuracy.
    assert scoring.score(MEDNLI, ["entailment", "neutral", "contradiction", "neutral"],
                         ["entailment", "neutral", "neutral", "entailment"], []) == 0.5
    # i2b2 2010: micro F1 over the eight relations, "false" neither a hit nor a false alarm:
    # predicted positives 3 (TrAP hit, PIP false alarm, TeRP wrong), gold positives 3, hits 1 -> 1/3.
    gold = ["TrAP", "false", "TeCP", "false", "TrIP"]
    predicted = ["TrAP", "PIP", "TeRP", "false", "false"]
    assert scoring.score(I2B2, gold, predicted, []) == pytest.approx(1 / 3)
    assert scoring.metric_name(I2B2) == "micro F1, positive classes"
    # ShARe/CLEFE: strict entity-level F1 on BLUE's untyped tags: a span one word short is a miss.
    gold_tags = [["O", "B", "I", "O", "B"], ["B", "I", "I"]]
    predicted_tags = [["O", "B", "I", "O", "O"], ["B", "I", "O"]]
    # gold 3 entities, predicted 2, exact 1 -> P 1/2, R 1/3, F1 0.4.
    assert scoring.score(CLEFE, gold_tags, predicted_tags, []) == pytest.approx(0.4)
    # MedSTS: Pearson.
    # gold mean 2, predicted mean 2.25: co-deviations sum 3.5, sqrt(15.5 x 2.75) = 6.5288 -> 0.5361.
    assert scoring.score(MEDSTS, [0.0, 2.5, 5.0, 0.5], [1.0, 2.0, 3.0, 3.0], []) == pytest.approx(0.5361, abs=1e-4)


# -- what the readers refuse: one line naming file and line ---------------------------------------------------


def _mednli_with(data: Path, line: str, split_file: str = "mli_train_v1.jsonl", index: int = 2) -> str:
    path = data / "mednli" / split_file
    lines = path.read_text().splitlines(keepends=True)
    lines[index] = line
    path.write_text("".join(lines))
    return f"{data}/mednli/{split_file}"


PAIR = nli_pairs(2, 1)[0]


@pytest.mark.parametrize("line, reason", [
    ('{"sentence1": "Fever."', "not a JSON object: Expecting ',' delimiter (column 23); MedNLI's files hold one "
                               "JSON object per line"),
    ('["Fever.", "No fever.", "contradiction"]\n', "a JSON array, not an object with sentence1, sentence2, "
                                                   "pairID and gold_label"),
    (mednli_line(*PAIR[:3], "neutal"), "unknown gold_label 'neutal' (expected one of contradiction, entailment, "
                                       "neutral) (did you mean 'neutral'?)"),
    (mednli_line(*PAIR[:3], "-"), "gold_label '-' (SNLI's mark for pairs without a majority label; MedNLI has "
                                  "none): expected one of contradiction, entailment, neutral"),
    (mednli_line(*PAIR[:3], None), "lacks gold_label (no mli_train_v1_ground_truth.csv beside it to take the "
                                   f"labels from); {MEDNLI.source}"),
    (mednli_line(*PAIR).replace('"sentence2"', '"hypothesis"'), "lacks sentence2"),
    (mednli_line(*PAIR).replace('"gold_label": "neutral"', '"gold_label": 2'),
     "gold_label is a JSON number, not a string"),
    (mednli_line(*PAIR).replace('{', '{"pairID": "x", ', 1), "key 'pairID' appears twice (a JSON reader would keep the last "
                                                              "silently)"),
    (mednli_line(nli_pairs(0, 1)[0][0], *PAIR[1:]), "pairID '00000000-66c7-11e7-a8dc-f45c89b91419' already "
                                                    "appears on line 1"),
    (mednli_line(PAIR[0], "", *PAIR[2:]), "sentence1 must be non-empty strings"),
])
def test_a_bad_mednli_line_names_file_and_line(data, line, reason):
    path = _mednli_with(data, line)
    assert _error(MEDNLI, data, "train") == f"{path}:3: {reason}"


def test_the_mediqa_ground_truth_must_match_the_pairs_one_to_one(data):
    folder = data / "mednli"
    truth = folder / "mednli_bionlp_shared_task_ground_truth.csv"
    test = folder / "mednli_bionlp_shared_task.jsonl"
    good = truth.read_text()
    rows = good.splitlines(keepends=True)
    pairs = nli_pairs(*MEDIQA_TEST)
    truth.write_text("".join(rows[:3] + rows[4:]))  # the third pair's label dropped
    assert _error(MEDIQA_NLI, data, "test") == f"{test}:3: pairID '{pairs[2][0]}' has no label in {truth}"
    truth.write_text(good + "ffffffff-66c7-11e7-a8dc-f45c89b91419,neutral\n")
    assert _error(MEDIQA_NLI, data, "test") == (
        f"{truth}:11: pair_id 'ffffffff-66c7-11e7-a8dc-f45c89b91419' is in no line of {test} (1 such pair_id)")
    truth.write_text(good.replace("pair_id,label", "pairID,gold_label"))
    assert _error(MEDIQA_NLI, data, "test") == f"{truth}:1: expected the header pair_id,label, got 'pairID,gold_label'"
    truth.write_text(good.replace(",neutral", ",Neutral", 1))
    assert _error(MEDIQA_NLI, data, "test") == (
        f"{truth}:4: unknown label 'Neutral' (expected one of contradiction, entailment, neutral) "
        "(did you mean 'neutral'?)")
    truth.write_text(good)
    lines = test.read_text().splitlines(keepends=True)
    lines[0] = mednli_line(*pairs[0][:3], "neutral")  # a label the file gives must agree
    test.write_text("".join(lines))
    assert _error(MEDIQA_NLI, data, "test") == (
        f"{test}:1: gold_label 'neutral' disagrees with {truth}:2 ('entailment')")
    truth.unlink()  # without the ground truth, the test file has no labels
    assert _error(MEDIQA_NLI, data, "test") == (
        f"{test}:2: lacks gold_label (no mednli_bionlp_shared_task_ground_truth.csv beside it to take the labels "
        f"from); {MEDIQA_NLI.source}")


@pytest.mark.parametrize("row, reason", [
    ("7\tPatient has asthma.\tPatient has asthma.\t5.5", "score '5.5' is outside MedSTS' scale 0-5"),
    ("7\tPatient has asthma.\tPatient has asthma.\tnan", "score 'nan' is outside MedSTS' scale 0-5"),
    ("7\tPatient has asthma.\tPatient has asthma.\tsame", "score 'same' is not a number"),
    ("7\tPatient has asthma.\t4.0", "expected 4 tab-separated fields (index, sentence1, sentence2, score), got 3"),
    ("0\tPatient has asthma.\tPatient has asthma.\t4.0", "index '0' already appears on line 2"),
])
def test_a_bad_medsts_row_names_file_and_line(data, row, reason):
    path = data / "MedSTS/train.tsv"
    lines = path.read_text().splitlines()
    lines[3] = row
    path.write_text("\n".join(lines) + "\n")
    assert _error(MEDSTS, data, "train") == f"{path}:4: {reason}"
    path.write_text("index\tsentence_1\tsentence_2\tscore\n" + "\n".join(lines[1:]))
    assert _error(MEDSTS, data, "train") == (
        f"{path}:1: expected a header with the columns index, sentence1, sentence2, score (tab-separated), got "
        "'index\\tsentence_1\\tsentence_2\\tscore'")


@pytest.mark.parametrize("line, reason", [
    ("pneumonia\tB", "expected 'word<TAB>file<TAB>offset<TAB>B-x|I-x|B|I|O', got 'pneumonia\\tB'"),
    ("pneumonia\t00002-100002-DISCHARGE_SUMMARY.txt\tx12\tB", "offset 'x12' is not a number (expected "
                                                              "'word<TAB>file<TAB>offset<TAB>B-x|I-x|B|I|O')"),
    ("pneumonia\t00002-100002-DISCHARGE_SUMMARY.txt\t12\tB-Disease",
     "tag 'B-Disease' is not a ShARe-CLEFE tag (its entity type is Disorder) (did you mean 'B-Disorder'?)"),
    ("pneumonia\t00002-100002-DISCHARGE_SUMMARY.txt\t12\tU", "malformed tag 'U'"),
])
def test_a_bad_clefe_line_names_file_and_line(data, line, reason):
    path = data / "clefe/Training.tsv"
    lines = path.read_text().split("\n")
    lines[3] = line
    path.write_text("\n".join(lines))
    assert _error(CLEFE, data, "train").startswith(f"{path}:4: {reason}")


def test_a_dev_tag_of_clefe_that_train_lacks(data):
    train = data / "clefe/Training.tsv"
    train.write_text(train.read_text().replace("\tI\n", "\tO\n"))
    dev = data / "clefe/Development.tsv"
    message = _error(CLEFE, data, "dev")
    assert message.startswith(f"{dev}:") and f"tag 'I' never occurs in {train}" in message


def test_a_bad_i2b2_row(data):
    path = data / "i2b2-2010/train.tsv"
    lines = path.read_text().splitlines()
    lines[2] = "1\t@problem$ improved after @treatment$ .\tTRIP"
    path.write_text("\n".join(lines) + "\n")
    assert _error(I2B2, data, "train") == (
        f"{path}:3: unknown label 'TRIP' (expected one of false, PIP, TeCP, TeRP, TrAP, TrCP, TrIP, TrNAP, TrWP) "
        "(did you mean 'TrIP'?)")


def test_a_clinical_file_that_is_not_utf8_names_whose_files_are(data):
    path = data / "mednli/mli_dev_v1.jsonl"
    path.write_bytes(path.read_bytes().replace(b"pneumonia", b"pneumon\xeda", 1))
    assert _error(MEDNLI, data, "dev") == (
        f"{path}:1: not UTF-8 (byte 0xed at column 53); MedNLI's files are UTF-8: convert the file "
        "(e.g. iconv -f LATIN1 -t UTF-8)")


# -- missing and restricted data: where it comes from, in one line -----------------------------------------------


@pytest.mark.parametrize("name, url", [
    ("MedNLI", "https://physionet.org/content/mednli/1.0.0/"),
    ("MEDIQA-NLI", "https://physionet.org/content/mednli-bionlp19/"),
    ("MedSTS", "github.com/ncbi-nlp/BLUE_Benchmark"),
    ("ShARe-CLEFE", "https://physionet.org/content/shareclefehealth2013/1.0/"),
    ("i2b2-2010", "https://portal.dbmi.hms.harvard.edu/"),
])
def test_missing_data_says_where_it_comes_from_and_the_layout(tmp_path, name, url):
    message = _error(ALL_TASKS[name], tmp_path, "train", FileNotFoundError)
    assert message.startswith(f"{tmp_path}/") and " does not exist (" in message
    assert message.endswith(ALL_TASKS[name].source) and url in message


def test_a_missing_test_file_says_where_the_data_comes_from(data):
    (data / "mednli/mli_test_v1.jsonl").unlink()
    assert _error(MEDNLI, data, "test", FileNotFoundError) == (
        f"{data}/mednli/mli_test_v1.jsonl does not exist; {MEDNLI.source}")


def test_a_sign_in_page_saved_as_the_data_file(data):
    """What `wget` keeps when PhysioNet refuses a download without credentialed access."""
    path = data / "mednli/mli_train_v1.jsonl"
    path.write_text("<!DOCTYPE html>\n<html lang=\"en\">\n<head><title>Login | PhysioNet</title></head>\n")
    assert _error(MEDNLI, data, "train") == (
        f"{path}:1: an HTML page, not the data (a sign-in or error page saved under the file's name: a download "
        f"without access gets one); {MEDNLI.source}")


def test_a_file_that_cannot_be_read(data):
    def read(path: str) -> bytes:
        if path.endswith("Training.tsv"):
            raise PermissionError(path)
        return Path(path).read_bytes()

    files = FileAccess(read, lambda path: Path(path).is_file())
    with pytest.raises(DataError) as caught:
        read_split(CLEFE, str(data), "train", files)
    assert str(caught.value) == (f"{data}/clefe/Training.tsv: cannot be read (permission denied); "
                                 f"{CLEFE.source}")


def test_the_cli_names_where_mednli_comes_from_with_status_2(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="finetune"):
        status = cli.main(["run", "--task", "MedNLI", "--data", str(tmp_path), "--checkpoint",
                           str(tmp_path / "no-model"), "--output", str(tmp_path / "out")])
    assert status == 2
    [message] = [r.getMessage() for r in caplog.records if r.name == "finetune"]
    assert "\n" not in message and "https://physionet.org/content/mednli/1.0.0/" in message


def test_blue_without_any_data_is_one_line_with_status_2(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="finetune"):
        status = cli.main(["blue", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "no-model"),
                           "--output", str(tmp_path / "out")])
    assert status == 2
    errors = [r.getMessage() for r in caplog.records if r.name == "finetune" and r.levelno == logging.ERROR]
    assert errors == [
        f"no BLUE task has training data under {tmp_path}: --data takes the folders mednli/ (MedNLI from PhysioNet), "
        "MedSTS/, clefe/, i2b2-2010/ (BLUE's preprocessed files) and BLURB's (BC5CDR-chem/, DDI/, ...); where each "
        "comes from: docs/finetune.md, \"Clinical tasks and BLUE\""]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == len(BLUE) and any("physionet.org/content/mednli/1.0.0/" in m for m in warned)


# -- BLUE: its tasks, the table, the anchors ------------------------------------------------------------------------


def test_blue_is_ten_tasks_its_clinical_ones_here_and_its_public_ones_blurbs():
    assert len(BLUE) == 10 and set(BLUE) - set(TASKS) == {"MedSTS", "ShARe-CLEFE", "i2b2-2010", "MedNLI"}
    assert set(BLUE_DIFFERENCES) == set(BLUE) & set(TASKS)
    assert set(CLINICAL_TASKS) - set(BLUE) == {"MEDIQA-NLI"}  # MEDIQA 2019's test is no BLUE task


def test_blue_finds_the_tasks_with_data(data):
    assert blue.present(str(data), FileAccess(lambda p: Path(p).read_bytes(), lambda p: Path(p).is_file())) == [
        "MedSTS", "ShARe-CLEFE", "i2b2-2010", "MedNLI"]


def _result(task: str, mean: float) -> dict:
    return {"task": task, "blurb_type": ALL_TASKS[task].blurb_type,
            "metric": scoring.metric_name(ALL_TASKS[task]), "mean": mean, "std": 0.0, "scores": [mean],
            "split": "dev", "train_examples": 36, "eval_examples": 12}


def test_the_blue_table_shows_the_anchors_the_differences_and_the_skipped_tasks():
    text = blue.table([_result("MedNLI", 0.5), _result("i2b2-2010", 0.25), _result("HoC", 0.75)],
                      ["MedSTS", "BIOSSES"], {}, "dev")
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    assert "| BlueBERT (published, test) | BioELECTRA (published, test) |" in text
    assert rows["MedNLI"].endswith("| 50.00 ± 0.00 | 1 | 36 / 12 | 84.00 | 86.34 |")
    assert rows["i2b2-2010"].endswith("| micro F1, positive classes | 25.00 ± 0.00 | 1 | 36 / 12 | 76.40 | — |")
    assert rows["HoC ‡"].endswith("| — | — |")
    assert f"- HoC: {BLUE_DIFFERENCES['HoC']}." in text
    assert "Skipped (no training data): MedSTS, BIOSSES." in text
    assert f"- MedSTS: {MEDSTS.source}." in text
    assert f"- BIOSSES: {blue.PUBLIC_SOURCE}." in text  # the public tasks skipped: one line
    for model in anchors.BLUE_MODELS:
        assert anchors.CITATIONS[model] in text


def test_every_clinical_anchor_is_a_clinical_task_with_its_page():
    figures = {(a.model, a.task): a for a in anchors.ANCHORS if a.task in CLINICAL_TASKS}
    assert {key: a.score for key, a in figures.items()} == {
        ("BioELECTRA", "MedNLI"): 86.34, ("BlueBERT", "MedNLI"): 84.0, ("BlueBERT", "MedSTS"): 84.8,
        ("BlueBERT", "ShARe-CLEFE"): 77.1, ("BlueBERT", "i2b2-2010"): 76.4}
    assert all(a.source.startswith("https://aclanthology.org/") for a in figures.values())
    published = anchors.as_json(["MedNLI"], anchors.BLUE_MODELS)
    assert set(published["citations"]) == {"BlueBERT", "BioELECTRA"}
    assert [f["model"] for f in published["figures"]] == ["BioELECTRA", "BlueBERT"]
    assert json.dumps(published)  # blue.json holds it


def test_a_file_tf_may_not_open_is_one_line_through_gfile(data, monkeypatch):
    """tf.io.gfile's PermissionDeniedError (a restricted file, a bucket without read access) becomes the
    readers' one-line error, as Python's PermissionError does."""
    import tensorflow as tf

    from finetune import files

    def denied(path: str) -> bytes:
        raise tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")

    monkeypatch.setattr(files, "read_bytes", denied)
    with pytest.raises(DataError) as caught:
        read_split(MEDNLI, str(data), "train", files.GFILE)
    assert str(caught.value) == (f"{data}/mednli/mli_train_v1.jsonl: cannot be read (permission denied); "
                                 f"{MEDNLI.source}")


def test_an_html_page_in_place_of_a_blurb_file_is_one_line_too(tmp_path):
    (tmp_path / "DDI").mkdir()
    (tmp_path / "DDI/train.tsv").write_text("\n<html><head><title>404 Not Found</title></head></html>\n")
    assert _error(TASKS["DDI"], tmp_path, "train") == (
        f"{tmp_path}/DDI/train.tsv:1: an HTML page, not the data (a sign-in or error page saved under the file's "
        "name: a download without access gets one)")
