"""Fine-tuned models and results without training: the saved heads in transformers against the TF model (a
freshly initialised tiny encoder, real BLURB fixture rows), the windows of `predict`, the predictions file, the
model card, the plots, the HTML page and `python -m finetune compare` over result directories."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
import yaml

from evaluation.layouts import read_split
from evaluation.tasks import TASKS, Example
from finetune import cli, report, saving
from finetune.features import Featurizer
from finetune.hf_checkpoint import build_discriminator
from finetune.model import FineTuningModel
from finetune.predict import Tagger, most_central, windows
from finetune.training import curve_table, markdown_table, prediction_lines
from pretrain.config import EncoderConfig
from tests.fixtures import BERT_VOCAB, DATA
from vocab.vocabulary import directory_files, parse_vocab

BLURB = DATA / "blurb"
LENGTH = 64
ENCODER = EncoderConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, embedding_size=32, max_position_embeddings=128,
                        type_vocab_size=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                        initializer_range=0.02)


@pytest.fixture(scope="module")
def bert_vocab(tmp_path_factory) -> str:
    """BERT's uncased vocabulary (it has [unused*] slots for the entity markers) as a vocabulary directory."""
    directory = tmp_path_factory.mktemp("vocab")
    for name, data in directory_files(parse_vocab(BERT_VOCAB.read_bytes()), True, True):
        (directory / name).write_bytes(data)
    return str(directory)


def _record(task, labels, markers=None, score=0.5) -> saving.ModelRecord:
    result = {"task": task.name, "split": "dev", "metric": "m", "mean": score, "std": 0.0, "scores": [score],
              "train_examples": 10, "eval_examples": 5}
    return saving.ModelRecord(task, tuple(labels), LENGTH, markers or {}, "someone/bioelectra", {
        "epochs": 1.0, "learning_rate": 1e-4, "batch_size": 8, "layerwise_decay": 0.8, "warmup_fraction": 0.1,
        "weight_decay": 0.01, "dropout": 0.1, "random_init": False}, {"seed": 3, "score": score, "steps": 2},
        result)


def _model(head: str, outputs: int, layer_norm_scale: float = 1.0) -> FineTuningModel:
    model = FineTuningModel(build_discriminator(ENCODER, 11), head, outputs, seed=4)
    model.bias.assign(tf.random.stateless_normal([outputs], seed=[1, 2]))
    norm = model.encoder.encoder.layers[-1].output_layer_norm
    norm.gamma.assign(norm.gamma * layer_norm_scale + tf.random.stateless_normal(norm.gamma.shape, seed=[3, 4]))
    norm.beta.assign(tf.random.stateless_normal(norm.beta.shape, seed=[5, 6]) * layer_norm_scale)
    return model


