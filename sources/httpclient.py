"""A polite HTTP client that never leaves the host it was pointed at.

One `requests.Session` per worker with a bounded connection pool and urllib3 `Retry` (exponential backoff on
connection errors and 429/5xx, `Retry-After` honoured up to a cap). Redirects are followed by hand so that each
hop can be checked: only the configured base URL's host (same port; http may upgrade to https) is contacted.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DownloadError(Exception):
    """A failure that is reported for one file (never raised past the file it concerns)."""


class ForeignHostError(DownloadError):
    """A redirect or link that points away from the configured host."""


class HTTPStatusError(DownloadError):
    def __init__(self, url: str, status: int, reason: str = "") -> None:
        super().__init__(f"HTTP {status}{' ' + reason if reason else ''} for {url}")
        self.status = status


@dataclass(frozen=True)
class HttpSettings:
    retries: int = 5  # per request, for connection errors and 429/5xx; also the stream-resume budget
    backoff: float = 1.0  # seconds; doubled at each retry (urllib3 backoff_factor)
    timeout: float = 60.0  # seconds to connect and between two reads
    max_connections: int = 4  # pool size per session (politeness)
    max_retry_after: float = 300.0  # a server asking to wait longer than this is waited for this long
    user_agent: str = "bioelectra-corpus-downloader/1.0 (python-requests)"


def make_session(settings: HttpSettings) -> requests.Session:
    """A session whose adapter retries with backoff and holds at most `max_connections` connections."""
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        other=0,
        backoff_factor=settings.backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        retry_after_max=settings.max_retry_after,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(
        max_retries=retry,
        pool_connections=1,
        pool_maxsize=settings.max_connections,
        pool_block=True,
    )
    session = requests.Session()
    session.headers["User-Agent"] = settings.user_agent
    # Files are checksummed as stored: no on-the-fly compression by the server.
    session.headers["Accept-Encoding"] = "identity"
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def retries_used(response: requests.Response) -> int:
    """How many times urllib3 retried the request that produced `response` (429/5xx, connection errors)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) if retries is not None else 0


class GuardedClient:
    """GET requests confined to the origin of `base_url`."""

    def __init__(self, session: requests.Session, base_url: str, settings: HttpSettings) -> None:
        self.session = session
        self.base_url = base_url
        self.settings = settings
        self._scheme, self._host, self._port = _origin(base_url)
        if self._scheme not in _DEFAULT_PORTS or not self._host:
            raise ValueError(f"base URL must be http(s)://host/...: {base_url!r}")

    def allowed(self, url: str) -> bool:
        scheme, host, port = _origin(url)
        if host != self._host:
            return False
        if scheme == self._scheme:
            return port == self._port
        # An upgrade from http to https on the same host is fine (default ports on both sides); never a downgrade.
        return self._scheme == "http" and scheme == "https" and port == 443 and self._port == 80

    def get(self, url: str, headers: Optional[dict] = None, stream: bool = True) -> requests.Response:
        """GET `url`, following redirects only within the allowed origin. Returns any final status."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url):
                raise ForeignHostError(f"refused {url}: not on the configured host {self._host}")
            response = self.session.get(
                url, headers=headers, stream=stream, allow_redirects=False, timeout=self.settings.timeout
            )
            if response.is_redirect:
                location = urljoin(url, response.headers["Location"])
                response.close()
                if not self.allowed(location):
                    raise ForeignHostError(f"refused redirect from {url} to {location}: not on {self._host}")
                log.debug("redirect %s -> %s", url, location)
                url = location
                continue
            return response
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {url}")

    def get_bytes(self, url: str, max_bytes: int = 64 << 20) -> tuple[bytes, int]:
        """The body of a small resource (listing page, sidecar, metadata) and the retries it took.

        A body cut off in transit is fetched again (up to `retries` times, with backoff). Raises HTTPStatusError
        for any final status but 200 and DownloadError when the body never arrives whole.
        """
        retries = 0
        for attempt in range(self.settings.retries + 1):
            try:
                with self.get(url, stream=True) as response:
                    retries += retries_used(response)
                    if response.status_code != 200:
                        raise HTTPStatusError(url, response.status_code, response.reason or "")
                    body = bytearray()
                    for chunk in response.iter_content(1 << 16):
                        body += chunk
                        if len(body) > max_bytes:
                            raise DownloadError(f"{url} is larger than {max_bytes} bytes; refusing to hold it")
                    return bytes(body), retries
            except requests.RequestException as exc:
                if attempt == self.settings.retries:
                    raise DownloadError(f"{url}: {exc}") from exc
                retries += 1
                pause_before_retry(self.settings, attempt)
        raise AssertionError("unreachable")


def pause_before_retry(settings: HttpSettings, attempt: int) -> None:
    """Exponential backoff between our own retries (those urllib3 cannot do: a body cut off mid-stream)."""
    time.sleep(min(settings.backoff * (2**attempt), 120.0))
