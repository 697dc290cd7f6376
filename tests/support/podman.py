"""A real podman for the tests: `podman system service` started on a socket of the session's own
(and stopped after it), the fixture images loaded into podman's storage from their `docker save`
archives under localhost/ia-podman/ names, and imgaudit run in a mount namespace where the usual
engine sockets are what a test says. Skips when podman is not installed, unless
IMGAUDIT_REQUIRE_ENGINE=1 (`make test` installs it), where it fails instead."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.sources.sockets import ping
from tests.support.archives import saved_archive
from tests.support.engine import inspect

PODMAN = shutil.which("podman") or ""
PREFIX = "localhost/ia-podman/"  # every name this suite gives an image in podman
START_TIMEOUT = 30.0
# The fixtures audited in podman, one of each kind: busybox and Python bases, pip caches left
# and deleted (whiteouts), many layers, a multi-stage build, secrets, a large layer.
COMPARED = ("seed", "secrets", "pip-root-cache", "pip-cache-deleted", "many-layers",
            "multistage", "shell-cmd")
BASES = ("imgaudit-fixture/busybox-base:1", "imgaudit-fixture/python-base:3.11")


def podman(*args: str) -> str:
    """The podman command's output (it works on the same storage as the service)."""
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, check=True,
                          timeout=300).stdout.strip()


def podman_name(tag: str) -> str:
    """The name a Docker fixture tag gets in podman: `imgaudit-fixture/seed:classic` is
    `localhost/ia-podman/seed:classic`."""
    return PREFIX + tag.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PodmanService:
    """A running `podman system service` and the images loaded into its storage."""

    socket: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def load(self, tag: str) -> str:
        """The Docker image `tag`, loaded into podman (from its `docker save` archive) unless
        podman holds it already under its name; that name."""
        name = podman_name(tag)
        wanted = _docker_id(tag)
        if _podman_id(name) == wanted:
            return name
        output = podman("load", "--quiet", "--input", str(saved_archive(tag)))
        loaded = output.rsplit("Loaded image:", 1)[-1].strip()
        podman("tag", wanted, name)
        if loaded and loaded != name:
            podman("untag", wanted, loaded)  # keep only names of this suite's prefix
        return name


def _docker_id(tag: str) -> str:
    return str(inspect(tag)["Id"])


def _podman_id(name: str) -> str:
    done = subprocess.run([PODMAN, "image", "inspect", "--format", "{{.Id}}", name],
                          capture_output=True, text=True, timeout=60)
    return f"sha256:{done.stdout.strip()}" if done.returncode == 0 else ""


def _missing(message: str) -> None:
    if os.environ.get("IMGAUDIT_REQUIRE_ENGINE") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _answers(socket: Path) -> bool:
    try:
        return ping(str(socket), timeout=2).split(b" ", 2)[1:2] == [b"200"]
    except OSError:
        return False


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    """Podman's Docker-compatible API on a socket of this session's own."""
    if not PODMAN:
        _missing("podman is not installed (run `bash fixtures/podman.sh`)")
    socket = tmp_path_factory.mktemp("podman") / "podman.sock"
    log = socket.with_name("service.log")
    with log.open("wb") as out:
        service = subprocess.Popen([PODMAN, "system", "service", "--time=0", f"unix://{socket}"],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(socket):
            if service.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"podman system service did not answer: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield PodmanService(socket)
    finally:
        service.terminate()
        service.wait(timeout=30)


@pytest.fixture(scope="session")
def podman_loaded(podman_service: PodmanService) -> PodmanService:
    """The podman service with the fixtures' bases loaded, so that it finds bases as Docker
    does."""
    for base in BASES:
        podman_service.load(base)
    return podman_service


def can_isolate() -> bool:
    """Whether imgaudit can run in a mount namespace of its own (root with util-linux)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def isolated(args: list[str], env: Mapping[str, str], podman_socket: Path | None = None,
             ) -> subprocess.CompletedProcess[str]:
    """`imgaudit ARGS` in a mount namespace of its own where /run is empty, so that no Docker
    engine answers at /var/run/docker.sock (/var/run is /run) and none at
    /run/podman/podman.sock, unless `podman_socket` is given: then that path leads there."""
    setup = ["mount -t tmpfs imgaudit-test /run"]
    if podman_socket is not None:
        setup += ["mkdir /run/podman", f"ln -s {shlex.quote(str(podman_socket))} "
                  "/run/podman/podman.sock"]
    command = " && ".join([*setup, "exec " + shlex.join([sys.executable, "-m", "auditor.cli",
                                                         *args])])
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", command],
                          capture_output=True, text=True, env=dict(env), timeout=300)
