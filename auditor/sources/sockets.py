"""Which engine imgaudit talks to: the one DOCKER_HOST (or, for `podman:`, CONTAINER_HOST) names,
else the first of Docker's and podman's usual unix sockets that answers a ping, and whether that
engine is Docker or podman."""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.errors import DaemonUnavailable

DOCKER_SOCKET = "unix:///var/run/docker.sock"
PODMAN_SOCKET = "unix:///run/podman/podman.sock"  # podman's rootful service
PROBE_TIMEOUT = 2.0
_MAX_HEAD = 8192  # a ping's reply head is some 400 bytes; read no more than this of anything
_PODMAN_HEADER = b"\r\nlibpod-api-version:"  # what podman's /_ping says and Docker's does not
_START = ("start one: `dockerd &`, or podman's service: "
          "`podman system service --time=0 unix:///run/podman/podman.sock &`")
PODMAN_HINT = ("start podman's service (`podman system service --time=0 "
               "unix:///run/podman/podman.sock &`, or `systemctl --user start podman.socket`), "
               "or name it with CONTAINER_HOST=unix:///PATH/podman.sock")


class Engines(enum.Enum):
    """Which engines a transport may talk to: any (a bare name, `docker-daemon:`) or podman only
    (`podman:`). The value is how messages call the engine before it has answered."""

    ANY = "the Docker engine"
    PODMAN = "podman"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An engine's address as the Docker SDK takes it (`unix:///run/podman/podman.sock`,
    `tcp://host:2376`) and how messages call it: "the Docker engine" or "podman"."""

    url: str
    name: str

    @property
    def is_podman(self) -> bool:
        return self.name == Engines.PODMAN.value

    @property
    def hint(self) -> str:
        """What to do when it does not answer: podman's own hint, else DaemonUnavailable's."""
        return PODMAN_HINT if self.is_podman else ""

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """`environ` with DOCKER_HOST naming this endpoint, for docker.from_env (which also reads
        DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from it)."""
        return {**environ, "DOCKER_HOST": self.url}


def candidates(engines: Engines, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The addresses to try, in order. A variable that names one (DOCKER_HOST; CONTAINER_HOST
    for podman only) makes it the only one: a named engine that does not answer is an error,
    not a reason to talk to another."""
    named = _named(engines, environ)
    if named:
        return (named,)
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    found = [DOCKER_SOCKET] if engines is Engines.ANY else []
    if runtime.startswith("/"):
        found.append(f"unix://{runtime.rstrip('/')}/podman/podman.sock")  # rootless podman
    found.append(PODMAN_SOCKET)
    return tuple(dict.fromkeys(found))


def _named(engines: Engines, environ: Mapping[str, str]) -> str:
    return environ.get("DOCKER_HOST" if engines is Engines.ANY else "CONTAINER_HOST", "")


def ping(path: str, timeout: float = PROBE_TIMEOUT) -> bytes:
    """The head of the reply to `GET /_ping` on the unix socket at `path`, at most _MAX_HEAD
    bytes; OSError when nothing there accepts and answers within `timeout`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
            chunk = sock.recv(_MAX_HEAD - len(head))
            if not chunk:
                break
            head += chunk
    return head


def probe(url: str, fallback: Engines, timeout: float = PROBE_TIMEOUT) -> Endpoint:
    """The engine answering at a `unix://` url, told Docker or podman by its ping's headers;
    OSError (its strerror says why) when none answers. Other schemes are not probed: their
    endpoint is called as `fallback` says."""
    if not url.startswith("unix://"):
        return Endpoint(url, fallback.value)
    head = ping(url.removeprefix("unix://"), timeout)
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or status[1] != b"200":
        raise OSError(0, "not an engine's reply to a ping")
    podman = _PODMAN_HEADER in head.split(b"\r\n\r\n", 1)[0].lower()
    return Endpoint(url, (Engines.PODMAN if podman else Engines.ANY).value)


def _why(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT:g} s"
    return (exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__).lower()


def locate(engines: Engines, environ: Mapping[str, str]) -> Endpoint:
    """The engine to talk to (see `candidates`): a named one as it is, for the client to reach
    or fail on; else the first usual socket that answers, or DaemonUnavailable naming each tried
    and why it did not answer."""
    named = _named(engines, environ)
    if named:
        try:
            return probe(named, engines)
        except OSError:
            return Endpoint(named, engines.value)  # the client's error says why
    tried: list[str] = []
    for url in candidates(engines, environ):
        try:
            return probe(url, engines)
        except OSError as exc:
            tried.append(f"{url} ({_why(exc)})")
    if engines is Engines.PODMAN:
        raise DaemonUnavailable(f"podman does not answer: tried {', '.join(tried)}", PODMAN_HINT)
    raise DaemonUnavailable(
        f"no container engine answers: tried {', '.join(tried)}",
        f"{_START}; or name one with DOCKER_HOST, or audit a saved archive: "
        "imgaudit docker-archive:image.tar",
    )
