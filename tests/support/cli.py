"""Running imgaudit for a test: in this process through typer's CliRunner (most tests), or as a
real process where only a process will do (the console script, terminals, signals, plugins)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from typer.testing import CliRunner

from auditor.cli import main


class Completed(Protocol):
    """What a test reads of a finished run, in process or not."""

    @property
    def returncode(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


@dataclass(frozen=True)
class Ran:
    """A run in this process: the exit code and the two streams, named as subprocess names them."""

    returncode: int
    stdout: str
    stderr: str


def imgaudit(*args: str, env: Mapping[str, str], cwd: Path | None = None,
             stdin: str | None = None) -> Ran:
    """`imgaudit ARGS` through the console script's own entry point, in this process: env is the
    whole environment (as for a subprocess), cwd the working folder, stdin what it reads."""
    environment: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    environment.update(env)
    argv = sys.argv
    sys.argv = ["imgaudit", *args]  # as a process has it: the sweep's resume hint quotes it
    try:
        with CliRunner().isolation(input=stdin, env=environment) as (out, err, _), \
                contextlib.chdir(cwd or Path.cwd()):
            try:
                main(list(args), prog_name="imgaudit")
            except SystemExit as ended:
                code = ended.code
            else:
                raise AssertionError("auditor.cli.main returned instead of exiting")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        sys.argv = argv
    assert isinstance(code, int), code  # main exits with a number, never a message
    return Ran(code, stdout.decode(), stderr.decode())


def imgaudit_process(*args: str, env: Mapping[str, str], cwd: Path | None = None,
                     stdin: str | None = None, timeout: float = 300
                     ) -> subprocess.CompletedProcess[str]:
    """`python -m auditor.cli ARGS` as a process of its own."""
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, env=dict(env), cwd=cwd, input=stdin, timeout=timeout)


def assert_one_line_error(done: Completed, *words: str) -> None:
    """Exit 2 and exactly one `imgaudit: error:` line, with a hint and every word, no traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("imgaudit: error:")]
    assert len(lines) == 1, done.stderr
    assert "hint:" in lines[0]
    for word in words:
        assert word in lines[0]
