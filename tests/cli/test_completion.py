"""Shell completion from typer, through a real bash: the script `--show-completion` prints, the
completion protocol it calls, and `--install-completion` into a temporary HOME."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None or not (BIN / "imgaudit").exists(),
                                reason="needs bash and the imgaudit console script")


@pytest.fixture
def env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return dict(cli_env, PATH=f"{BIN}{os.pathsep}{cli_env.get('PATH', '')}",
                HOME=str(tmp_path / "home"))


def shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert BASH is not None
    return subprocess.run([BASH, "--norc", "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_show_completion_for_a_named_shell(env: dict[str, str]) -> None:
    # With detection disabled typer takes the shell as a value; `bash` is not an image to audit.
    named = dict(env, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    for name, marker in (("bash", "complete -o default -F _imgaudit_completion imgaudit"),
                         ("zsh", "#compdef imgaudit"), ("fish", "complete --command imgaudit")):
        done = subprocess.run([str(BIN / "imgaudit"), "--show-completion", name],
                              capture_output=True, text=True, env=named, check=False)
        assert done.returncode == 0, done.stderr
        assert marker in done.stdout
        assert "_IMGAUDIT_COMPLETE" in done.stdout


def test_show_completion_detects_bash(env: dict[str, str]) -> None:
    # A second command keeps bash from exec-ing imgaudit, so bash stays the parent it detects
    # (run under make, the exec'd imgaudit's parent chain would show make's /bin/sh).
    done = shell("imgaudit --show-completion; exit $?", env)
    assert done.returncode == 0, done.stderr
    assert "_imgaudit_completion" in done.stdout


def complete(line: str, env: dict[str, str]) -> list[str]:
    """What bash offers for `line` once imgaudit's completion script is loaded."""
    named = dict(env, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    script = subprocess.run([str(BIN / "imgaudit"), "--show-completion", "bash"],
                            capture_output=True, text=True, env=named, check=True).stdout
    words = line.split(" ")  # a trailing space leaves an empty word to complete
    done = shell(
        f"{script}\nCOMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}\n"
        '_imgaudit_completion imgaudit; printf "%s\\n" "${COMPREPLY[@]}"',
        env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands(env: dict[str, str]) -> None:
    offered = complete("imgaudit ", env)
    assert {"audit", "rules", "version", "install-docker-plugin"} <= set(offered)
    assert complete("imgaudit ru", env) == ["rules"]


def test_bash_completes_options_after_an_image(env: dict[str, str]) -> None:
    # `imgaudit IMAGE --fail<TAB>`: the default-to-audit group routes completion to `audit`.
    options = {"--fail-under", "--fail-on", "--fail-on-new"}
    assert set(complete("imgaudit app:1 --fail", env)) == options
    assert "markdown" in complete("imgaudit rules --format ", env)  # an option's choices
    assert set(complete("imgaudit app:1 --format s", env)) == {"sarif"}
    assert "--fail-under" in complete("imgaudit audit app:1 --fail", env)


def test_install_completion_writes_into_home(env: dict[str, str], tmp_path: Path) -> None:
    done = shell("imgaudit --install-completion; exit $?", env)
    assert done.returncode == 0, done.stderr
    home = Path(env["HOME"])
    installed = home / ".bash_completions" / "imgaudit.sh"
    assert "_imgaudit_completion" in installed.read_text()
    assert str(installed.name) in (home / ".bashrc").read_text()
