"""A diverging run must not train on: the guard inside the compiled loop (a non-finite loss or gradient norm
stops the run with exit status 3 and saves nothing from then on), the finiteness check before every save,
resuming from the last good checkpoint with a lower learning rate, fp16 overflow steps skipped and not
fatal, and export refusing a checkpoint with a NaN."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from pretrain import checkpoints, cli
from pretrain import config as config_lib
from pretrain.errors import NonFiniteError
from pretrain.files import read_vocabulary
from pretrain.training import RunOptions, Trainer, _copy_vocabulary, _save, nonfinite_gradients
from tests.fixtures import genia_documents
from tests.pretrain_data import build_examples, read_scalars, write_shards, write_vocabulary

LENGTH = 64
TINY = ["--model-size", "tiny", "--max-seq-length", str(LENGTH)]
# Adam's first real step (the warm-up makes step 1's rate 0) moves every weight by ~3 x the rate: with
# 1e37 the weights reach ~1e35 and the next forward pass overflows. Deterministic, and the checkpoint of
# step 1 still holds the initial weights, a good one.
ABSURD = ["--set", "learning_rate=1e37"]


@pytest.fixture(scope="module")
def genia(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("genia")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    train = build_examples(documents[20:50], vocab, LENGTH, seed=1)
    return {"vocab": vocab, "train": write_shards(str(root / "train"), train, vocab, LENGTH,
                                                  num_shards=2)}


def _train(genia: dict, output, *extra: str) -> int:
    return cli.main(["train", "--data", genia["train"], "--vocab", genia["vocab"],
                     "--output", str(output), *TINY, *extra])


def _saved(run) -> dict[int, str]:
    """Every checkpoint in the run directory (index or not), by step."""
    return {int(name.split("-")[1].split(".")[0]): f"{run}/{name.removesuffix('.index')}"
            for name in tf.io.gfile.listdir(str(run)) if name.endswith(".index")}


def _all_finite(prefix: str) -> bool:
    reader = checkpoints.reader(prefix)
    floats = [name for name, dtype in reader.get_variable_to_dtype_map().items() if dtype.is_floating]
    assert len(floats) >= 3 * 80  # the 80 weights, Adam's m and v
    return all(np.isfinite(reader.get_tensor(name)).all() for name in floats)


def _tiny_config(vocab_dir: str) -> config_lib.PretrainConfig:
    vocab = read_vocabulary(vocab_dir)
    return config_lib.for_size("tiny", dict(
        vocab_size=vocab.size, vocab_sha256=vocab.sha256, cls_id=vocab.cls_id,
        sep_id=vocab.sep_id, mask_id=vocab.mask_id, pad_id=vocab.pad_id, max_seq_length=LENGTH))


def test_guard_verdicts_on_the_gradient_norm():
    """fp32/bf16: any non-finite norm is fatal. fp16: an overflow is the loss scale's business while
    the scale can still be halved; at its minimum, 1, the gradients are non-finite unscaled."""
    inf, nan = tf.constant(np.inf), tf.constant(np.nan)
    no, yes = tf.constant(False), tf.constant(True)
    verdict = lambda *args: bool(nonfinite_gradients(*args))  # noqa: E731
    assert not verdict(tf.constant(3.0), yes, None)
    assert verdict(inf, yes, None) and verdict(nan, yes, None)
    assert not verdict(inf, no, tf.constant(2.0 ** 15))  # skipped, the scale halves
    assert not verdict(nan, no, tf.constant(2.0))
    assert verdict(inf, no, tf.constant(1.0))  # nothing left to halve
    assert verdict(inf, yes, tf.constant(2.0 ** 15))  # finite gradients whose norm overflows
    assert not verdict(tf.constant(3.0), yes, tf.constant(1.0))


def test_a_checkpoint_with_a_nan_is_never_saved(genia, tmp_path):
    trainer = Trainer(_tiny_config(genia["vocab"]), tf.distribute.get_strategy())
    assert trainer.nonfinite_variables() == []
    run = str(tmp_path / "run")
    manager = tf.train.CheckpointManager(trainer.checkpoint(), run, max_to_keep=2,
                                         checkpoint_name="ckpt")
    trainer.step.assign(1)
    _save(trainer, manager, 1, RunOptions(data="", output=run))
    kernel = dict(trainer.model.tf1_variables())["electra/encoder/layer_1/output/dense/kernel"]
    kernel.assign(tf.tensor_scatter_nd_update(kernel, [[0, 0]], [np.nan]))
    trainer.optimizer.v[0].assign(tf.fill(trainer.optimizer.v[0].shape, np.inf))
    assert trainer.nonfinite_variables() == [
        "electra/encoder/layer_1/output/dense/kernel", "electra/embeddings/word_embeddings/adam_v"]
    with pytest.raises(NonFiniteError, match=(
            r"refusing to save step 2: 2 variable\(s\) hold NaN or infinite values \(electra/encoder/"
            r"layer_1/output/dense/kernel, electra/embeddings/word_embeddings/adam_v\); the last good "
            r"checkpoint is .*/run/ckpt-1 \(step 1\)")):
        trainer.step.assign(2)
        _save(trainer, manager, 2, RunOptions(data="", output=run))
    assert sorted(_saved(run)) == [1]


def test_export_refuses_a_checkpoint_with_a_nan_and_writes_nothing(genia, tmp_path, caplog):
    run = str(tmp_path / "run")
    config = _tiny_config(genia["vocab"])
    config_lib.save(config, run)
    _copy_vocabulary(read_vocabulary(genia["vocab"]), run)
    trainer = Trainer(config, tf.distribute.get_strategy())
    bias = dict(trainer.model.tf1_variables())["generator_predictions/output_bias"]
    bias.assign(tf.tensor_scatter_nd_update(bias, [[7], [8]], [np.nan, np.inf]))
    prefix = trainer.checkpoint().write(f"{run}/ckpt-3")  # the checkpoint API, bypassing the guard
    output = tmp_path / "export"
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        assert cli.main(["export", "--checkpoint", prefix, "--output", str(output)]) == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"{prefix}: generator_predictions/output_bias holds 2 non-finite value(s) "
                      f"(inf/nan) of {config.vocab_size}; nothing exported (export an earlier "
                      f"checkpoint of the run, --checkpoint {run}/ckpt-N)"]
    assert not output.exists()


@pytest.mark.slow
def test_divergence_inside_a_loop_saves_nothing_not_even_on_sigterm(genia, tmp_path, caplog):
    """Steps 1-5 in one host call: the loss is NaN from step 3; the guard names step 3, and none of
    the saves this call would have made happens: periodic (5 % 5), final (5 of 5), SIGTERM."""
    sent = threading.Event()

    def terminate_once_handled() -> None:
        while signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            time.sleep(0.01)
        time.sleep(0.2)  # while the loop runs (compiling it alone takes seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        sent.set()

    threading.Thread(target=terminate_once_handled, daemon=True).start()
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        assert _train(genia, run, *ABSURD, "--train-steps", "5", "--steps-per-loop", "5",
                      "--log-every", "5", "--save-every", "5") == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "training diverged: loss is nan at step 3 (learning rate 2.4e+35, peak 1.0e+37); no "
        "checkpoint was saved — lower --set learning_rate=... (or raise --set warmup_steps=...) "
        "and re-run the same command: it starts again from step 0"]
    assert sent.is_set()
    assert _saved(run) == {} and tf.train.latest_checkpoint(str(run)) is None
    assert not [r for r in caplog.records if r.getMessage().startswith(("saved", "SIGTERM"))]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
def test_diverged_run_resumes_from_the_last_good_checkpoint_with_a_lower_rate(genia, tmp_path,
                                                                               caplog):
    run = tmp_path / "run"
    every_step = ["--train-steps", "12", "--steps-per-loop", "1", "--log-every", "1",
                  "--save-every", "1"]
    with caplog.at_level(logging.INFO):
        assert _train(genia, run, *ABSURD, *every_step) == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    # Step 3's loss is NaN; ckpt-2 holds the weights that gave it (resuming from it would diverge
    # again whatever the rate), so ckpt-1 is the last good one and the index is rolled back to it.
    assert errors == [
        f"training diverged: loss is nan at step 3 (learning rate 3.3e+35, peak 1.0e+37); the last "
        f"good checkpoint is {run}/ckpt-1 (step 1): {run}/ckpt-2 holds the weights that gave it and "
        f"was taken out of the checkpoint index — lower --set learning_rate=... (or raise --set "
        f"warmup_steps=...) and re-run the same command to resume from {run}/ckpt-1"]
    saved = _saved(run)
    assert sorted(saved) == [1, 2]  # nothing after the divergence
    assert all(_all_finite(prefix) for prefix in saved.values())
    assert tf.train.latest_checkpoint(str(run)) == saved[1]

    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert _train(genia, run, "--set", "learning_rate=1e-3", "--train-steps", "12",
                      "--steps-per-loop", "4", "--log-every", "4", "--save-every", "4") == 0
    assert "learning_rate was 1e+37, now 0.001" in caplog.text
    assert f"resumed from {run}/ckpt-1 at step 1" in caplog.text
    assert tf.train.latest_checkpoint(str(run)) == f"{run}/ckpt-12"
    assert _all_finite(f"{run}/ckpt-12")
    loss = read_scalars(f"{run}/train")["loss"]
    assert np.isfinite([loss[4], loss[8], loss[12]]).all() and loss[12] < loss[4]
    # Other settings than the schedule still may not change.
    assert _train(genia, run, "--set", "learning_rate=1e-3", "--train-steps", "12",
                  "--set", "mask_prob=0.2") == 2


@pytest.mark.slow
def test_fp16_overflow_steps_are_skipped_not_fatal(genia, tmp_path, caplog):
    """The dynamic loss scale starts at 2**15, which overflows float16 on the first steps of the tiny
    model: those steps are skipped and the scale halved, and the run goes on (fp16 is emulated on CPU,
    hence the small batch)."""
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        assert _train(genia, run, "--mixed-precision", "fp16", "--batch-size", "4",
                      "--train-steps", "6", "--steps-per-loop", "6", "--log-every", "6") == 0
    skipped = read_scalars(f"{run}/train")["skipped_steps"][6]
    assert 1 <= skipped < 6 and "fp16 overflow steps skipped" in caplog.text
    prefix = tf.train.latest_checkpoint(str(run))
    assert prefix.endswith("ckpt-6") and _all_finite(prefix)
    scale = checkpoints.reader(prefix).get_tensor("loss_scale/scale/.ATTRIBUTES/VARIABLE_VALUE")
    assert scale == 2.0 ** (15 - skipped)
