"""Per-host input for pods: each host reads its own shards and feeds its own replicas per-replica batches;
the sharding logic with several input contexts, and a run on two logical devices through
`distribute_datasets_from_function`, checkpointed and resumed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from pretrain import data
from pretrain.errors import PretrainError
from tests.fixtures import REPO, genia_documents
from tests.pretrain_data import build_examples, write_shards, write_vocabulary

LENGTH = 64


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hosts")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    pattern = write_shards(str(root / "train"), build_examples(documents[20:80], vocab, LENGTH, seed=1), vocab,
                           LENGTH, num_shards=8)
    return {"vocab": vocab, "pattern": pattern, "files": data.resolve_files(pattern)}


def contexts(hosts: int, replicas: int) -> list[tf.distribute.InputContext]:
    return [tf.distribute.InputContext(num_input_pipelines=hosts, input_pipeline_id=i,
                                       num_replicas_in_sync=replicas) for i in range(hosts)]


def test_hosts_read_disjoint_shards_that_are_all_of_them(shards):
    files = shards["files"]
    for hosts in (1, 2, 4, 8):
        parts = [data.host_files(files, context) for context in contexts(hosts, 2 * hosts)]
        assert sorted(f for part in parts for f in part) == files
        assert all(len(part) == len(files) // hosts for part in parts)
    with pytest.raises(PretrainError, match="8 shard\\(s\\) for 16 hosts"):
        data.host_files(files, contexts(16, 16)[15])


def test_each_host_batches_per_replica_from_its_own_shards(shards):
    records_of = {f: {r.numpy() for r in tf.data.TFRecordDataset(f)} for f in shards["files"]}
    for context in contexts(hosts=4, replicas=8):  # a v4-32-like slice: 4 hosts, 8 replicas, global 32
        batch = next(iter(data.host_training_dataset(shards["files"], 32, LENGTH, 1, context)))
        assert batch["input_ids"].shape == (4, LENGTH)  # 32 / 8 replicas
        own = set().union(*(records_of[f] for f in data.host_files(shards["files"], context)))
        examples = tf.data.TFRecordDataset(data.host_files(shards["files"], context)).map(
            lambda r: tf.io.parse_single_example(r, data.feature_spec(LENGTH)))
        known = {tuple(e["input_ids"].numpy()) for e in examples}
        assert all(tuple(row) in known for row in batch["input_ids"].numpy().tolist()), "read another's data"
        assert len(own) > 0
    with pytest.raises(PretrainError, match="not divisible by the 8 replicas"):
        data.host_training_dataset(shards["files"], 30, LENGTH, 1, contexts(4, 8)[0])


SCRIPT = """
import json, sys, tempfile
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pretrain import config as config_lib, data
from pretrain.training import Trainer
from pretrain.files import read_vocabulary

vocab = read_vocabulary(sys.argv[1])
files = data.resolve_files(sys.argv[2])
config = config_lib.for_size("tiny", dict(
    vocab_size=vocab.size, cls_id=vocab.cls_id, sep_id=vocab.sep_id, mask_id=vocab.mask_id, pad_id=vocab.pad_id,
    max_seq_length=64, batch_size=16, train_steps=8, warmup_steps=2, accumulation_steps=2))
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def iterator():
    return iter(strategy.distribute_datasets_from_function(
        lambda context: data.host_training_dataset(files, 16, 64, 1, context)))


def losses(trainer, it, steps):
    return [float(trainer.train_loop(it, tf.constant(1))["loss_sum"]) for _ in range(steps)]


first = Trainer(config, strategy, per_replica_input=True)
before = losses(first, iterator(), 4)
prefix = first.checkpoint().save(tempfile.mkdtemp() + "/ckpt")
# A distributed iterator cannot be checkpointed: a resumed run restores weights, optimizer and step, and
# reads the data afresh.
second = Trainer(config, strategy, per_replica_input=True)
second.checkpoint().restore(prefix).assert_existing_objects_matched()
after = losses(second, iterator(), 2)
copies = [float(tf.reduce_sum(v)) for v in second.model.embeddings.word_embeddings.values]
print(json.dumps({"before": before, "after": after, "copies": copies, "step": second.current_step()}))
"""


@pytest.mark.slow
def test_per_host_input_trains_on_two_devices_and_resumes(shards):
    result = subprocess.run([sys.executable, "-c", SCRIPT, shards["vocab"], shards["pattern"]], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["step"] == 6 and report["copies"][0] == report["copies"][1]
    assert all(loss == loss for loss in report["before"] + report["after"])  # finite
    assert sum(report["after"]) / 2 < sum(report["before"][:2]) / 2  # it went on learning from step 4