def _torch(features) -> dict:
    return {"input_ids": torch.tensor(features.input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(features.input_mask, dtype=torch.long),
            "token_type_ids": torch.tensor(features.segment_ids, dtype=torch.long)}


@pytest.mark.parametrize("name, scale", [("DDI", 1.0), ("BIOSSES", 1.0), ("HoC", 1.0), ("DDI", 40.0)])
def test_sequence_heads_give_the_tf_logits_in_transformers(bert_vocab, tmp_path, name, scale):
    """ElectraForSequenceClassification's dense -> GELU -> out_proj computes the project's one dense layer
    on [CLS] (the shift keeps GELU's inputs where it is the identity), also for a last LayerNorm whose
    outputs reach hundreds (scale 40)."""
    task = TASKS[name]
    examples = read_split(task, str(BLURB), "dev")[:24]
    labels = ("similarity",) if task.head == "regression" else task.labels
    featurizer = Featurizer(bert_vocab, task, LENGTH)
    features = featurizer.features(examples, labels=task.labels)
    model = _model(task.head, 1 if task.head == "regression" else len(labels), scale)
    ours = model(features.input_ids, features.input_mask, features.segment_ids).numpy()
    directory = tmp_path / name
    saving.save(str(directory), saving.snapshot(model), ENCODER, bert_vocab,
                _record(task, labels, dict(featurizer.markers)))
    hf, info = transformers.AutoModelForSequenceClassification.from_pretrained(directory, output_loading_info=True)
    assert not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]), info
    assert type(hf).__name__ == "ElectraForSequenceClassification"
    assert hf.config.problem_type == saving.PROBLEM_TYPES[task.head]
    assert hf.config.num_labels == ours.shape[1] and hf.config.finetuning_task == name
    with torch.no_grad():
        theirs = hf.eval()(**_torch(features)).logits.numpy()
    difference = float(np.abs(theirs - ours).max())
    assert difference < 1e-4, difference
    shift = float(hf.classifier.dense.bias[0].detach())
    assert shift >= (300 if scale > 1 else 8) and np.log2(shift).is_integer()
    # The saved TF checkpoint gives back exactly the model.
    loaded = saving.load(str(directory))
    np.testing.assert_array_equal(
        loaded.model(features.input_ids, features.input_mask, features.segment_ids).numpy(), ours)
    # transformers' tokenizer (tokenizer.json) gives the fine-tuning inputs, entity markers replaced by
    # their slots (config.json says which).
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    assert isinstance(tokenizer, transformers.PreTrainedTokenizerFast)
    markers = hf.config.entity_markers
    assert bool(markers) == (name == "DDI")
    first = [e.text_a for e in examples]
    for marker, slot in markers.items():
        first = [text.replace(marker, slot) for text in first]
    second = [e.text_b for e in examples] if examples[0].text_b is not None else None
    encoded = tokenizer(first, second, truncation=True, padding="max_length", max_length=LENGTH)
    assert encoded["input_ids"] == features.input_ids.tolist()
    if name == "HoC":
        assert hf.config.id2label == {i: str(i) for i in range(10)}


def test_token_head_and_typed_labels_in_transformers(bert_vocab, tmp_path):
    task = TASKS["BC5CDR-chem"]
    examples = read_split(task, str(BLURB), "dev")[:16]
    labels = ("O", "B", "I")  # BLURB's own untyped tags
    tags = {"B-Chemical": "B", "I-Chemical": "I", "O": "O"}
    examples = [Example(e.guid, e.text_a, [tags[t] for t in e.label]) for e in examples]
    features = Featurizer(bert_vocab, task, LENGTH).features(examples, {t: i for i, t in enumerate(labels)})
    model = _model("token", 3)
    directory = tmp_path / "ner"
    saving.save(str(directory), saving.snapshot(model), ENCODER, bert_vocab, _record(task, labels))
    hf = transformers.AutoModelForTokenClassification.from_pretrained(directory).eval()
    assert hf.config.id2label == {0: "O", 1: "B-Chemical", 2: "I-Chemical"}  # typed for the pipelines
    with torch.no_grad():
        theirs = hf(**_torch(features)).logits.numpy()
    real = features.input_mask.astype(bool)
    ours = model(features.input_ids, features.input_mask, features.segment_ids).numpy()
    assert float(np.abs(theirs[real] - ours[real]).max()) < 1e-4
    info = json.loads((directory / "finetune.json").read_text())
    assert info["labels"] == ["O", "B", "I"] and info["hf_labels"] == ["O", "B-Chemical", "I-Chemical"]
    assert set(tf.train.load_checkpoint(str(directory / "tf")).get_variable_to_shape_map()) == {
        name for name, _ in model.named_variables()}
    # The model card: the hub's metadata block, the score in model-index.
    text = (directory / "README.md").read_text()
    head, _, body = text[4:].partition("\n---\n")
    meta = yaml.safe_load(head)
    assert meta["pipeline_tag"] == "token-classification" and meta["base_model"] == "someone/bioelectra"
    [result] = meta["model-index"][0]["results"]
    assert result["metrics"][0]["value"] == 50.0 and result["dataset"]["name"] == "BC5CDR-chem"
    assert "labels (3): `O`, `B-Chemical`, `I-Chemical`" in body
    assert "AutoModelForTokenClassification" in body


