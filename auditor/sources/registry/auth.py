"""Registry credentials and the `WWW-Authenticate` challenge: explicit credentials, else the Docker
config (`auths`, `credHelpers`, `credsStore` through `docker-credential-*`), else anonymous; Basic
and Bearer (token server) answers, tokens cached per scope. No secret is ever put in a message."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import requests

from auditor.errors import RegistryError, RegistryUnauthorized
from auditor.sources.registry.reference import is_loopback

HELPER_TIMEOUT = 30.0
DEFAULT_TOKEN_LIFETIME = 60  # seconds, as the token spec says when expires_in is absent
_TOKEN_MARGIN = 10
_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
_HUB_KEY = "https://index.docker.io/v1/"
_NOT_FOUND = "credentials not found"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What to log in with. `source` says where it came from, for messages; the secrets never
    appear in repr() or in any message."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # `docker login`'s OAuth refresh token
    source: str = "anonymous"

    @property
    def anonymous(self) -> bool:
        return not (self.password or self.identity_token)

    def basic(self) -> str:
        """The value of an `Authorization: Basic ...` header."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


ANONYMOUS = Credentials()


# --------------------------------------------------------------------------- the Docker config


def docker_config_dir() -> Path:
    """$DOCKER_CONFIG, else ~/.docker, as the Docker CLI finds it."""
    explicit = os.environ.get("DOCKER_CONFIG")
    return Path(explicit) if explicit else Path.home() / ".docker"


def _server_key(text: str) -> str:
    """An `auths` key (`https://host/v1/`, `host`, `http://host`) as its bare lowercased host."""
    if "://" not in text:
        text = "//" + text
    host = (urlsplit(text).netloc or text).lower()
    return "index.docker.io" if host in _HUB_HOSTS else host


