"""`imgaudit fix` end to end on the archive shipped in fixtures/archives/ (no engine needed): the
diff and where it goes, --write, and the one-line refusals."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "fixtures" / "archives" / "demo.tar.gz"
BAD = f"docker-archive:{ARCHIVE}:imgaudit-fixture/demo-bad:buildkit"
GOOD = f"docker-archive:{ARCHIVE}:imgaudit-fixture/demo-good:classic"
TOKEN = "ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"


def imgaudit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """demo-bad's build context, with the files its prepare.sh makes (.env, .git, tests)."""
    context = tmp_path / "demo-bad"
    shutil.copytree(ROOT / "fixtures" / "images" / "demo-bad", context)
    subprocess.run(["bash", "prepare.sh"], cwd=context, check=True, capture_output=True)
    (context / "prepare.sh").unlink()
    return context


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return dict(cli_env, PYTHONPATH=str(ROOT))


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("imgaudit: error: ") and "(hint: " in line
    return line


def test_the_diff_is_printed_and_nothing_written(demo: Path, env: dict[str, str]) -> None:
    before = (demo / "Dockerfile").read_text()
    done = imgaudit("fix", BAD, "--dockerfile", "Dockerfile", env=env, cwd=demo)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("--- a/Dockerfile\n+++ b/Dockerfile\n")
    assert "\n-CMD sh /app/serve.sh\n" in out
    assert "\n+USER $USER_NAME\n+CMD [\"sh\", \"/app/serve.sh\"]\n" in out
    assert "--- /dev/null\n+++ b/.dockerignore\n" in out
    assert "+.env\n+.git\n+Dockerfile\n+tests\n+.dockerignore\n" in out
    assert TOKEN not in out + done.stderr
    assert " ENV DEPLOY_TOKEN=********\n" in out
    assert "secret values are masked in the diff" in done.stderr
    assert "IA1101 Dockerfile:4: Env DEPLOY_TOKEN holds a GitHub token" in done.stderr
    assert (demo / "Dockerfile").read_text() == before
    assert not (demo / ".dockerignore").exists()


def test_paths_in_the_diff_are_relative_to_the_working_directory(
        demo: Path, env: dict[str, str]) -> None:
    done = imgaudit("fix", BAD, "--dockerfile", "demo-bad/Dockerfile", env=env, cwd=demo.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- a/demo-bad/Dockerfile\n+++ b/demo-bad/Dockerfile\n")
    assert "+++ b/demo-bad/.dockerignore\n" in done.stdout


def test_write_applies_it_and_keeps_the_mode(demo: Path, env: dict[str, str]) -> None:
    dockerfile = demo / "Dockerfile"
    dockerfile.chmod(0o640)
    shown = imgaudit("fix", BAD, "--dockerfile", "Dockerfile", env=env, cwd=demo)
    done = imgaudit("fix", BAD, "--dockerfile", "Dockerfile", "--write", env=env, cwd=demo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("imgaudit: fix: wrote Dockerfile and .dockerignore: 5 edits "
                                  "for IA201, IA302, IA401, IA402, IA403, IA601, IA901, IA1002")
    text = dockerfile.read_text()
    assert TOKEN in text  # the user's file keeps its (to be removed) secret; only output masks
    assert 'CMD ["sh", "/app/serve.sh"]' in text and "USER $USER_NAME" in text
    assert stat.S_IMODE(dockerfile.stat().st_mode) == 0o640
    assert (demo / ".dockerignore").read_text().splitlines()[1:] == [
        ".env", ".git", "Dockerfile", "tests", ".dockerignore"]
    assert not [p for p in os.listdir(demo) if p.startswith(".Dockerfile.")]  # no leftovers
    assert shown.stderr.split("\n", 1)[1] == done.stderr.split("\n", 1)[1]  # the same advice
    # the image was not built from the fixed file: fixing again is refused
    again = imgaudit("fix", BAD, "--dockerfile", "Dockerfile", env=env, cwd=demo)
    assert "does not match the image's history" in one_error(again)


def test_a_dockerfile_that_does_not_match_is_refused(demo: Path, env: dict[str, str]) -> None:
    before = (demo / "Dockerfile").read_text()
    done = imgaudit("fix", GOOD, "--dockerfile", "Dockerfile", "--write", env=env, cwd=demo)
    line = one_error(done)
    assert "Dockerfile does not match the image's history" in line
    assert "nothing was changed" in line and "a wrong edit is worse than none" in line
    assert TOKEN not in line
    assert (demo / "Dockerfile").read_text() == before
    assert not (demo / ".dockerignore").exists()


@pytest.mark.parametrize(("args", "words"), [
    (("--dockerfile", "nope"), "cannot read nope"),
    (("--dockerfile", "Dockerfile", "--context", "nowhere"), "build context nowhere"),
    (("--dockerfile", "serve.sh"), "serve.sh"),
])
def test_what_cannot_be_read_is_one_line(demo: Path, env: dict[str, str],
                                         args: tuple[str, ...], words: str) -> None:
    assert words in one_error(imgaudit("fix", BAD, *args, env=env, cwd=demo))


def test_an_unknown_image_is_one_line(demo: Path, env: dict[str, str]) -> None:
    done = imgaudit("fix", f"docker-archive:{demo}/none.tar", "--dockerfile", "Dockerfile",
                    env=env, cwd=demo)
    assert "none.tar" in one_error(done)