def test_windows_overlap_by_half_and_each_word_takes_its_most_central_window():
    assert windows(10, 62) == [(0, 10)]
    spans = windows(150, 62)
    assert spans == [(0, 62), (31, 93), (62, 124), (88, 150)]
    covered = set()
    for start, end in spans:
        covered.update(range(start, end))
    assert covered == set(range(150))  # nothing cut off
    assert most_central(5, spans) == 0 and most_central(60, spans) == 1 and most_central(140, spans) == 3
    assert most_central(100, spans) in (2, 3)
    start, end = spans[most_central(100, spans)]
    assert min(100 - start, end - 1 - 100) == max(min(100 - s, e - 1 - 100) for s, e in spans if s <= 100 < e)


def test_entities_are_iob_spans_and_pico_runs():
    text = "Aspirin and low dose heparin help"
    spans = [(0, 7), (8, 11), (12, 15), (16, 20), (21, 28), (29, 33)]

    def words(tags):
        return [{"text": text[a:b], "start": a, "end": b, "tag": t} for (a, b), t in zip(spans, tags)]

    ner = SimpleNamespace(pico=False)
    found = Tagger._entities(ner, words(["B-Chemical", "O", "B-Chemical", "I-Chemical", "I-Chemical", "O"]), text, 2)
    assert found == [{"type": "Chemical", "start": 0, "end": 7, "sentence": 2, "text": "Aspirin"},
                     {"type": "Chemical", "start": 12, "end": 28, "sentence": 2, "text": "low dose heparin"}]
    # An I after O opens an entity (conlleval); B after I closes one and opens the next.
    found = Tagger._entities(ner, words(["O", "I-Chemical", "B-Chemical", "I-Chemical", "O", "O"]), text, 0)
    assert [e["text"] for e in found] == ["and", "low dose"]
    pico = SimpleNamespace(pico=True)
    found = Tagger._entities(pico, words(["I-PAR", "O", "I-INT", "I-INT", "I-INT", "I-OUT"]), text, 0)
    assert [(e["type"], e["text"]) for e in found] == [("PAR", "Aspirin"), ("INT", "low dose heparin"),
                                                       ("OUT", "help")]


