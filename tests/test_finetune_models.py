"""Fine-tuned models end to end: a tiny ELECTRA pretrained here, fine-tuned through the CLI on real BLURB lines
(tests/blurb_data.py) with --save-model; the saved directory loads in transformers with the TF model's logits
and predictions, `predict` tags a raw GENIA abstract (long sentences in windows) and classifies task rows,
`blurb --save-models --train-fractions` keeps each task's model and draws the curves, `compare` gives the gain
of the pretrained model over --random-init."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from tokenizers.pre_tokenizers import BertPreTokenizer

from evaluation.layouts import read_split
from evaluation.tasks import TASKS
from finetune import cli, saving, scoring
from finetune.features import Featurizer
from finetune.predict import Tagger
from pretrain import cli as pretrain_cli
from tests.blurb_data import write_blurb_directory
from tests.fixtures import GENIA_RAW, genia_documents
from tests.pretrain_data import build_examples, write_shards, write_vocabulary

pytestmark = pytest.mark.slow  # pretrains a tiny model, then fine-tunes and saves several

LENGTH = 64
TRAIN = ["--epochs", "3", "--learning-rate", "1e-3", "--batch-size", "8", "--max-seq-length", str(LENGTH)]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("tiny")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    with open(f"{vocab}/vocab.txt", "a", encoding="utf-8") as f:  # slots for the entity markers
        f.write("".join(f"[unused{i}]\n" for i in range(4)))
    shards = write_shards(str(root / "shards"), build_examples(documents, vocab, LENGTH, seed=1), vocab, LENGTH,
                          num_shards=1)
    run = str(root / "run")
    assert pretrain_cli.main(["train", "--data", shards, "--vocab", vocab, "--output", run, "--model-size", "tiny",
                              "--max-seq-length", str(LENGTH), "--train-steps", "20", "--steps-per-loop", "10",
                              "--log-every", "10"]) == 0
    return run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_blurb_directory(tmp_path_factory.mktemp("blurb") / "data")


@pytest.fixture(scope="module")
def ner(tiny_run, data, tmp_path_factory) -> dict:
    """BC5CDR-chem, 2 trials, the best saved."""
    root = tmp_path_factory.mktemp("ner")
    output, model = root / "out", root / "model"
    assert cli.main(["run", "--task", "BC5CDR-chem", "--data", str(data), "--checkpoint", tiny_run,
                     "--output", str(output), "--trials", "2", *TRAIN, "--save-model", str(model)]) == 0
    return {"output": output, "model": model, "result": json.loads((output / "BC5CDR-chem.json").read_text())}


def _torch(features) -> dict:
    return {"input_ids": torch.tensor(features.input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(features.input_mask, dtype=torch.long),
            "token_type_ids": torch.tensor(features.segment_ids, dtype=torch.long)}


def test_the_best_trial_is_saved_for_transformers_and_tf(ner, data):
    result, model = ner["result"], ner["model"]
    best = result["best_trial"]
    assert best["score"] == max(result["scores"]) and best["seed"] == result["trials"][best["index"]]["seed"]
    assert result["saved_model"] == str(model)
    info = json.loads((model / "finetune.json").read_text())
    assert info["trial"]["seed"] == best["seed"] and info["result"]["mean"] == result["mean"]
    # The predictions file: one line per dev sentence, and it scores exactly the best trial's score.
    lines = [json.loads(line) for line in (ner["output"] / "BC5CDR-chem.predictions.jsonl").read_text().splitlines()]
    task = TASKS["BC5CDR-chem"]
    dev = read_split(task, str(data), "dev")
    assert [line["id"] for line in lines] == [e.guid for e in dev] and len(lines) == result["eval_examples"]
    assert [line["gold"] for line in lines] == [e.label for e in dev]
    assert scoring.score(task, [l["gold"] for l in lines], [l["predicted"] for l in lines], []) == best["score"]

    # The TF checkpoint rebuilds that trial: its tags are the file's.
    loaded = saving.load(str(model))
    featurizer = Featurizer(str(model), task, LENGTH)
    features = featurizer.features(dev, {tag: i for i, tag in enumerate(loaded.labels)})
    logits = loaded.model(features.input_ids, features.input_mask, features.segment_ids).numpy()
    tags = [[loaded.labels[logits[row, p].argmax()] if p >= 0 else "O" for p in starts]
            for row, starts in enumerate(features.word_starts)]
    assert tags == [line["predicted"] for line in lines]

    # transformers: AutoModelForTokenClassification, the same logits and tags; the tokenizer gives the inputs.
    hf, loading = transformers.AutoModelForTokenClassification.from_pretrained(model, output_loading_info=True)
    assert not (loading["missing_keys"] or loading["unexpected_keys"]), loading
    assert hf.config.id2label == {0: "O", 1: "B-Chemical", 2: "I-Chemical"}
    with torch.no_grad():
        theirs = hf.eval()(**_torch(features)).logits.numpy()
    real = features.input_mask.astype(bool)
    assert float(np.abs(theirs[real] - logits[real]).max()) < 1e-4
    assert (theirs.argmax(-1)[real] == logits.argmax(-1)[real]).all()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model)
    assert isinstance(tokenizer, transformers.PreTrainedTokenizerFast)
    encoded = tokenizer([e.text_a for e in dev], is_split_into_words=True, truncation=True, padding="max_length",
                        max_length=LENGTH)
    assert encoded["input_ids"] == features.input_ids.tolist()
    card = (model / "README.md").read_text()
    assert f"value: {round(100 * best['score'], 2)}" in card and "pretraining data `" in card
    assert "- pretraining: 20 steps (of 20 planned)" in card


def test_predict_tags_a_raw_abstract_and_windows_long_sentences(ner, tmp_path):
    abstract = " ".join((GENIA_RAW / "8919644.txt").read_text(encoding="utf-8").split())  # one line
    clause = "the histamine-induced rise of intracellular Ca2+ in Jurkat cells was inhibited by doxepin"
    long_sentence = ", and ".join([clause] * 6) + "."  # over 120 word-pieces: three windows of 62 or more
    source = tmp_path / "abstracts.txt"
    source.write_text(f"{abstract}\n\n{long_sentence}\n", encoding="utf-8")
    output = tmp_path / "tags.jsonl"
    assert cli.main(["predict", "--model", str(ner["model"]), "--input", str(source), "--output",
                     str(output)]) == 0
    documents = [json.loads(line) for line in output.read_text().splitlines()]
    assert [d["line"] for d in documents] == [1, 2, 3] and documents[1]["sentences"] == []
    first = documents[0]
    assert len(first["sentences"]) >= 8  # GENIA's gold has 9 lines; the splitter finds the sentences
    tags = {"O", "B-Chemical", "I-Chemical"}
    for document, text in ((documents[0], abstract), (documents[2], long_sentence)):
        for sentence in document["sentences"]:
            words = sentence["words"]
            assert all(text[w["start"]:w["end"]] == w["text"] and w["tag"] in tags for w in words)
            # Every word of the sentence, none cut: BERT's pre-tokenizer words, in order.
            expected = BertPreTokenizer().pre_tokenize_str(text[sentence["start"]:sentence["end"]])
            assert [w["text"] for w in words] == [word for word, _ in expected]
        for entity in document["entities"]:
            assert text[entity["start"]:entity["end"]] == entity["text"] and entity["type"] == "Chemical"
    [sentence] = documents[2]["sentences"]
    assert sentence["windows"] >= 3 and len(sentence["words"]) == 6 * 16 + 5 * 2 + 1

    # Each word's tag is the one of the window where it is most central: recomputed here by hand.
    loaded = saving.load(str(ner["model"]))
    tagger = Tagger(loaded)
    encoding = tagger.tokenizer.encode(long_sentence, add_special_tokens=False)
    count, width = len(encoding.ids), LENGTH - 2
    # Windows of 62 word-pieces, each starting half a window after the one before, the last ending at the end.
    spans = [(s, s + width) for s in range(0, count - width, width // 2)] + [(count - width, count)]
    assert len(spans) == sentence["windows"]
    inputs = np.array([[tagger.cls, *encoding.ids[s:e], tagger.sep] for s, e in spans], np.int32)
    logits = loaded.model(inputs, np.ones_like(inputs), np.zeros_like(inputs)).numpy()
    expected = []
    for word in sorted(set(w for w in encoding.word_ids if w is not None)):
        position = encoding.word_ids.index(word)
        margins = [min(position - s, e - 1 - position) if s <= position < e else -1 for s, e in spans]
        window = int(np.argmax(margins))
        expected.append(tagger.tags[logits[window, position - spans[window][0] + 1].argmax()])
    assert [w["tag"] for w in sentence["words"]] == expected


def test_predict_classifies_the_rows_of_a_task_file(tiny_run, data, tmp_path):
    model = tmp_path / "ddi"
    assert cli.main(["run", "--task", "DDI", "--data", str(data), "--checkpoint", tiny_run, "--output",
                     str(tmp_path / "out"), *TRAIN, "--epochs", "1", "--max-train-examples", "32",
                     "--save-model", str(model)]) == 0
    output = tmp_path / "ddi.jsonl"
    assert cli.main(["predict", "--model", str(model), "--input", str(data / "DDI" / "test.tsv"),
                     "--output", str(output)]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    test = read_split(TASKS["DDI"], str(data), "test")
    assert [r["id"] for r in rows] == [e.guid for e in test] and [r["gold"] for r in rows] == [e.label for e in test]
    for row in rows:
        assert row["predicted"] == max(row["scores"], key=row["scores"].get)
        assert sum(row["scores"].values()) == pytest.approx(1, abs=1e-4) and row["truncated"] in (True, False)
    # transformers agrees on every row, entity markers replaced as config.json says.
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(model).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model)
    texts = [e.text_a for e in test]
    for marker, slot in hf.config.entity_markers.items():
        texts = [t.replace(marker, slot) for t in texts]
    with torch.no_grad():
        logits = hf(**tokenizer(texts, truncation=True, max_length=LENGTH, padding=True,
                                return_tensors="pt")).logits.numpy()
    assert [hf.config.id2label[i] for i in logits.argmax(-1)] == [r["predicted"] for r in rows]
    # A file of another task's format is one line naming the file and line.
    assert cli.main(["predict", "--model", str(model), "--input", str(data / "BIOSSES" / "dev.tsv"),
                     "--output", str(output)]) == 2


def test_blurb_saves_each_tasks_model_with_learning_curves_and_compare_shows_the_gain(tiny_run, data,
                                                                                       tmp_path, capsys):
    subset = tmp_path / "data"
    for name in ("BC5CDR-chem", "BIOSSES"):
        (subset / name).parent.mkdir(parents=True, exist_ok=True)
        (subset / name).symlink_to(data / name)
    common = ["--data", str(subset), "--checkpoint", tiny_run, *TRAIN, "--train-fractions", "0.25,1"]
    pretrained, random = tmp_path / "pretrained", tmp_path / "random"
    assert cli.main(["blurb", *common, "--output", str(pretrained), "--save-models", str(tmp_path / "models")]) == 0
    assert cli.main(["blurb", *common, "--output", str(random), "--random-init"]) == 0
    for name in ("BC5CDR-chem", "BIOSSES"):
        result = json.loads((pretrained / f"{name}.json").read_text())
        points = result["fractions"]
        assert [p["fraction"] for p in points] == [0.25, 1.0]
        assert points[-1]["mean"] == result["mean"] and points[0]["train_examples"] < result["train_examples"]
        assert json.loads((tmp_path / "models" / name / "finetune.json").read_text())["task"] == name
        assert (pretrained / f"{name}.predictions.jsonl").exists()
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "models" / "BIOSSES")
    assert hf.config.problem_type == "regression" and hf.config.num_labels == 1
    table = (pretrained / "blurb.md").read_text()
    assert "| task | 0.25 of train | 1 of train |" in table
    page = (pretrained / "blurb.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and (pretrained / "blurb.png").exists()
    capsys.readouterr()
    assert cli.main(["compare", str(random), str(pretrained), "--output", str(tmp_path / "compare")]) == 0
    text = capsys.readouterr().out
    assert "gain pretrained − random" in text and "| BIOSSES | 0.25 (" in text
    assert json.loads((tmp_path / "compare" / "compare.json").read_text())["tasks"]["BC5CDR-chem"]["fractions"]
