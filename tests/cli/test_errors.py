"""Every error is said once: one `imgaudit: error:` line on stderr with its hint, nothing about
it on stdout, exit 2; for audit, diff and fix alike, whatever failed (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Ran, imgaudit
from tests.support.paths import ROOT

pytestmark = [pytest.mark.engine]
GOOD = "imgaudit-fixture/seed:classic"
DOCKERFILE = str(ROOT / "fixtures" / "images" / "seed" / "Dockerfile")


@pytest.fixture
def corrupt(tmp_path: Path) -> str:
    path = tmp_path / "corrupt.tar"
    path.write_bytes(b"not a tar archive\x00" * 64)
    return f"docker-archive:{path}"


def targets(corrupt: str) -> dict[str, str]:
    return {
        "unknown image": "imgaudit-fixture/no-such-image:1",
        "corrupt archive": corrupt,
        "bad registry": "docker://127.0.0.1:1/app:1",
    }


def commands(target: str) -> dict[str, tuple[str, ...]]:
    return {
        "audit": (target,),
        "audit-json": (target, "--format", "json"),
        "diff": ("diff", target, GOOD),
        "fix": ("fix", target, "--dockerfile", DOCKERFILE),
    }


def assert_said_once(ran: Ran, subject: str) -> None:
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.splitlines()[0].startswith("imgaudit: error:"), ran.stderr
    assert len(ran.stderr.splitlines()) == 1, ran.stderr  # the error line, and nothing else
    assert subject in ran.stderr and "(hint: " in ran.stderr
    assert "could not audit" not in ran.stdout and subject not in ran.stdout.split("{", 1)[0]


@pytest.mark.parametrize("what", ["unknown image", "corrupt archive", "bad registry"])
@pytest.mark.parametrize("command", ["audit", "audit-json", "diff", "fix"])
def test_each_error_is_one_line(fixture_images: list[str], corrupt: str, what: str,
                                command: str, cli_env: dict[str, str]) -> None:
    target = targets(corrupt)[what]
    ran = imgaudit(*commands(target)[command], env=cli_env)
    assert_said_once(ran, target)


@pytest.mark.parametrize("command", ["audit", "diff", "fix"])
def test_an_engine_that_is_down_is_one_line(command: str, cli_env: dict[str, str]) -> None:
    env = dict(cli_env, DOCKER_HOST="tcp://127.0.0.1:1")
    args = {"audit": ("app:1", "app:2"), "diff": ("diff", "app:1", "app:2"),
            "fix": ("fix", "app:1", "--dockerfile", DOCKERFILE)}[command]
    ran = imgaudit(*args, env=env)
    assert_said_once(ran, "cannot reach the Docker engine")
    if command != "fix":  # two images that failed alike share the line
        assert "app:1, app:2: cannot reach the Docker engine" in ran.stderr
