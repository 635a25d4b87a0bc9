"""Fine-tuning for real: a tiny ELECTRA pretrained here on GENIA, then every head type trained on
small slices of the real BLURB fixtures through the CLI."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from evaluation.readers import read_iob
from evaluation.tasks import TASKS, Example
from finetune import cli, scoring
from finetune.features import IGNORE, Featurizer
from finetune.model import FineTuningModel, LayerwiseAdamW, layer_depth, load_encoder
from pretrain import cli as pretrain_cli
from pretrain.optimization import warmup_then_decay
from tests.fixtures import DATA, REPO, genia_documents
from tests.pretrain_data import build_examples, write_shards, write_vocabulary

pytestmark = pytest.mark.slow  # pretrains a tiny model, then fine-tunes every head type, also on two devices

BLURB = DATA / "blurb"
LENGTH = 64
UNUSED = [f"[unused{i}]" for i in range(4)]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    """A 2-layer ELECTRA pretrained for 40 steps on GENIA; its vocabulary has 4 [unused*] slots."""
    root = tmp_path_factory.mktemp("tiny")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    with open(f"{vocab}/vocab.txt", "a", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in UNUSED))
    shards = write_shards(str(root / "shards"), build_examples(documents, vocab, LENGTH, seed=1),
                          vocab, LENGTH, num_shards=2)
    run = str(root / "run")
    assert pretrain_cli.main(["train", "--data", shards, "--vocab", vocab, "--output", run,
                              "--model-size", "tiny", "--max-seq-length", str(LENGTH),
                              "--train-steps", "40", "--steps-per-loop", "20",
                              "--log-every", "40"]) == 0
    return run


def _tsv_slice(source: Path, target: Path, rows: list[int], header: bool) -> None:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:] if header else lines
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(([lines[0]] if header else []) + [body[i] for i in rows]),
                      encoding="utf-8")


@pytest.fixture(scope="module")
def blurb_slices(tmp_path_factory) -> Path:
    """Small train/dev files in BLURB's layout, cut from the fixture copies (unmodified lines)."""
    root = tmp_path_factory.mktemp("blurb")
    sentences = (BLURB / "ner/BC5CDR-chem-IOB/devel.tsv").read_text().split("\n\n")
    ner = root / "ner/BC5CDR-chem-IOB"
    ner.mkdir(parents=True)
    (ner / "train.tsv").write_text("\n\n".join(sentences[:80]) + "\n\n")
    (ner / "devel.tsv").write_text("\n\n".join(sentences[80:120]) + "\n\n")
    _tsv_slice(BLURB / "re/DDI/dev.tsv", root / "re/DDI/train.tsv", list(range(0, 1200, 20)), False)
    _tsv_slice(BLURB / "re/DDI/dev.tsv", root / "re/DDI/dev.tsv", list(range(1, 1200, 30)), False)
    _tsv_slice(BLURB / "classification/HoC/dev.tsv", root / "classification/HoC/train.tsv",
               list(range(60)), True)
    _tsv_slice(BLURB / "classification/HoC/dev.tsv", root / "classification/HoC/dev.tsv",
               list(range(60, 90)), True)
    for split in ("train", "dev"):
        _tsv_slice(BLURB / f"similarity/BIOSSES/{split}.tsv",
                   root / f"similarity/BIOSSES/{split}.tsv", list(range(16)), True)
    # EBM-PICO in BLURB's format (-DOCSTART- lines, IO tags): no EBM-NLP copy is bundled, so the
    # chemical slice's mentions stand in for interventions.
    (root / "ner/ebmnlp").mkdir(parents=True)
    for split, part in (("train", sentences[:80]), ("dev", sentences[80:120])):
        io = "\n\n".join(part).replace("\tB-Chemical", "\tI-INT")
        io = io.replace("\tI-Chemical", "\tI-INT")
        (root / f"ner/ebmnlp/{split}.tsv").write_text(f"-DOCSTART- (0)\n\n{io}\n\n")
    records = list(json.loads((BLURB / "qa/PubMedQA/ori_pqal.json").read_text()).items())
    (root / "qa/PubMedQA").mkdir(parents=True)
    (root / "qa/PubMedQA/train.json").write_text(json.dumps(dict(records[:40])))
    (root / "qa/PubMedQA/dev.json").write_text(json.dumps(dict(records[40:60])))
    return root


