"""Reads `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`: the registry host is always named (no implicit
Docker Hub), the tag defaults to `latest`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from auditor.errors import InvalidReference
from auditor.sources.documents import DIGEST_FORM, Digest, is_digest

PREFIX = "docker://"
DEFAULT_TAG = "latest"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(\d{{1,5}}))?$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The distribution spec's bound on a repository name (host excluded).
MAX_REPOSITORY = 255
REPOSITORY_FORM = ("a repository is lowercase letters and digits in parts separated by '/', "
                   "with '.', '_', '__' or '-' inside a part")


def is_repository(name: str) -> bool:
    """Whether name is a repository name, so that it may become part of a URL path."""
    return (0 < len(name) <= MAX_REPOSITORY
            and all(_COMPONENT.match(part) for part in name.split("/")))


@dataclass(frozen=True, slots=True)
class RegistryReference:
    """One image in a registry. `tag` is "" only when a digest was given without one."""

    host: str  # "registry.example.com", "127.0.0.1:5000", "[::1]:5000"
    repository: str  # "team/app"
    tag: str = DEFAULT_TAG
    digest: str = ""  # "sha256:<hex>" when pinned

    @property
    def reference(self) -> str | Digest:
        """What `/v2/<repo>/manifests/<reference>` takes: the digest (parsed) if pinned, else
        the tag."""
        return Digest.parse(self.digest) or self.tag

    @property
    def name(self) -> str:
        """REPO:TAG, or REPO@DIGEST when no tag was given."""
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"

    @property
    def target(self) -> str:
        """docker://HOST/REPO[:TAG][@DIGEST], as imgaudit takes it on the command line."""
        return PREFIX + str(self)

    def with_digest(self, digest: str) -> RegistryReference:
        """The same tag pinned to a digest (fetched by digest, reported under the tag)."""
        return RegistryReference(self.host, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text



def parse_host(text: str) -> str:
    """HOST[:PORT] checked and lowercased; a `docker://` or `https://` prefix and a trailing slash
    are dropped, so `imgaudit sweep docker://reg:5000/` means the same as `reg:5000`."""
    host = text.strip()
    for prefix in (PREFIX, "https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.rstrip("/")
    match = _HOST.match(host)
    if not match or (match.group(1) is not None and not 0 < int(match.group(1)) < 65536):
        raise InvalidReference(
            f"{text!r} is not a registry host",
            hint="write HOST or HOST:PORT, for example registry.example.com or 127.0.0.1:5000",
        )
    return host.lower()


def _looks_like_host(part: str) -> bool:
    """Docker's rule: the first path part names a registry if it has a dot or a port, or is
    localhost (or a bracketed IPv6 address)."""
    return "." in part or ":" in part or part == "localhost" or part.startswith("[")


def parse_reference(text: str) -> RegistryReference:
    """`docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` (the prefix is optional here)."""
    body = text.strip().removeprefix(PREFIX)
    host_part, slash, path = body.partition("/")
    if not slash or not _looks_like_host(host_part):
        raise InvalidReference(f"{text!r} names no registry host")
    host = parse_host(host_part)
    digest = ""
    if "@" in path:
        path, _, digest = path.partition("@")
        if not is_digest(digest):
            raise InvalidReference(f"{text!r}: {digest!r} is not a digest",
                                   hint=f"a digest is {DIGEST_FORM}")
    repository, tag = path, ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = path.rpartition(":")
        if not TAG.match(tag):
            raise InvalidReference(
                f"{text!r}: {tag!r} is not a tag",
                hint="a tag is up to 128 letters, digits, '_', '.' and '-', not starting with "
                "'.' or '-'",
            )
    if not is_repository(repository):
        raise InvalidReference(f"{text!r}: {repository!r} is not a repository name",
                               hint=REPOSITORY_FORM)
    if not tag and not digest:
        tag = DEFAULT_TAG
    return RegistryReference(host, repository, tag, digest)


def is_loopback(host: str) -> bool:
    """Whether HOST[:PORT] is this machine: localhost, 127.0.0.0/8 or ::1."""
    name = host
    if name.startswith("["):
        name = name[1 : name.index("]")]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
