"""The pretrain CLI end to end on real GENIA shards: learning, kill-and-resume, data checks,
and train/evaluate/export on TensorFlow's ram:// filesystem with the export loaded by transformers."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pretrain import cli
from pretrain.data import DataMismatchError, check_data
from pretrain.files import read_vocabulary
from tests.fixtures import REPO, genia_documents
from tests.pretrain_data import build_examples, read_scalars, write_shards, write_vocabulary

pytestmark = pytest.mark.slow  # real training runs, a killed and resumed one, two devices: about 2 minutes

LENGTH = 64
# The tiny size: a 2-layer, 64-wide discriminator with a 32-wide generator, batch 16.
TINY = ["--model-size", "tiny", "--max-seq-length", str(LENGTH)]


@pytest.fixture(scope="module")
def genia(tmp_path_factory) -> dict[str, str]:
    """A vocabulary trained on GENIA, 135 training examples (30 abstracts) and 88 held out."""
    root = tmp_path_factory.mktemp("genia")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    train = build_examples(documents[20:50], vocab, LENGTH, seed=1)
    held_out = build_examples(documents[:20], vocab, LENGTH, seed=2)
    return {"vocab": vocab, "root": str(root),
            "train": write_shards(str(root / "train"), train, vocab, LENGTH, num_shards=2),
            "eval": write_shards(str(root / "eval"), held_out, vocab, LENGTH, num_shards=1)}


def _train(genia: dict, output: str, *extra: str) -> int:
    return cli.main(["train", "--data", genia["train"], "--vocab", genia["vocab"],
                     "--output", output, *TINY, *extra])


def _evaluate(checkpoint: str, data: str, tmp_path: Path) -> dict:
    out = tmp_path / "metrics.json"
    assert cli.main(["evaluate", "--checkpoint", checkpoint, "--data", data,
                     "--output-json", str(out)]) == 0
    return json.loads(out.read_text())


def test_training_learns_the_replaced_token_task(genia, tmp_path, caplog):
    run = str(tmp_path / "run")
    assert _train(genia, run, "--train-steps", "200", "--steps-per-loop", "50",
                  "--log-every", "50", "--peak-tflops", "0.1") == 0
    logged = read_scalars(f"{run}/train")
    assert sorted(logged["loss"]) == [50, 100, 150, 200]
    for tag in ("generator/accuracy", "discriminator/accuracy", "discriminator/precision",
                "discriminator/recall", "discriminator/auc", "learning_rate", "grad_norm"):
        assert sorted(logged[tag]) == [50, 100, 150, 200], tag
    # The first call compiles and is not timed; later intervals report throughput and MFU.
    assert sorted(logged["examples_per_second"]) == sorted(logged["mfu"]) == [100, 150, 200]
    assert 0 < logged["mfu"][200] < 1 and logged["examples_per_second"][200] > 10
    assert logged["loss"][200] < logged["loss"][50] - 2.0
    assert logged["generator/loss"][200] < logged["generator/loss"][50]
    assert logged["generator/accuracy"][200] > logged["generator/accuracy"][50]

    metrics = _evaluate(run, genia["train"], tmp_path)
    all_original = 1.0 - metrics["replaced_fraction"]
    assert metrics["step"] == 200 and metrics["examples"] == 135
    assert metrics["discriminator_accuracy"] > all_original + 0.003
    assert metrics["discriminator_auc"] > 0.55
    assert metrics["discriminator_precision"] > 0.5

    # Continuing with other shards: weights, optimizer and step resume, the data is read afresh.
    with caplog.at_level(logging.WARNING, logger="pretrain.training"):
        assert cli.main(["train", "--data", genia["train"].replace("*", "00000-of-00002"),
                         "--vocab", genia["vocab"], "--output", run, *TINY, "--train-steps", "210",
                         "--steps-per-loop", "10", "--log-every", "10"]) == 0
    assert "data files or the shuffle buffer changed" in caplog.text
    assert tf.train.latest_checkpoint(run).endswith("ckpt-210")

    held_out = _evaluate(run, genia["eval"], tmp_path)
    assert held_out["examples"] == 88 and held_out["step"] == 210
    assert 0.0 < held_out["generator_loss"] < np.log(2000) and held_out["replaced_fraction"] > 0.05
    assert read_scalars(f"{run}/eval")["discriminator/auc"][210] == pytest.approx(
        held_out["discriminator_auc"])


def test_kill_and_resume_continues_exactly(genia, tmp_path):
    """SIGKILL mid-run, re-run the same command: it resumes at the checkpoint's step and every
    later step's loss equals an uninterrupted run's (same seed)."""
    args = ["--train-steps", "20", "--steps-per-loop", "1", "--log-every", "1", "--save-every", "5"]
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "pretrain", "train", "--data", genia["train"],
               "--vocab", genia["vocab"], "--output", str(killed), *TINY, *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint").exists():  # written once ckpt-5 is complete
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_from = int(tf.train.latest_checkpoint(str(killed)).rsplit("-", 1)[1])
    assert 5 <= resumed_from < 20, "the run must be interrupted before its end"

    # The same command again, and the reference, each in a fresh process as a user runs them: this test
    # process may hold TensorFlow state from other tests (e.g. a global seed, which changes tf.data's
    # shuffle order) that the killed run did not have.
    def same_command(output):
        command[command.index("--output") + 1] = str(output)
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=300)

    assert same_command(killed).returncode == 0
    uninterrupted = tmp_path / "uninterrupted"
    assert same_command(uninterrupted).returncode == 0

    resumed_loss = read_scalars(f"{killed}/train")["loss"]
    reference = read_scalars(f"{uninterrupted}/train")["loss"]
    later = range(resumed_from + 1, 21)
    assert [resumed_loss[s] for s in later] == [reference[s] for s in later]
    assert tf.train.latest_checkpoint(str(killed)).endswith("ckpt-20")
    # Same total again: nothing to do, nothing changes.
    assert _train(genia, str(killed), *args) == 0
    assert tf.train.latest_checkpoint(str(killed)).endswith("ckpt-20")
    # A larger total continues the run; SIGTERM (a preemption notice) checkpoints the step reached
    # and returns cleanly.
    def terminate_once_handled() -> None:
        while signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            time.sleep(0.01)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_handled, daemon=True).start()
    assert _train(genia, str(killed), *args[2:], "--train-steps", "1000") == 0
    stopped_at = int(tf.train.latest_checkpoint(str(killed)).rsplit("-", 1)[1])
    assert 20 < stopped_at < 1000
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    # Anything else that differs from the run in the directory is refused.
    assert _train(genia, str(killed), *args[2:], "--train-steps", "1000",
                  "--set", "mask_prob=0.2") == 2


def test_mismatched_data_and_vocabulary_are_clear_errors(genia, tmp_path, caplog):
    files = tf.io.gfile.glob(genia["train"])
    vocab = read_vocabulary(genia["vocab"])
    assert check_data(files, vocab, None) == LENGTH

    with pytest.raises(DataMismatchError, match="max_seq_length=64 but is being read with max_seq_length=128"):
        check_data(files, vocab, 128)

    other = tmp_path / "other"
    other.mkdir()
    lines = Path(genia["vocab"], "vocab.txt").read_text().splitlines()
    (other / "vocab.txt").write_text("\n".join(lines[:-1]) + "\n")
    (other / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    with pytest.raises(DataMismatchError, match="vocab_size: data 2000, vocabulary 1999"):
        check_data(files, read_vocabulary(str(other)), LENGTH)

    (other / "vocab.txt").write_text("\n".join(lines[:-1] + ["zzzz"]) + "\n")
    with pytest.raises(DataMismatchError, match="another vocabulary or casing than the vocabulary in .*other: vocab_sha256: data"):
        check_data(files, read_vocabulary(str(other)), LENGTH)

    (other / "vocab.txt").write_text("\n".join(lines) + "\n")
    (other / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    with pytest.raises(DataMismatchError, match="do_lower_case: data True, vocabulary False"):
        check_data(files, read_vocabulary(str(other)), LENGTH)

    # The CLI reports the same as one clear line and a non-zero status, before any training.
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", genia["train"], "--vocab", genia["vocab"],
                           "--output", str(tmp_path / "never"), "--model-size", "tiny",
                           "--max-seq-length", "128"])
    assert status == 2 and "being read with max_seq_length=128" in caplog.text
    assert not (tmp_path / "never").exists()

    # Without pretrain_data.json: a warning, and the length still comes from the shards.
    bare = write_shards(str(tmp_path / "bare"), build_examples(
        genia_documents()[:5], genia["vocab"], 32), genia["vocab"], 32, num_shards=1,
        data_info=False)
    with caplog.at_level(logging.WARNING, logger="pretraining_data.contract"):
        assert check_data(tf.io.gfile.glob(bare), vocab, None) == 32
    assert "no pretrain_data.json in" in caplog.text
    with pytest.raises(DataMismatchError, match="examples have length 32 but max_seq_length is 64"):
        check_data(tf.io.gfile.glob(bare), vocab, LENGTH)


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pretrain import config as config_lib, data
from pretrain.training import Trainer
from pretrain.files import read_vocabulary
vocab = read_vocabulary(sys.argv[1])
config = config_lib.for_size("tiny", dict(
    vocab_size=vocab.size, cls_id=vocab.cls_id, sep_id=vocab.sep_id, mask_id=vocab.mask_id,
    pad_id=vocab.pad_id, hidden_size=64, embedding_size=64, max_seq_length=64, batch_size=16,
    train_steps=16, warmup_steps=4))
trainer = Trainer(config, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
iterator = iter(data.training_dataset(data.resolve_files(sys.argv[2]), 16, 64, seed=1))
results = [trainer.train_loop(iterator, tf.constant(8)) for _ in range(2)]
losses = [float(r["loss_sum"]) / 8 for r in results]
copies = [float(tf.reduce_sum(v)) for v in trainer.model.embeddings.word_embeddings.values]
print(json.dumps({"replicas": trainer.replicas, "step": trainer.current_step(), "losses": losses,
                  "copies": copies, "divergence": [r["divergence"].numpy().tolist() for r in results],
                  "nonfinite": trainer.nonfinite_variables()}))
"""


def test_mirrored_strategy_on_two_devices(genia):
    """Two replicas (logical CPUs): per-replica slices of one global batch, all-reduced gradients,
    the optimiser run on each copy, identical weights on both devices."""
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, genia["vocab"], genia["train"]],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["step"] == 16
    assert report["copies"][0] == report["copies"][1]
    assert np.isfinite(report["losses"]).all() and report["losses"][1] < report["losses"][0]
    # The divergence guard, reduced over the replicas, found nothing; nor did the check before a save.
    assert report["divergence"] == [[0.0] * 4] * 2 and report["nonfinite"] == []