def test_layerwise_learning_rates_and_schedule():
    # ELECTRA: decay ** (layers + 2 - depth); embeddings at depth 0, the head at layers + 2.
    assert layer_depth("electra/embeddings/word_embeddings", 2) == 0
    assert layer_depth("electra/encoder/layer_1/output/dense/kernel", 2) == 2
    assert layer_depth("task_specific/dense/kernel", 2) == 4
    names = [("electra/embeddings/LayerNorm/gamma", tf.Variable([1.0])),
             ("electra/encoder/layer_0/attention/self/query/kernel", tf.Variable([1.0])),
             ("task_specific/dense/bias", tf.Variable([1.0]))]
    optimizer = LayerwiseAdamW(names, num_layers=2, layerwise_decay=0.8)
    assert optimizer.lr_scales == pytest.approx([0.8 ** 4, 0.8 ** 3, 1.0])
    assert optimizer.decay == [False, True, False]  # no weight decay on LayerNorm and bias
    lrs = [float(warmup_then_decay(tf.constant(s), 1e-4, 100, 10)) for s in (0, 5, 10, 55, 100)]
    assert lrs == pytest.approx([0.0, 4.75e-5, 9e-5, 4.5e-5, 0.0])


def test_features_label_the_first_word_piece_and_map_entity_markers(tiny_run):
    ner = Featurizer(f"{tiny_run}/vocab", TASKS["BC5CDR-chem"], LENGTH)
    sentence = read_iob(str(BLURB / "ner/BC5CDR-chem-IOB/devel.tsv"))[0]
    features = ner.features([sentence], {"O": 0, "B-Chemical": 1, "I-Chemical": 2})
    starts = features.word_starts[0]
    assert starts[0] == 1  # after [CLS]
    scored = np.flatnonzero(features.labels[0] != IGNORE)
    assert list(scored) == [p for p in starts if p >= 0]  # only first word-pieces are scored
    assert list(features.labels[0][scored[:4]]) == [1, 2, 2, 0]
    relation = Featurizer(f"{tiny_run}/vocab", TASKS["DDI"], LENGTH)
    example = Example("x", "@DRUG$ increases @DRUG$ levels.", "DDI-mechanism")
    ids = relation.features([example], labels=TASKS["DDI"].labels).input_ids[0]
    unused0 = relation.tokenizer.token_to_id("[unused0]")
    assert unused0 is not None and list(ids).count(unused0) == 2  # one slot, never split


def test_random_init_is_the_same_architecture_with_other_weights(tiny_run):
    pretrained = load_encoder(tiny_run)
    random_a, random_b = load_encoder(tiny_run, 7), load_encoder(tiny_run, 7)
    shapes = [v.shape for v in pretrained.trainable_variables]
    assert [v.shape for v in random_a.trainable_variables] == shapes
    word = lambda e: e.embeddings.word_embeddings.numpy()  # noqa: E731
    assert not np.allclose(word(pretrained), word(random_a))
    np.testing.assert_array_equal(word(random_a), word(random_b))
    model = FineTuningModel(pretrained, "token", 3)
    ids = tf.constant([[2, 10, 11, 3, 0]])
    logits = model(ids, tf.constant([[1, 1, 1, 1, 0]]), tf.zeros_like(ids))
    assert logits.shape == (1, 5, 3)


def test_blurb_fine_tunes_every_head_type(tiny_run, blurb_slices, tmp_path, capsys):
    output = tmp_path / "blurb"
    assert cli.main(["blurb", "--data", str(blurb_slices), "--checkpoint", tiny_run,
                     "--output", str(output), "--epochs", "3", "--learning-rate", "1e-3",
                     "--batch-size", "16", "--max-seq-length", str(LENGTH)]) == 0
    results = {name: json.loads((output / f"{name}.json").read_text())
               for name in ("BC5CDR-chem", "EBM-PICO", "DDI", "HoC", "BIOSSES", "PubMedQA")}
    for name, result in results.items():
        assert -1.0 <= result["mean"] <= 1.0, name
        trial = result["trials"][0]
        assert trial["last_loss"] < trial["first_loss"], name  # it learns
    assert results["BC5CDR-chem"]["train_examples"] == 80
    assert results["BC5CDR-chem"]["metric"] == "entity-level F1 (seqeval)"
    assert results["DDI"]["metric"] == "micro F1, positive classes"
    assert results["EBM-PICO"]["metric"] == "macro word-level F1 (PICO classes)"
    summary = json.loads((output / "blurb.json").read_text())
    expected = scoring.blurb_score({n: r["mean"] for n, r in results.items()},
                                   {n: r["blurb_type"] for n, r in results.items()})
    assert summary["blurb_score"] == pytest.approx(expected)
    assert "NCBI-disease" in summary["missing"]
    table = (output / "blurb.md").read_text()
    assert f"**{100 * expected:.2f}**" in table and "| HoC | document classification |" in table
    assert table in capsys.readouterr().out


