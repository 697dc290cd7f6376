"""One registry's HTTP API (OCI distribution): catalog, tags, manifests and blobs, each verified
against its digest, with authentication, retries and backoff. Safe to share between threads.

    client = RegistryClient("registry.example.com", credentials=None, insecure=False,
                            timeout=30.0, retries=4, backoff=0.5)
    client.repositories(page_size=1000) -> Iterator[str]      GET /v2/_catalog, every page
    client.tags(repo, page_size=1000) -> Iterator[str]        GET /v2/<repo>/tags/list, every page
    client.manifest(repo, reference) -> Manifest              reference: a tag or a digest
    client.blob(repo, digest, max_size=...) -> bytes          a small blob (a config), verified
    client.open_blob(repo, digest, size=None)                 context manager -> BlobStream, a
        readable stream; its digest is checked at EOF and again when the block ends (the rest
        is read first), DigestMismatch on a difference
    client.bytes_downloaded, client.blobs_downloaded, client.requests_sent   counters
    client.close()

credentials=None takes them from the Docker config when the registry first asks (ANONYMOUS: none).
HTTPS unless the host is loopback (127.0.0.0/8, ::1, localhost) or insecure=True: plain HTTP.
Connection errors, timeouts, 5xx and 429 (honouring Retry-After) are retried `retries` times with
exponential backoff (urllib3's Retry); a blob read cut short resumes with a Range request. Every
failure is an auditor.errors.RegistryError: RegistryUnavailable, RegistryUnauthorized,
ManifestUnknown, BlobUnknown, DigestMismatch (each a one-line message with a hint; no secret in
any).
"""

from __future__ import annotations

import email.utils
import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from auditor.errors import (
    BlobUnknown,
    DigestMismatch,
    ManifestUnknown,
    RegistryError,
    RegistryUnavailable,
)
from auditor.sources.documents import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)
from auditor.sources.registry.auth import Authenticator, Credentials
from auditor.sources.registry.reference import is_loopback, parse_host
from auditor.sources.registry.streams import CHUNK, hasher
from auditor.text import printable

if TYPE_CHECKING:
    from typing import Self

# schema 1 last and weakest: asked for only so that such an image says what it is
ACCEPT = ", ".join(
    (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST,
     f"{DOCKER_SCHEMA1_SIGNED};q=0.1", f"{DOCKER_SCHEMA1};q=0.1")
)

