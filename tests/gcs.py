"""A Cloud Storage emulator on 127.0.0.1 that Beam's gcsio, `google-cloud-storage` and our code all use.

Beam asks google-auth for application-default credentials and, finding none, retries for ~20 s per
process (and may probe the GCE metadata server). So the emulator comes with a service-account key whose
`token_uri` points at a token endpoint on loopback: every process, DirectRunner workers included, gets
credentials at once, and no request ever leaves 127.0.0.1.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"access_token": "emulator-token", "expires_in": 3600, "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


def _service_account_key(token_uri: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "emulated-project",
        "private_key_id": "emulator",
        "private_key": pem,
        "client_email": "tests@emulated-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


@contextlib.contextmanager
def gcs_emulator(workdir: Path, bucket: str = "test-bucket") -> Iterator[str]:
    """Start the emulator and the token endpoint; set the environment; yield "gs://<bucket>"."""
    from gcp_storage_emulator.server import create_server

    token_server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    threading.Thread(target=token_server.serve_forever, daemon=True).start()
    key_file = workdir / "service-account.json"
    key_file.write_text(json.dumps(_service_account_key(f"http://127.0.0.1:{token_server.server_port}/token")))

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS",
                                             "NO_GCE_CHECK", "GOOGLE_CLOUD_PROJECT")}
    os.environ.update(
        STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}",
        GOOGLE_APPLICATION_CREDENTIALS=str(key_file),
        NO_GCE_CHECK="true",
        GOOGLE_CLOUD_PROJECT="emulated-project",
    )
    try:
        yield f"gs://{bucket}"
    finally:
        server.stop()
        token_server.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def storage_client():
    """A google-cloud-storage client for the running emulator (for assertions in tests)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="emulated-project", credentials=AnonymousCredentials())