def test_trials_report_mean_and_std(tiny_run, blurb_slices, tmp_path):
    output = tmp_path / "run"
    assert cli.main(["run", "--task", "BC5CDR-chem", "--data", str(blurb_slices),
                     "--checkpoint", tiny_run, "--output", str(output), "--trials", "2",
                     "--seed", "3", "--epochs", "1", "--max-seq-length", str(LENGTH)]) == 0
    result = json.loads((output / "BC5CDR-chem.json").read_text())
    assert [t["seed"] for t in result["trials"]] == [3, 4]
    assert result["mean"] == pytest.approx(np.mean(result["scores"]))
    assert result["std"] == pytest.approx(np.std(result["scores"], ddof=1))
    task = TASKS["BC5CDR-chem"]  # the flags given win; the task's defaults fill the rest
    assert result["settings"] == {
        "epochs": 1.0, "learning_rate": task.learning_rate, "batch_size": task.batch_size,
        "max_seq_length": LENGTH, "layerwise_decay": 0.8, "warmup_fraction": 0.1, "weight_decay": 0.01,
        "dropout": 0.1, "random_init": False}


def test_missing_data_is_a_clear_error(tiny_run, tmp_path, caplog):
    assert cli.main(["run", "--task", "ChemProt", "--data", str(tmp_path), "--checkpoint",
                     tiny_run, "--output", str(tmp_path / "out")]) == 2
    assert "chemprot/train.tsv does not exist" in caplog.text


MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from evaluation.layouts import read_split
from evaluation.tasks import TASKS
from finetune.training import Options, _Trial, featurize, resolved, run_task
run, data = sys.argv[1:3]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
task = TASKS["BC5CDR-chem"]
options = Options(epochs=2, learning_rate=1e-3, batch_size=8, max_seq_length=64,
                  max_train_examples=40, max_eval_examples=20)
result = run_task(task, data, run, options, strategy=strategy)
prepared = featurize(task, read_split(task, data, "train")[:16],
                     read_split(task, data, "dev")[:21], run, 64)
trial = _Trial(task, run, resolved(task, options), len(prepared.labels), 0, 4, strategy, False)
word = trial.model.encoder.embeddings.word_embeddings
before = word.values[0].numpy()
train = prepared.train
for step in (1, 2):
    rows = slice(8 * (step - 1), 8 * step)
    batch = tuple(tf.constant(a[rows]) for a in
                  (train.input_ids, train.input_mask, train.segment_ids, train.labels))
    trial.train_step(tf.constant(step, tf.int64), batch)
dev = prepared.evaluation
predicted = trial.predict(dev, batch=4)
direct = trial.model(*(tf.constant(a) for a in (dev.input_ids, dev.input_mask,
                                                dev.segment_ids))).numpy()
copies = {name: [v.numpy().tolist() for v in variable.values] for name, variable in
          (("kernel", trial.model.kernel), ("word_embeddings", word))}
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "result": result,
                  "prediction_error": float(np.abs(predicted - direct).max()),
                  "rows": len(predicted), "copies_equal": {
                      name: values[0] == values[1] for name, values in copies.items()},
                  "embeddings_moved": float(np.abs(word.values[0].numpy() - before).max())}))
