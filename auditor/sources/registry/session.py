"""HTTP to one registry host, safe to share between threads: per-thread sessions whose urllib3
Retry retries connection errors, 5xx and 429 with backoff, authentication challenges answered,
requests and bytes counted, every failure one RegistryError line with a hint."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from auditor.errors import RegistryError, RegistryUnavailable
from auditor.sources.registry.auth import Authenticator, Credentials
from auditor.sources.registry.reference import is_loopback, parse_host
from auditor.text import printable

if TYPE_CHECKING:
    from typing import Self

MAX_ERROR_BODY = 64 * 1024  # what is read of an error answer, for its error codes
MAX_RETRY_AFTER = 30.0
MAX_BACKOFF = 10.0
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    OSError,
)
_RETRIED_STATUSES = frozenset({429, *range(500, 600)})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (a number of seconds or an HTTP date), never
    negative; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_codes(response: requests.Response) -> str:
    """The registry's error codes (`MANIFEST_UNKNOWN`), from its JSON error body if it sent one;
    at most MAX_ERROR_BODY bytes of it are read (every response is streamed)."""
    try:
        body = json.loads(response.raw.read(MAX_ERROR_BODY, decode_content=True) or b"null")
        codes = [str(e.get("code")) for e in body.get("errors") or () if e.get("code")]
    except (ValueError, AttributeError, TypeError, requests.RequestException, *TRANSIENT):
        codes = []
    return printable(", ".join(dict.fromkeys(codes)), 100)


def reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words."""
    text = str(exc)
    for marker, said in (("Connection refused", "connection refused"),
                         ("timed out", "timed out"),
                         ("Name or service not known", "unknown host"),
                         ("Temporary failure in name resolution", "name lookup failed"),
                         ("CERTIFICATE_VERIFY_FAILED", "untrusted certificate"),
                         ("WRONG_VERSION_NUMBER", "it does not speak TLS"),
                         ("SSLError", "TLS handshake failed"),
                         ("RemoteDisconnected", "connection closed"),
                         ("Connection reset", "connection reset"),
                         ("Connection aborted", "connection closed"),
                         ("IncompleteRead", "connection closed mid-answer")):
        if marker in text or marker in type(exc).__name__:
            return said
    return type(exc).__name__


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


