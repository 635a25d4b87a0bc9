"""Fixtures shared by the whole suite: real services on 127.0.0.1, never anything beyond."""
from __future__ import annotations

import pytest

from tests.gcs import gcs_emulator


@pytest.fixture(scope="session")
def gcs_bucket(tmp_path_factory) -> str:
    """A GCS emulator on loopback with credentials for every process; yields "gs://test-bucket"."""
    with gcs_emulator(tmp_path_factory.mktemp("gcs")) as bucket:
        yield bucket


@pytest.fixture
def gcs_prefix(gcs_bucket, request) -> str:
    """A fresh gs:// prefix per test inside the emulated bucket."""
    return f"{gcs_bucket}/{request.node.name}"