"""


def test_fine_tuning_under_mirrored_strategy_on_two_devices(tiny_run, blurb_slices):
    """Two replicas (logical CPUs): each takes its slice of the global batch, gradients are
    all-reduced, both copies stay identical, and sharded prediction returns the rows in order."""
    done = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, tiny_run, str(blurb_slices)],
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    trial = report["result"]["trials"][0]
    assert trial["steps"] == 10 and trial["last_loss"] < trial["first_loss"]
    assert 0.0 <= report["result"]["mean"] <= 1.0
    # Two trained steps: both device copies of the head and of the embeddings moved identically.
    assert report["copies_equal"] == {"kernel": True, "word_embeddings": True}
    assert report["embeddings_moved"] > 0
    assert report["rows"] == 21 and report["prediction_error"] < 1e-5


def test_a_diverging_trial_stops_with_the_task_seed_and_step(tiny_run, blurb_slices, tmp_path,
                                                              caplog):
    """An absurd rate: the loss is NaN after the first real update; the trial stops at the end of that
    epoch (the losses are read once per epoch) with exit status 3 and writes no result."""
    output = tmp_path / "run"
    assert cli.main(["run", "--task", "BC5CDR-chem", "--data", str(blurb_slices),
                     "--checkpoint", tiny_run, "--output", str(output), "--seed", "5",
                     "--learning-rate", "1e37", "--epochs", "3", "--batch-size", "16",
                     "--max-train-examples", "32", "--max-seq-length", str(LENGTH)]) == 3
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["fine-tuning diverged: BC5CDR-chem seed 5: loss is nan at step 2 of 6 "
                      "(learning rate 6.7e+36, peak 1.0e+37); lower --learning-rate"]
    assert not (output / "BC5CDR-chem.json").exists()


def test_blurb_records_a_diverged_task_runs_the_others_and_fails_at_the_end(
        tiny_run, blurb_slices, tmp_path, monkeypatch, caplog):
    data = tmp_path / "data"
    for part in ("ner/BC5CDR-chem-IOB", "similarity/BIOSSES"):
        (data / part).parent.mkdir(parents=True, exist_ok=True)
        (data / part).symlink_to(blurb_slices / part)
    # BIOSSES alone with an absurd default rate: it diverges, BC5CDR-chem (run before it) and the
    # table do not suffer.
    monkeypatch.setitem(TASKS, "BIOSSES", dataclasses.replace(TASKS["BIOSSES"], learning_rate=1e37))
    output = tmp_path / "blurb"
    assert cli.main(["blurb", "--data", str(data), "--checkpoint", tiny_run, "--output", str(output),
                     "--epochs", "3", "--batch-size", "16", "--max-train-examples", "32",
                     "--max-seq-length", str(LENGTH)]) == 3
    summary = json.loads((output / "blurb.json").read_text())
    assert summary["tasks"] == ["BC5CDR-chem"] and list(summary["failed"]) == ["BIOSSES"]
    assert summary["failed"]["BIOSSES"].startswith(
        "fine-tuning diverged: BIOSSES seed 0: loss is ")
    assert summary["blurb_score"] == pytest.approx(
        json.loads((output / "BC5CDR-chem.json").read_text())["mean"])
    assert not (output / "BIOSSES.json").exists()
    table = (output / "blurb.md").read_text()
    assert "Failed (training diverged, no score; left out of the BLURB score): BIOSSES." in table
    assert f"- {summary['failed']['BIOSSES']}\n" in table
    assert "1 of 2 tasks diverged and have no score: BIOSSES" in caplog.text


def test_blurb_runs_all_13_tasks_from_blurbs_own_data_directory(tiny_run, tmp_path, caplog):
    """`--data` is the directory BLURB's data-generation scripts write, as it is (untyped NER files,
    GAD's header, EBM-NLP's -DOCSTART- lines, PubMedQA's pqal_fold0/): every task runs, and the log
    names each task's directory and layout once."""
    from evaluation.layouts import BLURB as BLURB_LAYOUT
    from tests.blurb_data import write_blurb_directory

    data = write_blurb_directory(tmp_path / "data")
    output = tmp_path / "blurb"
    caplog.set_level(logging.INFO, logger="finetune")
    assert cli.main(["blurb", "--data", str(data), "--checkpoint", tiny_run, "--output", str(output),
                     "--epochs", "1", "--learning-rate", "1e-3", "--batch-size", "8",
                     "--max-seq-length", str(LENGTH), "--max-train-examples", "16",
                     "--max-eval-examples", "16"]) == 0
    summary = json.loads((output / "blurb.json").read_text())
    assert summary["tasks"] == list(TASKS) and summary["missing"] == [] and summary["failed"] == {}
    folders = {"ChemProt": "chemprot", "EBM-PICO": "ebmnlp", "PubMedQA": "pubmedqa"}
    said = [r.getMessage() for r in caplog.records if r.name == "finetune.training"
            and r.levelno == logging.INFO and BLURB_LAYOUT in r.getMessage()]
    assert [line.split(":")[0] for line in said] == list(TASKS)  # one line per task
    for line, name in zip(said, TASKS):
        assert line.startswith(f"{name}: {data}/{folders.get(name, name)} ({BLURB_LAYOUT}: ")
    for name in TASKS:
        result = json.loads((output / f"{name}.json").read_text())
        assert -1.0 <= result["mean"] <= 1.0 and result["train_examples"] <= 16, name
    assert json.loads((output / "JNLPBA.json").read_text())["metric"] == "entity-level F1 (seqeval)"
    assert summary["blurb_score"] is not None


