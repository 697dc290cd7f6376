"""Running imgaudit for a test, and what its one-line errors look like."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol


class Completed(Protocol):
    """What a test reads of a finished run."""

    @property
    def returncode(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


def imgaudit(*args: str, env: Mapping[str, str], cwd: Path | None = None,
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
