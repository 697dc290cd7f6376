"""Cloud and tool credential files (the secrets group): ~/.aws, ~/.azure, gcloud, .gcp keys,
docker, npm, PyPI, netrc and kubeconfig files, judged by whether they hold a credential value.
Keys are named, values never shown."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auditor.model.findings import Flag, Passed, Severity
from auditor.model.image import FileKind, Image
from auditor.model.policy import Limits
from auditor.redact import MASK, is_placeholder
from auditor.rules.registry import Verdict, rule
from auditor.rules.secrets import SECRETS_PRACTICE
from auditor.rules.support import (
    any_component,
    layer_matches,
    require_content,
    still_present,
    where,
)
from auditor.text import printable
from auditor.units import human_size, plural

# What a reader returns: the names of the credential keys the file holds a value for.
Reader = Callable[[str], list[str]]

# `key = value` (or `key: value`); npm's registry-scoped keys (`//host/path/:_authToken=`) hold
# colons of their own
_INI_LINE = re.compile(r"^\s*(?P<key>//[^=\s]+|[^=:\s]+)\s*[=:]\s*(?P<value>.*?)\s*$")
# JSON keys whose string value is a credential, in any tool's file.
_JSON_SECRET = re.compile(
    r"(?i)^(auth|identitytoken|registrytoken|password|secret|client_secret|private_key|"
    r"refresh_token|access_token|accesstoken|refreshtoken|token)$"
)
# A `"key": "value"` pair of JSON text, read without parsing the document around it.
_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,64})"\s*:\s*"(?P<value>[^"\\]*)"')
_SQLITE_SECRET = re.compile(rb"refresh_token|private_key|access_token|client_secret")
_NETRC_PASSWORD = re.compile(r"(?:^|\s)(password|account)\s+(?P<value>\S+)")
_KUBE_SECRET = re.compile(
    r"^\s*(?P<key>token|client-key-data|password|id-token|refresh-token)\s*:\s*(?P<value>\S.*)$",
    re.MULTILINE,
)


def _ini(keys: re.Pattern[str]) -> Reader:
    """A reader of `key = value` lines: the keys matching `keys` with a real value."""

    def read(text: str) -> list[str]:
        found = []
        for line in text.splitlines():
            match = _INI_LINE.match(line)
            if match and keys.search(match.group("key")) and _real(match.group("value")):
                found.append(match.group("key"))
        return found

    return read


def _real(value: str) -> bool:
    """A value that is not empty, a placeholder or an environment reference (`${NPM_TOKEN}`)."""
    value = value.strip().strip("\"'")
    return bool(value) and not is_placeholder(value) and not value.startswith("${")


def _json_keys(text: str) -> list[str]:
    """Credential keys with a real string value anywhere in a JSON document."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    except RecursionError:  # nested past what json reads: its string pairs, read flat
        return sorted({m["key"] for m in _JSON_PAIR.finditer(text)
                       if _JSON_SECRET.match(m["key"]) and _real(m["value"])})
    found: list[str] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and _JSON_SECRET.match(str(key)) and _real(value):
                    found.append(str(key))
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(set(found))


def _netrc(text: str) -> list[str]:
    return sorted({m.group(1) for m in _NETRC_PASSWORD.finditer(text) if _real(m.group("value"))})


def _kubeconfig(text: str) -> list[str]:
    return sorted({m.group("key") for m in _KUBE_SECRET.finditer(text)
                   if _real(m.group("value"))})


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    path: re.Pattern[str]
    read: Reader | None  # None: a binary store, judged by the credential words it holds