MAX_MANIFEST = 4 * 1024 * 1024
MAX_BLOB = 64 * 1024 * 1024
MAX_PAGE = 16 * 1024 * 1024  # one page of the catalog or of a tag list
MAX_ERROR_BODY = 64 * 1024  # what is read of an error answer, for its error codes
MAX_RETRY_AFTER = 30.0
MAX_BACKOFF = 10.0
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    OSError,
)
_RETRIED_STATUSES = frozenset({429, *range(500, 600)})


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index as the registry served it: its verified digest, media type, the bytes
    the digest is of, and those bytes parsed."""

    digest: str
    media_type: str
    raw: bytes = field(repr=False)
    document: Mapping[str, Any] = field(repr=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or (
            "manifests" in self.document and "layers" not in self.document
        )


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


def _errors(response: requests.Response) -> str:
    """The registry's error codes (`MANIFEST_UNKNOWN`), from its JSON error body if it sent one;
    at most MAX_ERROR_BODY bytes of it are read (every response is streamed)."""
    try:
        body = json.loads(response.raw.read(MAX_ERROR_BODY, decode_content=True) or b"null")
        codes = [str(e.get("code")) for e in body.get("errors") or () if e.get("code")]
    except (ValueError, AttributeError, TypeError, requests.RequestException, *_TRANSIENT):
        codes = []
    return printable(", ".join(dict.fromkeys(codes)), 100)


def _reason(exc: BaseException) -> str:
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
                error is not None and _reason(error) == "unknown host"):
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


class RegistryClient:
    """The registry API of one host. See the module docstring for the whole surface."""

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

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r})"

    # ------------------------------------------------------------------------- public API

    def repositories(self, page_size: int = 1000) -> Iterator[str]:
        """Every repository of the catalog, page after page."""
        def missing(codes: str) -> RegistryError:
            return RegistryError(
                f"registry {self.host} does not list its repositories "
                f"(GET /v2/_catalog: 404{f' {codes}' if codes else ''})",
                hint="name the repositories to audit instead")

        yield from self._pages("/v2/_catalog", "repositories", page_size, "registry:catalog:*",
                               "the catalog", missing)

    def tags(self, repo: str, page_size: int = 1000) -> Iterator[str]:
        """Every tag of a repository, page after page (none for a repository without tags)."""
        def missing(codes: str) -> RegistryError:
            return ManifestUnknown(f"registry {self.host} has no repository {repo} "
                                   f"({codes or 404})")

        yield from self._pages(f"/v2/{repo}/tags/list", "tags", page_size, _pull(repo),
                               f"repository {repo}", missing)

    def manifest(self, repo: str, reference: str) -> Manifest:
        """The manifest (or index) a tag or digest names, its digest verified: against the
        reference when it is a digest, else against the registry's Docker-Content-Digest."""
        path = f"/v2/{repo}/manifests/{quote(reference, safe=':')}"
        named = f"{repo}{'@' if ':' in reference else ':'}{reference}"
        shown = f"{self.host}/{named}"
        with self._request("GET", path, _pull(repo), headers={"Accept": ACCEPT}) as response:
            if response.status_code == 404:
                codes = _errors(response) or "404"
                what = "repository" if "NAME_UNKNOWN" in codes else "image"
                raise ManifestUnknown(
                    f"registry {self.host} has no {what} {named} ({codes})",
                    hint=f"check the repository and tag; GET {self.base_url}/v2/{repo}/tags/list "
                    "lists the tags",
                )
            self._expect(response, 200, f"manifest {shown}")
            raw = self._read_capped(response, MAX_MANIFEST, f"manifest {shown}")
            header_digest = response.headers.get("Docker-Content-Digest", "")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        pinned = reference if ":" in reference else ""
        if not header_digest.startswith(("sha256:", "sha512:")):
            header_digest = ""  # an algorithm imgaudit cannot check: the bytes' sha256 stands
        try:
            digest = _digest_of(raw, pinned or header_digest or "sha256:")
        except ValueError:
            raise RegistryError(f"{reference!r} is not a digest imgaudit can check",
                                hint="use a sha256: or sha512: digest") from None
        if pinned and digest != pinned:
            raise DigestMismatch(f"manifest {shown} from {self.host} has digest {digest}")
        if not pinned and header_digest and digest != header_digest:
            raise DigestMismatch(
                f"manifest {shown} from {self.host} has digest {digest}, not the "
                f"{printable(header_digest, 140)} the registry announced"
            )
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            document = None
        if not isinstance(document, dict):
            raise RegistryError(f"manifest {shown} from {self.host} is not a JSON object")
        media_type = str(document.get("mediaType") or content_type or "")
        if document.get("schemaVersion") == 1:
            media_type = DOCKER_SCHEMA1_SIGNED if "signatures" in document else DOCKER_SCHEMA1
        return Manifest(digest, media_type, raw, document)

    def blob(self, repo: str, digest: str, max_size: int = MAX_BLOB) -> bytes:
        """A small blob (an image config) whole, its digest verified."""
        with self.open_blob(repo, digest) as stream:
            data = bytearray()
            while len(data) <= max_size and (chunk := stream.read(CHUNK)):
                data += chunk
            if len(data) > max_size:
                raise RegistryError(
                    f"blob {digest[:19]} of {self.host}/{repo} is over {max_size} bytes, too "
                    "large for a config", hint="this is not a container image config")
        return bytes(data)

    @contextmanager
    def open_blob(self, repo: str, digest: str, size: int | None = None) -> Iterator[BlobStream]:
        """A blob as a stream read once. Its digest (and `size`, when given) is checked when a read
        reaches its end, and when the block ends without error (after reading what is left):
        DigestMismatch on a difference, so no unverified byte outlives the block."""
        try:
            hasher(digest)
        except ValueError:
            raise DigestMismatch(f"{digest[:30]!r} of {self.host}/{repo} is not a digest "
                                 "imgaudit can check") from None
        stream = BlobStream(self, repo, digest, size)
        try:
            yield stream
            stream.finish()
        finally:
            stream.close()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- HTTP

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

    def _count(self, *, sent: int = 0, body: int = 0, blobs: int = 0) -> None:
        with self._lock:
            self.requests_sent += sent
            self.bytes_downloaded += body
            self.blobs_downloaded += blobs

    def _send(
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
            self._count(sent=1)
            raise RegistryUnavailable(
                f"TLS with registry {where} failed ({_reason(exc)})",
                hint="for a registry with a private CA set REQUESTS_CA_BUNDLE to its "
                "certificate; for one that speaks plain HTTP on a trusted network, pass "
                "--insecure",
            ) from None
        except _TRANSIENT as exc:
            # _Retry tries an unknown host once, anything else until the retries run out
            attempts = 1 if _reason(exc) == "unknown host" else self.retries + 1
            self._count(sent=attempts)
            raise RegistryUnavailable(
                f"cannot reach registry {where} ({_reason(exc)}, {attempts} "
                f"attempt{'s' if attempts > 1 else ''})"
            ) from None
        attempts = len(response.raw.retries.history) + 1
        self._count(sent=attempts)
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

    def _request(
        self, method: str, url: str, scope: str, *, headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A request to this registry, answering its authentication challenge once. The answer
        is streamed: its body is read by the caller, as much as it needs (and may)."""
        url = urljoin(self.base_url, url)
        own = url.startswith(self.base_url + "/")
        sent = dict(headers or {})
        if own and (known := self.auth.header(scope)):
            sent["Authorization"] = known
        response = self._send(method, url, headers=sent, stream=True)
        if response.status_code == 401 and own:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            self.auth.forget(scope)
            sent["Authorization"] = self.auth.answer(challenge, scope, self._send)
            response = self._send(method, url, headers=sent, stream=True)
            if response.status_code == 401:
                response.close()
                credentials = self.auth.credentials
                raise self.auth.refused(
                    "refused the credentials" if not credentials.anonymous
                    else "needs credentials and none were found"
                )
        if response.status_code == 403:
            codes = _errors(response)
            response.close()
            raise self.auth.refused(
                f"denied access ({codes or 'forbidden'}) to {urlsplit(url).path}", 403
            )
        return response

    def _expect(self, response: requests.Response, status: int, what: str) -> None:
        if response.status_code != status:
            codes = _errors(response)
            raise RegistryError(
                f"registry {self.host} answered {response.status_code}"
                f"{f' ({codes})' if codes else ''} for {what}",
                hint="check the registry's logs, or try again later",
            )

    def _read_capped(self, response: requests.Response, limit: int, what: str,
                     hint: str = "this is not an image manifest") -> bytes:
        try:
            data = response.raw.read(limit + 1, decode_content=True)
        except _TRANSIENT as exc:
            raise RegistryUnavailable(
                f"registry {self.host} closed the connection while sending {what} "
                f"({_reason(exc)})", hint="try again later") from None
        if len(data) > limit:
            raise RegistryError(f"{what} from {self.host} is over {limit} bytes", hint=hint)
        return bytes(data)

    def _pages(self, path: str, key: str, page_size: int, scope: str, what: str,
               missing: Callable[[str], RegistryError]) -> Iterator[str]:
        """The items of a paginated list, each once: pages by the Link header's next URL, else
        by `last=` while pages come full (some registries ignore `n` and send everything).
        A 404 raises what `missing` makes of the registry's error codes."""
        url: str | None = f"{path}?n={page_size}"
        urls: set[str] = set()
        seen: set[str] = set()
        while url is not None and url not in urls:
            urls.add(url)
            with self._request("GET", url, scope) as response:
                if response.status_code == 404:
                    raise missing(_errors(response))
                self._expect(response, 200, what)
                page = self._read_capped(
                    response, MAX_PAGE, f"a page of {what}",
                    hint="a page of names is far smaller: check the registry (or a proxy in "
                    "front of it)")
                try:
                    data = json.loads(page)
                except (ValueError, UnicodeDecodeError):
                    data = None
                if not isinstance(data, dict):
                    raise RegistryError(f"registry {self.host} sent no JSON object for {what}")
                following = response.links.get("next", {}).get("url")
            items = [str(item) for item in data.get(key) or ()]
            new = [item for item in items if item not in seen]
            seen.update(new)
            yield from new
            if following:
                url = urljoin(self.base_url + path, following)
            elif len(items) == page_size and new:
                url = f"{path}?n={page_size}&last={quote(items[-1], safe='')}"
            else:
                url = None


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _digest_of(data: bytes, like: str) -> str:
    """The digest of data with the algorithm of `like` (sha256:... or sha512:...)."""
    digest = hasher(like)
    digest.update(data)
    return f"{like.partition(':')[0]}:{digest.hexdigest()}"


class BlobStream(io.RawIOBase):
    """A blob's body as a raw stream, hashed as it is read, resumed with Range when the connection
    breaks. Made by RegistryClient.open_blob; `read`/`readinto` as any stream."""

    def __init__(self, client: RegistryClient, repo: str, digest: str, size: int | None) -> None:
        self.client = client
        self.repo = repo
        self.digest = digest
        self.size = size
        self.position = 0
        self.verified = False
        self._hash = hasher(digest)
        self._what = f"blob {digest[:19]} of {client.host}/{repo}"
        self._response: requests.Response | None = None
        self._retry: Retry = client.retry
        client._count(blobs=1)
        self._open()

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.position}-"} if self.position else {}
        path = f"/v2/{self.repo}/blobs/{self.digest}"
        response = self.client._request("GET", path, _pull(self.repo), headers=headers)
        if response.status_code == 404:
            codes = _errors(response)
            response.close()
            raise BlobUnknown(f"registry {self.client.host} has no {self._what[:24]} "
                              f"({codes or 404}) though {self.repo}'s manifest names it")
        if self.position and response.status_code == 206:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start != str(self.position):
                response.close()
                raise RegistryUnavailable(f"registry {self.client.host} resumed {self._what} "
                                          "at the wrong offset", hint="try again later")
        elif self.position and response.status_code == 200:
            self._skip(response, self.position)  # no Range support: pass what was hashed
        else:
            try:
                self.client._expect(response, 200, self._what)
            except RegistryError:
                response.close()
                raise
        self._response = response

    def _skip(self, response: requests.Response, count: int) -> None:
        while count:
            data = response.raw.read(min(count, CHUNK), decode_content=True)
            if not data:
                break
            count -= len(data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view) or self._response is None:
            return 0
        while True:
            try:
                data = self._response.raw.read(len(view), decode_content=True)
                break
            except _TRANSIENT as exc:
                self._response.close()
                self._response = None
                try:
                    # no error passed: a cut body is always resumed, and only the count of
                    # retries and the backoff between them are Retry's to keep
                    self._retry = self._retry.increment("GET", self._what)
                except urllib3.exceptions.MaxRetryError:
                    raise RegistryUnavailable(
                        f"registry {self.client.host} broke off {self._what} at byte "
                        f"{self.position} ({_reason(exc)}, {len(self._retry.history) + 1} "
                        "attempts)", hint="try again later") from None
                self._retry.sleep()
                self._open()
                assert self._response is not None
        count = len(data)
        if count:
            view[:count] = data
            self._hash.update(data)
            self.position += count
            self.client._count(body=count)
            if self.size is not None and self.position > self.size:
                raise DigestMismatch(f"{self._what} is longer than the {self.size} bytes its "
                                     "descriptor says")
            return count
        self._verify()
        return 0

    def _verify(self) -> None:
        if self.verified:
            return
        if self.size is not None and self.position != self.size:
            raise DigestMismatch(f"{self._what} has {self.position} bytes, not the {self.size} "
                                 "its descriptor says")
        got = f"{self.digest.partition(':')[0]}:{self._hash.hexdigest()}"
        if got != self.digest:
            raise DigestMismatch(f"{self._what} has digest {got}")
        self.verified = True

    def finish(self) -> None:
        """Reads what is left and checks the digest."""
        scratch = bytearray(CHUNK)
        while self.readinto(scratch):
            pass
        self._verify()

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        super().close()