def _read_config(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(
            f"cannot read the Docker config {path} ({type(exc).__name__})",
            hint="fix or move the file, or pass --username USER --password-stdin",
        ) from exc
    return data if isinstance(data, dict) else {}


def from_docker_config(host: str, config_dir: Path | None = None) -> Credentials:
    """The credentials the Docker CLI would use for HOST, or ANONYMOUS.

    Order as the CLI's: `credHelpers[host]`, else `credsStore`, else the `auths` entry (a base64
    `auth`, a username and password, or an `identitytoken`).
    """
    path = (config_dir or docker_config_dir()) / "config.json"
    config = _read_config(path)
    key = _server_key(host)
    helpers = config.get("credHelpers") or {}
    helper = next((str(v) for k, v in helpers.items() if _server_key(str(k)) == key), "")
    if helper:
        return from_helper(helper, host, f"credHelpers in {path}") or ANONYMOUS
    if store := str(config.get("credsStore") or ""):
        found = from_helper(store, host, f"credsStore in {path}")
        if found is not None:
            return found
    auths = config.get("auths") or {}
    entry = next((v for k, v in auths.items() if _server_key(str(k)) == key), None)
    if not isinstance(entry, dict):
        return ANONYMOUS
    source = f"auths in {path}"
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if encoded := str(entry.get("auth") or ""):
        try:
            username, sep, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sep = ""
        if not sep:
            raise RegistryError(
                f"the `auth` entry for {host} in {path} is not base64 of USER:PASSWORD",
                hint=f"run `docker login {host}` again",
            )
    token = str(entry.get("identitytoken") or "")
    if not (password or token):
        return ANONYMOUS
    return Credentials(username, password, token, source)


def _helper_server(host: str) -> str:
    return _HUB_KEY if _server_key(host) == "index.docker.io" else host


def from_helper(name: str, host: str, where: str = "") -> Credentials | None:
    """`docker-credential-NAME get` with HOST on stdin; None when it holds nothing for HOST."""
    program = f"docker-credential-{name}"
    hint = (
        f"check it with `echo {host} | {program} get`, or fix {where or 'the Docker config'}, "
        "or pass --username USER --password-stdin"
    )
    try:
        done = subprocess.run(
            [program, "get"], input=_helper_server(host).encode(), capture_output=True,
            timeout=HELPER_TIMEOUT, check=False,
        )
    except FileNotFoundError:
        raise RegistryError(
            f"credential helper {program} (named by {where or 'the Docker config'}) is not on PATH",
            hint=hint,
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistryError(f"credential helper {program} failed ({type(exc).__name__})",
                            hint=hint) from None
    if done.returncode != 0:
        said = (done.stdout + done.stderr).decode(errors="replace").lower()
        if _NOT_FOUND in said:
            return None
        # its output is not shown: a broken helper may echo what it holds
        raise RegistryError(f"credential helper {program} failed (exit status {done.returncode})",
                            hint=hint)
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (ValueError, AttributeError):
        raise RegistryError(f"credential helper {program} did not answer JSON", hint=hint) from None
    if not secret:
        return None
    source = f"{program} ({where})" if where else program
    if username == "<token>":
        return Credentials("", "", secret, source)
    return Credentials(username, secret, "", source)


# --------------------------------------------------------------------------- challenges


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a `WWW-Authenticate` header: its scheme (lowercased) and parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME = re.compile(rf"[\s,]*({_TOKEN})")
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s,]*)\s*(?:,|$)")
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse_challenges(header: str) -> tuple[Challenge, ...]:
    """`Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`, or several
    challenges in one header (`Basic realm="x", Bearer realm="y"`)."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        scheme = _SCHEME.match(header, position)
        if scheme is None:
            break
        position = scheme.end()
        params: dict[str, str] = {}
        while (param := _PARAM.match(header, position)) is not None and param.end() > position:
            value = param.group(2)
            if value.startswith('"'):
                value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            position = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), MappingProxyType(params)))
    return tuple(challenges)


# --------------------------------------------------------------------------- answering them

# (method, url, headers, params, data) -> a response, with the client's retries
Send = Callable[..., requests.Response]


class Authenticator:
    """Answers one registry host's challenges and remembers the answers: Basic for the host once
    it asked for it, a Bearer token per scope until it expires. Safe to share between threads.

    credentials=None looks them up in the Docker config, once, when a registry first asks.
    """

    def __init__(
        self, host: str, credentials: Credentials | None = None, *, insecure: bool = False,
        config_dir: Path | None = None,
    ) -> None:
        self.host = host
        self._credentials = credentials
        self._insecure = insecure
        self._config_dir = config_dir
        self._lock = threading.Lock()
        self._basic = False
        self._tokens: dict[str, tuple[str, float]] = {}

    @property
    def credentials(self) -> Credentials:
        with self._lock:
            if self._credentials is None:
                self._credentials = from_docker_config(self.host, self._config_dir)
            return self._credentials

    def header(self, scope: str) -> str | None:
        """The Authorization header to send unasked, if a previous challenge taught one."""
        with self._lock:
            if self._basic:
                assert self._credentials is not None
                return self._credentials.basic()
            token = self._tokens.get(scope)
            if token is not None and token[1] > time.monotonic():
                return f"Bearer {token[0]}"
        return None

    def answer(self, header: str, scope: str, send: Send) -> str:
        """The Authorization header that answers a 401's WWW-Authenticate header, fetching a token
        when the registry wants one; raises RegistryUnauthorized when there is no answer."""
        challenges = {c.scheme: c for c in parse_challenges(header)}
        if "bearer" in challenges:
            return "Bearer " + self._token(challenges["bearer"], scope, send)
        if "basic" in challenges:
            credentials = self.credentials
            if credentials.anonymous:
                raise self.refused("needs credentials and none were found")
            if credentials.identity_token and not credentials.password:
                raise self.refused(f"asks for a password, and {credentials.source} holds only "
                                   "an identity token")
            with self._lock:
                self._basic = True
            return credentials.basic()
        raise self.refused(f"asks for an authentication scheme imgaudit does not speak "
                           f"({header.split(' ', 1)[0][:40] or 'none'})")

    def forget(self, scope: str) -> None:
        with self._lock:
            self._tokens.pop(scope, None)

    def refused(self, why: str, status: int = 401) -> RegistryUnauthorized:
        credentials = self._credentials
        used = "" if credentials is None or credentials.anonymous else (
            f" (credentials from {credentials.source})")
        return RegistryUnauthorized(
            f"registry {self.host} {why}{used} [{status}]",
            hint=f"log in with `docker login {self.host}`, or pass --username USER "
            "--password-stdin",
        )

    def _token(self, challenge: Challenge, scope: str, send: Send) -> str:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.refused(f"names no usable token server (realm {realm[:80]!r})")
        credentials = self.credentials
        if (parts.scheme == "http" and not credentials.anonymous and not self._insecure
                and not is_loopback(parts.netloc)):
            raise RegistryUnauthorized(
                f"registry {self.host} sends credentials to a plain-HTTP token server "
                f"{parts.netloc}; refused",
                hint="use an HTTPS token server, or pass --insecure if this network is trusted",
            )
        wanted = challenge.params.get("scope") or scope
        params = {"service": challenge.params.get("service", "")}
        if wanted:
            params["scope"] = wanted
        try:
            if credentials.identity_token:
                response = send(
                    "POST", realm, data={**params, "grant_type": "refresh_token",
                                         "refresh_token": credentials.identity_token,
                                         "client_id": "imgaudit"},
                )
            else:
                headers = {} if credentials.anonymous else {"Authorization": credentials.basic()}
                response = send("GET", realm, params=params, headers=headers)
        except RegistryError as exc:
            raise type(exc)(f"token server {parts.netloc} for {self.host}: {exc.message}",
                            exc.hint) from exc
        with response:
            if response.status_code in (401, 403):
                why = ("refused the credentials" if not credentials.anonymous
                       else "needs credentials and none were found")
                raise self.refused(f"(token server {parts.netloc}) {why}", response.status_code)
            if response.status_code != 200:
                raise RegistryError(
                    f"token server {parts.netloc} for {self.host} answered "
                    f"{response.status_code}",
                    hint="try again later; check the registry's token service",
                )
            try:
                answer = response.json()
                token = str(answer.get("token") or answer.get("access_token") or "")
                lifetime = int(answer.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
            except (ValueError, AttributeError, TypeError):
                token, lifetime = "", 0
        if not token:
            raise RegistryError(f"token server {parts.netloc} for {self.host} gave no token",
                                hint="check the registry's token service")
        expires = time.monotonic() + max(lifetime - _TOKEN_MARGIN, _TOKEN_MARGIN)
        with self._lock:
            self._tokens[scope] = (token, expires)
        return token
