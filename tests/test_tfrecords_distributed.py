"""The TFRecords job where it really runs: in and out of a bucket (the GCS emulator) and on several worker
processes. Both must write the very bytes of an in-process local run."""
from __future__ import annotations

import pytest

from pipelines import tfrecords
from pipelines.common import read_vocabulary
from pretrain.data import read_examples
from tests.fixtures import genia_documents
from tests.gcs import storage_client
from tests.tfrecords_data import check_layout, read_records, write_text_shards, write_vocab
from vocab.tokenizer import Tokenizer

pytestmark = pytest.mark.slow  # the job under a multi-process runner and into and out of a bucket


def job(text: str, vocab: str, output: str, *flags: str) -> dict:
    return tfrecords.run(["--input", f"{text}/part-*", "--vocab", vocab, "--output", output,
                          "--num-shards", "3", *flags])


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> dict:
    """Inputs on disk and the output of an in-process run over them."""
    work = tmp_path_factory.mktemp("tfrecords_distributed")
    text = work / "text"
    paths = write_text_shards(text, genia_documents()[:60])
    vocab = write_vocab(work / "vocab")
    metadata = job(str(text), vocab, str(work / "out"))
    return {"work": work, "text": text, "paths": paths, "vocab": vocab, "out": work / "out", "metadata": metadata}


def test_bucket_in_bucket_out_then_read_from_local_copies(local, gcs_prefix):
    bucket_name, _, prefix = gcs_prefix[len("gs://"):].partition("/")
    bucket = storage_client().bucket(bucket_name)
    for path in local["paths"]:
        bucket.blob(f"{prefix}/text/{path.name}").upload_from_filename(str(path))
    write_vocab(f"{gcs_prefix}/vocab")

    metadata = job(f"{gcs_prefix}/text", f"{gcs_prefix}/vocab", f"{gcs_prefix}/data")
    assert metadata == local["metadata"]

    copies = local["work"] / "from_bucket"
    copies.mkdir()
    names = []
    for blob in bucket.list_blobs(prefix=f"{prefix}/data/"):
        name = blob.name[len(f"{prefix}/data/"):]
        names.append(name)
        (copies / name).parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(copies / name))
    # No temporary objects left.
    assert sorted(names) == sorted(str(p.relative_to(local["out"])) for p in local["out"].rglob("*") if p.is_file())
    for name in names:
        assert (copies / name).read_bytes() == (local["out"] / name).read_bytes(), name

    dataset = read_examples(f"{copies}/pretrain_data.tfrecord-*", 128, read_vocabulary(local["vocab"]))
    assert sum(1 for _ in dataset) == metadata["num_examples"]


def test_multi_process_direct_runner_writes_the_same_bytes(local):
    output = local["work"] / "multi"
    metadata = job(str(local["text"]), local["vocab"], str(output),
                   "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert metadata == local["metadata"]
    for path in (p for p in local["out"].rglob("*") if p.is_file()):
        name = path.relative_to(local["out"])
        assert (output / name).read_bytes() == path.read_bytes(), name
    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(local["vocab"]))
    for record in read_records(f"{output}/pretrain_data.tfrecord-*"):
        check_layout(record, 128, tokenizer.vocab_size, tokenizer.cls_id, tokenizer.sep_id)
