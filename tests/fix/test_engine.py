"""`imgaudit fix --write` round trips on fixture images, with the classic builder and with BuildKit:
the fixture's context copied (and prepared as fixtures/build.py prepares it), built, audited,
fixed, built again with the same builder and audited again. The practices each fix targets must
pass, nothing that passed may fail, the score must rise, a second fix must find nothing to do,
and the container must still start and answer. Images are tagged imgaudit-test/fix-* and
removed afterwards, with every container started."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from auditor import audit
from auditor.model.findings import Status
from auditor.model.report import ImageReport

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
FLAGS = {"classic": "0", "buildkit": "1"}
BUILDERS = tuple(FLAGS)
BAD = (Status.FAIL, Status.WARN, Status.ERROR)


@dataclass(frozen=True)
class Case:
    name: str
    fixed: tuple[str, ...]  # the rules whose findings the fix must clear
    port: int  # where the app answers
    answer: bytes  # what its answer starts with


CASES = (
    Case("demo-bad", ("IA201", "IA302", "IA401", "IA402", "IA403", "IA501", "IA601", "IA901",
                      "IA1002"), 8080, b"HTTP/1.0 200 OK"),
    Case("context-copy", ("IA401", "IA402", "IA403"), 8000, b"HTTP/1.0 200 OK"),
    Case("os-cache", ("IA902",), 8080, b"hello"),
    Case("npm-cache", ("IA903",), 8080, b"hello"),
    Case("pip-root-cache", ("IA901",), 8000, b"HTTP/1.0 200 OK"),
    Case("shell-cmd", ("IA1002",), 8000, b"HTTP/1.0 200 OK"),
    Case("no-workdir", ("IA601",), 8080, b"hello"),
    Case("root-user", ("IA201", "IA501"), 8080, b"hello"),
    Case("missing-user", ("IA202",), 8080, b"hello"),
    Case("many-layers", ("IA301", "IA302"), 8080, b"hello"),
)


def _fixture_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fixture_build", ROOT / "fixtures" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bases(engine: None) -> None:
    """The two base images every fixture starts FROM (built once, kept)."""
    subprocess.run(["bash", str(ROOT / "fixtures" / "base" / "build-bases.sh")], check=True,
                   capture_output=True)


@pytest.fixture
def tags() -> Iterator[list[str]]:
    """The test's own image tags and containers (by id), removed afterwards: containers first."""
    made: list[str] = []
    yield made
    containers = [name for name in made if not name.startswith("imgaudit-test/")]
    if containers:
        subprocess.run([DOCKER, "rm", "--force", *containers], capture_output=True)
    images = [name for name in made if name.startswith("imgaudit-test/")]
    if images:
        subprocess.run([DOCKER, "rmi", *images], capture_output=True)


def prepare(name: str, scratch: Path) -> Path:
    """The fixture's context as fixtures/build.py prepares it."""
    context: Path = _fixture_builder().prepare_context(name, scratch)
    return context


def build(context: Path, tag: str, builder: str, tags: list[str]) -> None:
    tags.append(tag)
    done = subprocess.run(
        [DOCKER, "build", "--quiet", "--network", "none", "--tag", tag, str(context)],
        env=dict(os.environ, DOCKER_BUILDKIT=FLAGS[builder]), capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr + (context / "Dockerfile").read_text()


def audited(tag: str) -> ImageReport:
    report = audit([tag])
    assert not report.failures, report.failures
    return report.images[0]


def fix(context: Path, tag: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", "fix", tag, "--dockerfile", "Dockerfile",
         *options],
        cwd=context, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1"))


def statuses(report: ImageReport) -> dict[str, Status]:
    return {result.rule.id: result.status for result in report.results}


def answer(tag: str, port: int, tags: list[str]) -> bytes:
    """What the app says to a request, from a container of the image (20 s at most)."""
    started = subprocess.run([DOCKER, "run", "--detach", "--publish", f"127.0.0.1::{port}", tag],
                             capture_output=True, text=True, check=True)
    container = started.stdout.strip()
    tags.append(container)
    published = subprocess.run([DOCKER, "port", container, f"{port}/tcp"], capture_output=True,
                               text=True, check=True).stdout.split()[0]
    host, _, number = published.rpartition(":")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(number)), timeout=3) as connection:
                connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = connection.recv(200)
            if data:
                return data
        except OSError:
            pass
        time.sleep(0.5)
    logs = subprocess.run([DOCKER, "logs", container], capture_output=True, text=True)
    pytest.fail(f"{tag} did not answer on {port}: {logs.stdout}{logs.stderr}")


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fix_round_trip(case: Case, builder: str, bases: None, tags: list[str],
                        tmp_path: Path) -> None:
    context = prepare(case.name, tmp_path)
    before_tag = f"imgaudit-test/fix-{case.name}:{builder}-before"
    after_tag = f"imgaudit-test/fix-{case.name}:{builder}-after"
    build(context, before_tag, builder, tags)
    before = audited(before_tag)
    targeted = {rule: status for rule, status in statuses(before).items() if rule in case.fixed}
    assert any(status in BAD for status in targeted.values()), targeted

    written = fix(context, before_tag, "--write")
    assert written.returncode == 0, written.stderr
    assert written.stderr.startswith("imgaudit: fix: wrote "), written.stderr
    build(context, after_tag, builder, tags)
    after = audited(after_tag)

    now = statuses(after)
    assert {rule: now[rule] for rule in case.fixed} == dict.fromkeys(case.fixed, Status.PASS)
    worse = {rule for rule, status in now.items()
             if status in BAD and statuses(before)[rule] not in BAD}
    assert not worse, worse
    assert after.score > before.score
    print(f"\n{case.name} {builder}: score {before.score} -> {after.score}")

    again = fix(context, after_tag)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert "nothing in Dockerfile can be fixed mechanically" in again.stderr

    assert answer(after_tag, case.port, tags).startswith(case.answer)