class _Retry(Retry):
    """urllib3's Retry, with what imgaudit adds: an unknown host or a failed TLS handshake is not
    tried again (it fails the same way); Retry-After counts for 429 and 503 only, read leniently
    and capped at MAX_RETRY_AFTER; the answer being retried is closed, not read to its end."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def increment(
        self, method: str | None = None, url: str | None = None,
        response: BaseHTTPResponse | None = None, error: Exception | None = None,
        _pool: ConnectionPool | None = None, _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, urllib3.exceptions.SSLError) or (
                error is not None and reason(error) == "unknown host"):
            raise urllib3.exceptions.MaxRetryError(
                _pool, url, error) from error  # type: ignore[arg-type]
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None:
            response.close()  # urllib3 would read an error answer whole, however long, first
        return retry

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        if response.status not in self.RETRY_AFTER_STATUS_CODES:
            return None
        seconds = parse_retry_after(response.headers.get("Retry-After"))
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


class RegistrySession:
    """HTTPS to `host` (plain HTTP when it is loopback, or with `insecure`), retried `retries`
    times with exponential backoff; credentials=None takes them from the Docker config when the
    registry first asks (ANONYMOUS: none)."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.host = parse_host(host)
        self.insecure = insecure
        self.scheme = "http" if insecure or is_loopback(self.host) else "https"
        self.base_url = f"{self.scheme}://{self.host}"
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self.auth = Authenticator(self.host, credentials, insecure=insecure)
        self.retry = _Retry(
            total=self.retries, allowed_methods=None, status_forcelist=_RETRIED_STATUSES,
            backoff_factor=self.backoff, backoff_max=MAX_BACKOFF, backoff_jitter=self.backoff / 2,
            raise_on_status=False,
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self.bytes_downloaded = 0  # bytes of blob bodies read (configs and layers)
        self.blobs_downloaded = 0  # blob GETs started (a resumed read counts once)
        self.requests_sent = 0  # every HTTP request, retries and token fetches included

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "imgaudit"
            adapter = HTTPAdapter(max_retries=self.retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def count(self, *, sent: int = 0, body: int = 0, blobs: int = 0) -> None:
        with self._lock:
            self.requests_sent += sent
            self.bytes_downloaded += body
            self.blobs_downloaded += blobs

    def send(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None, data: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request, retried by the session's Retry; a failure that outlasts the retries is
        a RegistryUnavailable, every attempt counted in requests_sent."""
        where = urlsplit(url).netloc or self.host
        try:
            response = self._session().request(
                method, url, headers=dict(headers or {}), params=params, data=data,
                stream=stream, timeout=self.timeout,
            )
        except requests.exceptions.SSLError as exc:
            self.count(sent=1)
            raise RegistryUnavailable(
                f"TLS with registry {where} failed ({reason(exc)})",
                hint="for a registry with a private CA set REQUESTS_CA_BUNDLE to its "
                "certificate; for one that speaks plain HTTP on a trusted network, pass "
                "--insecure",
            ) from None
        except TRANSIENT as exc:
            # _Retry tries an unknown host once, anything else until the retries run out
            attempts = 1 if reason(exc) == "unknown host" else self.retries + 1
            self.count(sent=attempts)
            raise RegistryUnavailable(
                f"cannot reach registry {where} ({reason(exc)}, {attempts} "
                f"attempt{'s' if attempts > 1 else ''})"
            ) from None
        attempts = len(response.raw.retries.history) + 1
        self.count(sent=attempts)
        status = response.status_code
        if status in _RETRIED_STATUSES:
            response.close()
            why = "too many requests" if status == 429 else "a server error"
            raise RegistryUnavailable(
                f"registry {where} answered {status} ({why}) to {method} "
                f"{urlsplit(url).path} {attempts} time{'s' if attempts > 1 else ''}",
                hint="try again later" + (", or with fewer jobs" if status == 429 else
                                          "; check the registry's logs"),
            )
        return response

    def request(
        self, method: str, url: str, scope: str, *, headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A request to this registry, answering its authentication challenge once. The answer
        is streamed: its body is read by the caller, as much as it needs (and may)."""
        url = urljoin(self.base_url, url)
        own = url.startswith(self.base_url + "/")
        sent = dict(headers or {})
        if own and (known := self.auth.header(scope)):
            sent["Authorization"] = known
        response = self.send(method, url, headers=sent, stream=True)
        if response.status_code == 401 and own:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            self.auth.forget(scope)
            sent["Authorization"] = self.auth.answer(challenge, scope, self.send)
            response = self.send(method, url, headers=sent, stream=True)
            if response.status_code == 401:
                response.close()
                credentials = self.auth.credentials
                raise self.auth.refused(
                    "refused the credentials" if not credentials.anonymous
                    else "needs credentials and none were found"
                )
        if response.status_code == 403:
            codes = error_codes(response)
            response.close()
            raise self.auth.refused(
                f"denied access ({codes or 'forbidden'}) to {urlsplit(url).path}", 403
            )
        return response

    def expect(self, response: requests.Response, status: int, what: str) -> None:
        if response.status_code != status:
            codes = error_codes(response)
            raise RegistryError(
                f"registry {self.host} answered {response.status_code}"
                f"{f' ({codes})' if codes else ''} for {what}",
                hint="check the registry's logs, or try again later",
            )

    def read_capped(self, response: requests.Response, limit: int, what: str,
                    hint: str = "this is not an image manifest") -> bytes:
        try:
            data = response.raw.read(limit + 1, decode_content=True)
        except TRANSIENT as exc:
            raise RegistryUnavailable(
                f"registry {self.host} closed the connection while sending {what} "
                f"({reason(exc)})", hint="try again later") from None
        if len(data) > limit:
            raise RegistryError(f"{what} from {self.host} is over {limit} bytes", hint=hint)
        return bytes(data)