def test_blue_and_the_clinical_tasks_end_to_end(tiny_run, blurb_slices, tmp_path, capsys):
    """The clinical tasks from small files in their distributed formats (tests/clinical_data.py: MedNLI's
    JSON lines, BLUE's MedSTS, ShARe/CLEFE and i2b2 2010 files) and BIOSSES from BLURB's files: `blue` runs
    the five in BLUE's order, scores each with its metric, and lists the other five as skipped with where
    their data comes from; the MEDIQA 2019 test is scored from its ground-truth CSV, and a model saved on it
    classifies the shared-task file."""
    import shutil

    from evaluation.tasks import BLUE, CLINICAL_TASKS
    from tests.clinical_data import MEDIQA_TEST, nli_pairs, write_clinical_directory

    data = write_clinical_directory(tmp_path / "data")
    shutil.copytree(blurb_slices / "similarity", data / "similarity")
    output = tmp_path / "blue"
    train = ["--epochs", "6", "--learning-rate", "1e-3", "--batch-size", "8", "--max-seq-length", str(LENGTH)]
    capsys.readouterr()
    assert cli.main(["blue", "--data", str(data), "--checkpoint", tiny_run, "--output", str(output), *train]) == 0
    summary = json.loads((output / "blue.json").read_text())
    ran = ["MedSTS", "BIOSSES", "ShARe-CLEFE", "i2b2-2010", "MedNLI"]
    assert summary["tasks"] == ran and summary["failed"] == {} and summary["split"] == "dev"
    assert [skip["task"] for skip in summary["skipped"]] == [name for name in BLUE if name not in ran]
    assert "physionet" not in json.dumps(summary["skipped"])  # the clinical tasks all ran
    assert summary["clinical"] == ["MedSTS", "ShARe-CLEFE", "i2b2-2010", "MedNLI"]
    assert list(summary["read_as_blurb"]) == ["BIOSSES"]
    assert {(f["model"], f["task"]) for f in summary["published"]["figures"]} == {
        ("BlueBERT", "MedSTS"), ("BlueBERT", "ShARe-CLEFE"), ("BlueBERT", "i2b2-2010"), ("BlueBERT", "MedNLI"),
        ("BioELECTRA", "MedNLI")}
    metrics = {"MedSTS": "Pearson", "BIOSSES": "Pearson", "ShARe-CLEFE": "entity-level F1 (seqeval)",
               "i2b2-2010": "micro F1, positive classes", "MedNLI": "accuracy"}
    for name in ran:
        result = json.loads((output / f"{name}.json").read_text())
        assert result["metric"] == metrics[name] and -1.0 <= result["mean"] <= 1.0, name
        trial = result["trials"][0]
        assert trial["last_loss"] < trial["first_loss"], name  # it learns
        if name in CLINICAL_TASKS:
            assert result["train_examples"] == 36 and result["eval_examples"] == 12, name
        predictions = (output / f"{name}.predictions.jsonl").read_text().splitlines()
        assert len(predictions) == result["eval_examples"], name
    first = json.loads((output / "MedNLI.predictions.jsonl").read_text().splitlines()[0])
    assert first["id"] == nli_pairs(36, 1)[0][0] and first["text_b"] == nli_pairs(36, 1)[0][2]
    table = (output / "blue.md").read_text()
    assert table in capsys.readouterr().out
    assert "| MedNLI | natural language inference | accuracy | " in table and "| 84.00 | 86.34 |" in table
    assert "Skipped (no training data): BC5CDR-disease, BC5CDR-chem, DDI, ChemProt, HoC." in table

    model, run = tmp_path / "mediqa-model", tmp_path / "mediqa"
    assert cli.main(["run", "--task", "MEDIQA-NLI", "--data", str(data), "--checkpoint", tiny_run, "--output",
                     str(run), "--eval-split", "test", "--save-model", str(model), *train]) == 0
    result = json.loads((run / "MEDIQA-NLI.json").read_text())
    assert result["split"] == "test" and result["eval_examples"] == MEDIQA_TEST[1]
    assert json.loads((model / "finetune.json").read_text())["task"] == "MEDIQA-NLI"
    assert "MEDIQA 2019's natural language inference" in (model / "README.md").read_text()
    predicted = tmp_path / "mediqa.jsonl"
    assert cli.main(["predict", "--model", str(model), "--input",
                     str(data / "mednli/mednli_bionlp_shared_task.jsonl"), "--output", str(predicted)]) == 0
    rows = [json.loads(line) for line in predicted.read_text().splitlines()]
    assert [(r["id"], r["gold"]) for r in rows] == [(p[0], p[3]) for p in nli_pairs(*MEDIQA_TEST)]
    scored = json.loads((run / "MEDIQA-NLI.predictions.jsonl").read_text().splitlines()[0])
    assert rows[0]["predicted"] == scored["predicted"]  # the saved model is the scored trial