_KINDS: tuple[_Kind, ...] = (
    _Kind("AWS credentials", re.compile(r"(^|/)\.aws/(credentials|config)$"),
          _ini(re.compile(r"(?i)^aws_(secret_access_key|session_token|security_token)$"))),
    _Kind("Azure CLI token cache", re.compile(r"(^|/)\.azure/[^/]+\.json$"), _json_keys),
    _Kind("gcloud credentials", re.compile(r"(^|/)\.config/gcloud/.+\.json$"), _json_keys),
    _Kind("gcloud credential store", re.compile(r"(^|/)\.config/gcloud/[^/]+\.db$"), None),
    _Kind("Google Cloud key", re.compile(r"(^|/)\.gcp/[^/]+\.json$"), _json_keys),
    _Kind("Docker registry login", re.compile(r"(^|/)\.docker/config\.json$"), _json_keys),
    _Kind("npm token", re.compile(r"(^|/)\.npmrc$"),
          _ini(re.compile(r"(^|:)(_authToken|_auth|_password)$"))),
    _Kind("PyPI password", re.compile(r"(^|/)\.pypirc$"), _ini(re.compile(r"^password$"))),
    _Kind("netrc password", re.compile(r"(^|/)\.netrc$"), _netrc),
    _Kind("kubeconfig", re.compile(r"(^|/)(\.kube/config|[^/]*kubeconfig[^/]*)$"), _kubeconfig),
)
# The bytes the rule asks the scanner to keep: every path a kind above may match.
CREDENTIAL_FILES = (
    "*.aws/credentials", "*.aws/config", "*.azure/*.json", "*.config/gcloud/*", "*.gcp/*.json",
    "*.docker/config.json", "*.npmrc", "*.pypirc", "*.netrc", "*.kube/config", "*kubeconfig*",
)


# A path any kind above may match, found in one search: the entries worth asking _kind.
_ANY_KIND = any_component(kind.path for kind in _KINDS)


def _kind(path: str) -> _Kind | None:
    return next((k for k in _KINDS if k.path.search(path)), None)


def _held(kind: _Kind, data: bytes) -> list[str]:
    if kind.read is None:
        return sorted({m.decode() for m in _SQLITE_SECRET.findall(data)})
    return kind.read(data.decode("utf-8", "replace"))


# Key names come from the image: a handful is shown, each cut short.
_SHOWN_KEYS = 10


def _masked(keys: list[str]) -> str:
    shown = ", ".join(f"{printable(key, 80)}={MASK}" for key in keys[:_SHOWN_KEYS])
    more = len(keys) - _SHOWN_KEYS
    return shown + (f" and {plural(more, 'more key')}" if more > 0 else "")


@rule(
    "IA1104",
    practice=SECRETS_PRACTICE,
    title="Cloud or tool credentials in the image",
    severity=Severity.HIGH,
    rationale="A CLI's login (AWS, Azure, gcloud, docker, npm, PyPI, netrc, kubectl) left in "
    "any layer gives whoever pulls the image that account, even if a later layer deleted it.",
    fix="Log in with `RUN --mount=type=secret` (or a build-time credential helper) so the file "
    "never lands in a layer; revoke and rotate the leaked credential.",
    needs_content=True,
    files=CREDENTIAL_FILES,
    tags=("security", "external/cwe/cwe-522"),
)
def tool_credentials_left(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag credential files of cloud and package tools in any layer (the base's shown apart)
    that hold a credential value, critical like any live secret: aws_secret_access_key,
    .docker/config.json `auths` with an `auth`, an npm `_authToken`, a .pypirc password, a
    netrc password, a kubeconfig token or client key. A file holding none (a region, a
    registry URL, a `${NPM_TOKEN}` reference, a credsStore) is not flagged; one too large to
    read is, at the rule's severity."""
    require_content(image)
    clean: list[str] = []
    for layer, entry in layer_matches(image, _ANY_KIND.search):
        if entry.kind is not FileKind.FILE:
            continue
        kind = _kind(entry.path)
        if kind is None:
            continue
        content = layer.content
        data = content.captured.get(entry.path) if content is not None else None
        deleted = ("; deleted by a later layer but still shipped"
                   if not still_present(image, layer, entry) else "")
        if data is None:
            yield Flag(
                f"{kind.name} file in the image, too large to read: /{entry.path}",
                f"{where(image, layer.number)}: /{entry.path} ({human_size(entry.size)}, not "
                f"read){deleted}",
                layer=layer.number,
                path=entry.path,
                size=entry.size,
            )
            continue
        keys = _held(kind, data)
        if not keys:
            clean.append("/" + entry.path)
            continue
        yield Flag(
            f"{kind.name} left in the image: /{entry.path}",
            f"{where(image, layer.number)}: /{entry.path}: "
            + _masked(keys) + deleted,
            layer=layer.number,
            path=entry.path,
            size=entry.size,
            severity=Severity.CRITICAL,
        )
    if clean:
        shown = ", ".join(clean[:3]) + (f" and {len(clean) - 3} more" if len(clean) > 3 else "")
        yield Passed(f"{plural(len(clean), 'tool configuration file')} without a credential "
                     f"value: {shown}")
    else:
        yield Passed("no cloud or tool credential file in any layer")
