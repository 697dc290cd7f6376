"""One registry's API (OCI distribution): catalog, tags, manifests and blobs, each verified
against its digest, over a RegistrySession (authentication, retries, counters)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin

from auditor.errors import DigestMismatch, ManifestUnknown, RegistryError
from auditor.sources.documents import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Digest,
)
from auditor.sources.registry.auth import Credentials
from auditor.sources.registry.blobs import BlobStream
from auditor.sources.registry.reference import REPOSITORY_FORM, TAG, is_repository
from auditor.sources.registry.session import RegistrySession, error_codes, pull_scope
from auditor.sources.streams import CHUNK
from auditor.text import printable

# schema 1 last and weakest: asked for only so that such an image says what it is
ACCEPT = ", ".join(
    (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST,
     f"{DOCKER_SCHEMA1_SIGNED};q=0.1", f"{DOCKER_SCHEMA1};q=0.1")
)

MAX_MANIFEST = 4 * 1024 * 1024
MAX_BLOB = 64 * 1024 * 1024
MAX_PAGE = 16 * 1024 * 1024  # one page of the catalog or of a tag list


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


class RegistryClient:
    """The registry API of one host. Safe to share between threads.

        client = RegistryClient("registry.example.com", credentials=None, insecure=False,
                                timeout=30.0, retries=4, backoff=0.5)
        client.repositories(page_size=1000) -> Iterator[str]    GET /v2/_catalog, every page
        client.tags(repo, page_size=1000) -> Iterator[str]      GET /v2/<repo>/tags/list, ditto
        client.manifest(repo, reference) -> Manifest            reference: a tag or a Digest
        client.blob(repo, digest, max_size=...) -> bytes        a small blob (a config), verified
                                                                (every digest a parsed Digest)
        client.open_blob(repo, digest, size=None)               context manager -> BlobStream, a
            readable stream; its digest is checked at EOF and again when the block ends (the
            rest is read first), DigestMismatch on a difference
        client.bytes_downloaded, client.blobs_downloaded, client.requests_sent   counters
        client.close()

    The settings are RegistrySession's (`client.http`): HTTPS unless the host is loopback or
    insecure=True; connection errors, timeouts, 5xx and 429 retried `retries` times with
    exponential backoff; a blob read cut short resumes with a Range request. Every failure is an
    auditor.errors.RegistryError: RegistryUnavailable, RegistryUnauthorized, ManifestUnknown,
    BlobUnknown, DigestMismatch (each a one-line message with a hint; no secret in any)."""

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
        self.http = RegistrySession(host, credentials=credentials, insecure=insecure,
                                    timeout=timeout, retries=retries, backoff=backoff)
        self.host = self.http.host

    def __repr__(self) -> str:
        return f"RegistryClient({self.http.base_url!r})"

    @property
    def bytes_downloaded(self) -> int:
        """Bytes of blob bodies read (configs and layers)."""
        return self.http.bytes_downloaded

    @property
    def blobs_downloaded(self) -> int:
        """Blob GETs started (a resumed read counts once)."""
        return self.http.blobs_downloaded

    @property
    def requests_sent(self) -> int:
        """Every HTTP request, retries and token fetches included."""
        return self.http.requests_sent

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

        self._check_repository(repo)
        yield from self._pages(f"/v2/{repo}/tags/list", "tags", page_size, pull_scope(repo),
                               f"repository {repo}", missing)

    def manifest(self, repo: str, reference: str | Digest) -> Manifest:
        """The manifest (or index) a tag or a parsed digest names, its digest verified: against
        the digest, else against the registry's Docker-Content-Digest. A tag that is none (a
        registry's tag list is no more trusted than its manifests) is one RegistryError line."""
        self._check_repository(repo)
        if isinstance(reference, str) and not TAG.fullmatch(reference):
            raise RegistryError(f"registry {self.host} names a tag {printable(reference, 80)!r} "
                                f"in {repo}, which is not a tag",
                                hint="a tag is up to 128 letters, digits, '_', '.' and '-'")
        pinned = reference if isinstance(reference, Digest) else None
        path = f"/v2/{repo}/manifests/{quote(str(reference), safe=':')}"
        named = f"{repo}{'@' if pinned else ':'}{reference}"
        shown = f"{self.host}/{named}"
        with self.http.request("GET", path, pull_scope(repo),
                               headers={"Accept": ACCEPT}) as response:
            if response.status_code == 404:
                codes = error_codes(response) or "404"
                what = "repository" if "NAME_UNKNOWN" in codes else "image"
                raise ManifestUnknown(
                    f"registry {self.host} has no {what} {named} ({codes})",
                    hint=f"check the repository and tag; GET {self.http.base_url}/v2/{repo}/"
                    "tags/list lists the tags",
                )
            self.http.expect(response, 200, f"manifest {shown}")
            raw = self.http.read_capped(response, MAX_MANIFEST, f"manifest {shown}")
            header_digest = response.headers.get("Docker-Content-Digest", "")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        # a header digest of an algorithm imgaudit cannot check is left out: sha256 stands
        announced = Digest.parse(header_digest)
        expected = pinned or announced
        digest = Digest.of(raw, expected.algorithm) if expected else Digest.of(raw)
        if pinned and digest != pinned:
            raise DigestMismatch(f"manifest {shown} from {self.host} has digest {digest}")
        if not pinned and announced and digest != announced:
            raise DigestMismatch(
                f"manifest {shown} from {self.host} has digest {digest}, not the "
                f"{printable(header_digest, 140)} the registry announced"
            )
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # (nested past all reason)
            document = None
        if not isinstance(document, dict):
            raise RegistryError(f"manifest {shown} from {self.host} is not a JSON object")
        media_type = str(document.get("mediaType") or content_type or "")
        if document.get("schemaVersion") == 1:
            media_type = DOCKER_SCHEMA1_SIGNED if "signatures" in document else DOCKER_SCHEMA1
        return Manifest(str(digest), media_type, raw, document)

    def blob(self, repo: str, digest: Digest, max_size: int = MAX_BLOB) -> bytes:
        """A small blob (an image config) whole, its digest verified."""
        with self.open_blob(repo, digest) as stream:
            data = bytearray()
            while len(data) <= max_size and (chunk := stream.read(CHUNK)):
                data += chunk
            if len(data) > max_size:
                raise RegistryError(
                    f"blob {str(digest)[:19]} of {self.host}/{repo} is over {max_size} bytes, too "
                    "large for a config", hint="this is not a container image config")
        return bytes(data)

    @contextmanager
    def open_blob(self, repo: str, digest: Digest,
                  size: int | None = None) -> Iterator[BlobStream]:
        """A blob as a stream read once. Its digest (and `size`, when given) is checked when a read
        reaches its end, and when the block ends without error (after reading what is left):
        DigestMismatch on a difference, so no unverified byte outlives the block."""
        self._check_repository(repo)
        stream = BlobStream(self.http, repo, digest, size)
        try:
            yield stream
            stream.finish()
        finally:
            stream.close()

    def _check_repository(self, repo: str) -> None:
        """A repository name (from the user, or from the registry's own catalog) becomes part
        of a URL path only when it is one: no '..', '?', '%' or '/' at an end slips in."""
        if not is_repository(repo):
            raise RegistryError(f"registry {self.host}: {printable(repo, 80)!r} is not a "
                                "repository name", hint=REPOSITORY_FORM)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

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
            with self.http.request("GET", url, scope) as response:
                if response.status_code == 404:
                    raise missing(error_codes(response))
                self.http.expect(response, 200, what)
                page = self.http.read_capped(
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
                url = urljoin(self.http.base_url + path, following)
            elif len(items) == page_size and new:
                url = f"{path}?n={page_size}&last={quote(items[-1], safe='')}"
            else:
                url = None