def test_predict_marks_rows_cut_at_the_sequence_length(bert_vocab, tmp_path):
    """PubMedQA's contexts are longer than 64 word-pieces: each row is cut as in training, and says so."""
    task = TASKS["PubMedQA"]
    records = dict(list(json.loads((BLURB / "qa/PubMedQA/ori_pqal.json").read_text()).items())[:3])
    source = tmp_path / "questions.json"
    source.write_text(json.dumps(records))
    directory = tmp_path / "model"
    saving.save(str(directory), saving.snapshot(_model("sequence", 3)), ENCODER, bert_vocab,
                _record(task, task.labels))
    output = tmp_path / "answers.jsonl"
    assert cli.main(["predict", "--model", str(directory), "--input", str(source), "--output", str(output)]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(records) and all(r["truncated"] for r in rows)
    assert [r["gold"] for r in rows] == [r["final_decision"] for r in records.values()]
    assert all(r["predicted"] in ("yes", "no", "maybe") and set(r["scores"]) == {"yes", "no", "maybe"}
               for r in rows)
    assert cli.main(["predict", "--model", str(tmp_path), "--input", str(source), "--output", str(output)]) == 2


def test_predictions_file_has_one_line_per_example():
    ner = TASKS["BC5CDR-chem"]
    examples = [Example("a:1", ["Aspirin", "helps"], ["B", "O"]), Example("a:4", ["No"], ["O"])]
    lines = [json.loads(line) for line in prediction_lines(ner, examples, [["O", "O"], ["O"]]).splitlines()]
    assert lines == [{"id": "a:1", "words": ["Aspirin", "helps"], "gold": ["B", "O"], "predicted": ["O", "O"],
                      "wrong_words": 1},
                     {"id": "a:4", "words": ["No"], "gold": ["O"], "predicted": ["O"], "wrong_words": 0}]
    pair = [Example("p1", "A man.", 2.5, "A woman.")]
    assert json.loads(prediction_lines(TASKS["BIOSSES"], pair, [1.25])) == {
        "id": "p1", "text": "A man.", "text_b": "A woman.", "gold": 2.5, "predicted": 1.25}
    hoc = [Example("1_s1", "Text.", (0, 1) + (0,) * 8)]
    line = json.loads(prediction_lines(TASKS["HoC"], hoc, [(0, 1) + (0,) * 8]))
    assert line["gold"] == line["predicted"] and line["correct"] is True


def _result(task: str, mean: float, std: float = 0.01, fractions=None, split="dev") -> dict:
    result = {"task": task, "blurb_type": TASKS[task].blurb_type, "metric": "m", "split": split, "mean": mean,
              "std": std, "scores": [mean - std, mean + std], "train_examples": 100, "eval_examples": 50}
    if fractions:
        result["fractions"] = [{"fraction": f, "train_examples": int(100 * f), "mean": m, "std": std,
                                "scores": [m - std, m + std]} for f, m in fractions]
    return result


def _write_run(directory: Path, results: list[dict]) -> str:
    directory.mkdir(parents=True)
    for result in results:
        (directory / f"{result['task']}.json").write_text(json.dumps(result))
    (directory / "blurb.json").write_text(json.dumps({"blurb_score": 0.5}))  # not a task: skipped
    return str(directory)


def test_compare_reports_scores_gains_and_learning_curves(tmp_path, capsys):
    random = _write_run(tmp_path / "random-init", [
        _result("BC5CDR-chem", 0.20, fractions=[(0.1, 0.02), (1.0, 0.20)]), _result("BIOSSES", 0.30)])
    pretrained = _write_run(tmp_path / "pretrained", [
        _result("BC5CDR-chem", 0.27, fractions=[(0.1, 0.12), (1.0, 0.27)]), _result("BIOSSES", 0.40),
        _result("DDI", 0.5)])
    output = tmp_path / "compare"
    assert cli.main(["compare", random, pretrained, "--output", str(output)]) == 0
    text = (output / "compare.md").read_text()
    assert text in capsys.readouterr().out
    assert "| BC5CDR-chem | m | 20.00 ± 1.00 | 27.00 ± 1.00 | +7.00 (± 1.00) |" in text
    assert "| DDI | m | — | 50.00 ± 1.00 | — |" in text
    assert "- BLURB score over the 2 tasks both have: pretrained 33.50, random-init 25.00 (+8.50)" in text
    assert "| BC5CDR-chem | 0.1 (10) | +10.00 (± 1.00) |" in text
    assert ("Largest gain: pretrained over random-init on BC5CDR-chem with 0.1 of the training examples (10): "
            "+10.00 (± 1.00).") in text
    data = json.loads((output / "compare.json").read_text())
    assert data["tasks"]["BIOSSES"]["gains"]["pretrained"]["gain"] == pytest.approx(0.10)
    for name in ("compare.png", "compare_gains.png", "compare_curves.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (output / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "<td>+7.00 (± 1.00)</td>" in page
    # Names, and errors as one line.
    assert cli.main(["compare", random, pretrained, "--output", str(output), "--names", "a,b"]) == 0
    assert "| task | metric | a (dev) | b (dev) | gain b − a |" in (output / "compare.md").read_text()
    assert cli.main(["compare", str(tmp_path / "nothing"), "--output", str(output)]) == 2


def test_blurb_report_plots_our_scores_against_the_anchors(tmp_path):
    results = [_result("NCBI-disease", 0.6, fractions=[(0.5, 0.5), (1.0, 0.6)]), _result("PubMedQA", 0.5)]
    table = markdown_table(results, 0.55)
    assert "| NCBI-disease | 50.00 ± 1.00 (n=50) | 60.00 ± 1.00 (n=100) |" in curve_table(results)
    assert curve_table(results).splitlines()[0] in table
    paths = report.write_blurb_report(str(tmp_path), results, table)
    assert Path(paths["png"]).read_bytes()[:4] == b"\x89PNG" and Path(paths["curves"]).exists()
    page = Path(paths["html"]).read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "<td>NCBI-disease</td>" in page and "<b>55.00</b>" in page and "<td>87.82</td>" in page
