"""Small-file I/O for vocabulary directories on local disk or Cloud Storage, without Apache Beam.

`gs://` paths go through `google-cloud-storage`, which honours `STORAGE_EMULATOR_HOST` (so tests run against a
local emulator) and application-default credentials on GCP. TensorFlow's own GCS filesystem (`tf.io.gfile`)
also reads these files in production, but it always talks to storage.googleapis.com and so cannot be tested
here; the files written are plain objects that both read.
"""
from __future__ import annotations

import functools
import os
import posixpath
import tempfile

_GCS = "gs://"


def join(directory: str, name: str) -> str:
    if directory.startswith(_GCS):
        return posixpath.join(directory, name)
    return os.path.join(directory, name)


@functools.lru_cache(maxsize=1)
def _gcs_client():
    from google.cloud import storage

    return storage.Client()


def _blob(path: str):
    bucket, _, name = path[len(_GCS):].partition("/")
    if not bucket or not name:
        raise ValueError(f"not a gs://BUCKET/OBJECT path: {path!r}")
    return _gcs_client().bucket(bucket).blob(name)


def exists(path: str) -> bool:
    if path.startswith(_GCS):
        return _blob(path).exists()
    return os.path.exists(path)


def read_bytes(path: str) -> bytes:
    """The whole file; FileNotFoundError if it is missing (local or gs://)."""
    if path.startswith(_GCS):
        from google.api_core.exceptions import NotFound

        try:
            return _blob(path).download_as_bytes()
        except NotFound as err:
            raise FileNotFoundError(path) from err
    with open(path, "rb") as handle:
        return handle.read()


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write `data` so that readers see either the old file or the complete new one, never a part.

    Local: a temporary file in the same directory, flushed to disk, then `os.replace`. Cloud Storage: a single
    object upload is already atomic (the object appears only once the upload has completed), so it is
    uploaded in place; a temporary object plus copy would only double the traffic.
    """
    if path.startswith(_GCS):
        _blob(path).upload_from_string(data)
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the vocabulary from other users and containers
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
