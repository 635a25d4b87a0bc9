"""The emulator fixture itself: Beam's FileSystems and WriteToText round-trip through it, fast."""
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.common import LOCAL_RUNNER
from tests.gcs import storage_client


def test_filesystems_write_rename_read(gcs_prefix):
    started = time.monotonic()
    with FileSystems.create(f"{gcs_prefix}/a.tmp") as handle:
        handle.write(b"hello")
    FileSystems.rename([f"{gcs_prefix}/a.tmp"], [f"{gcs_prefix}/a.txt"])
    with FileSystems.open(f"{gcs_prefix}/a.txt") as handle:
        assert handle.read() == b"hello"
    assert not FileSystems.exists(f"{gcs_prefix}/a.tmp")
    assert time.monotonic() - started < 10, "credentials lookup must not stall"


def test_beam_write_to_text(gcs_prefix):
    with TestPipeline(runner=LOCAL_RUNNER) as p:
        _ = p | beam.Create(["x", "y"]) | beam.io.WriteToText(f"{gcs_prefix}/out", num_shards=1)
    names = sorted(b.name for b in storage_client().list_blobs("test-bucket", prefix=gcs_prefix[len("gs://test-bucket/"):]))
    assert names and names[0].endswith("out-00000-of-00001")
    with FileSystems.open(f"{gcs_prefix}/out-00000-of-00001") as handle:
        assert sorted(handle.read().decode().split()) == ["x", "y"]
