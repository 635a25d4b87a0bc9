"""Gradient accumulation: K micro-batches of B give the update one batch of K x B gives, on one device and
on two (logical CPUs, MirroredStrategy), and a run resumed in the middle goes on exactly."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import REPO, genia_documents
from tests.pretrain_data import build_examples, write_shards, write_vocabulary

pytestmark = pytest.mark.slow  # three small trainings in a subprocess

LENGTH = 64
SCRIPT = """
import json, sys, tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pretrain import config as config_lib, data
from pretrain.training import Trainer
from pretrain.files import read_vocabulary

vocab = read_vocabulary(sys.argv[1])
files = data.resolve_files(sys.argv[2])
# No dropout and the generator's most likely token instead of a sample: the update then depends only on
# the data, the masking and the arithmetic, so one pass and K micro-batches can be compared.
BASE = dict(vocab_size=vocab.size, cls_id=vocab.cls_id, sep_id=vocab.sep_id, mask_id=vocab.mask_id,
            pad_id=vocab.pad_id, max_seq_length=64, batch_size=16, train_steps=8, warmup_steps=2,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, temperature=0.0, learning_rate=1e-3)


def trainer(steps, strategy=None):
    config = config_lib.for_size("tiny", dict(BASE, accumulation_steps=steps))
    return Trainer(config, strategy or tf.distribute.get_strategy())


def weights(t):
    return [np.asarray(t.strategy.experimental_local_results(v)[0]) for v in t.variables]


def run(t, steps, iterator=None):
    iterator = iterator or iter(data.training_dataset(files, 16, 64, seed=1))
    losses = [float(t.train_loop(iterator, tf.constant(1))["loss_sum"]) for _ in range(steps)]
    return losses, iterator


def gap(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(weights(a), weights(b)))


report = {}
one, four = trainer(1), trainer(4)
losses_one, _ = run(one, 3)
losses_four, _ = run(four, 3)
report["single"] = {"losses": [losses_one, losses_four], "gap": gap(one, four),
                    "moved": gap(one, trainer(1))}

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
m_one, m_two = trainer(1, mirrored), trainer(2, mirrored)
losses_m1, _ = run(m_one, 3)
losses_m2, _ = run(m_two, 3)
copies = [float(tf.reduce_sum(v)) for v in m_two.model.embeddings.word_embeddings.values]
report["mirrored"] = {"losses": [losses_m1, losses_m2], "gap": gap(m_one, m_two), "copies": copies}

# Resume in the middle: 2 steps, a checkpoint with the data iterator, a new trainer, 2 more steps.
straight = trainer(2)
losses_straight, _ = run(straight, 4)
first = trainer(2)
_, iterator = run(first, 2)
directory = tempfile.mkdtemp()
prefix = first.checkpoint(data=iterator).save(directory + "/ckpt")
second = trainer(2)
iterator = iter(data.training_dataset(files, 16, 64, seed=1))
second.checkpoint(data=iterator).restore(prefix).assert_existing_objects_matched()
losses_resumed, _ = run(second, 2, iterator)
report["resume"] = {"losses": [losses_straight[2:], losses_resumed], "gap": gap(straight, second),
                    "step": second.current_step()}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("accumulation")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    shards = write_shards(str(root / "train"), build_examples(documents[20:60], vocab, LENGTH, seed=1), vocab,
                          LENGTH, num_shards=2)
    result = subprocess.run([sys.executable, "-c", SCRIPT, vocab, shards], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_four_micro_batches_give_the_update_of_one_batch(report):
    single = report["single"]
    assert single["moved"] > 1e-3  # the weights really changed in three steps
    assert single["gap"] < 1e-5, single  # float32 sums in another order
    assert single["losses"][0] == pytest.approx(single["losses"][1], rel=1e-5)


def test_under_mirrored_strategy_too(report):
    mirrored = report["mirrored"]
    assert mirrored["gap"] < 1e-5, mirrored
    assert mirrored["losses"][0] == pytest.approx(mirrored["losses"][1], rel=1e-5)
    assert mirrored["copies"][0] == mirrored["copies"][1]  # the two devices hold the same weights


def test_a_run_resumed_in_the_middle_goes_on_exactly(report):
    resume = report["resume"]
    assert resume["step"] == 4
    assert resume["losses"][0] == resume["losses"][1] and resume["gap"] == 0.0
