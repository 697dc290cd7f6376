"""Policy files written into a throwaway repository, the policy loaded from there, and imgaudit
run there as a command."""

from __future__ import annotations

from pathlib import Path

from auditor.config import EffectivePolicy, load_policy
from tests.support.cli import Ran
from tests.support.cli import imgaudit as run_imgaudit


def make_repo(tmp_path: Path) -> Path:
    """A repository root (it holds .git), so discovery never wanders above the test's folder."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(cwd: Path, **kwargs: object) -> EffectivePolicy:
    return load_policy(cwd=cwd, **kwargs)  # type: ignore[arg-type]


def imgaudit(*args: str, cwd: Path, env: dict[str, str]) -> Ran:
    """imgaudit ARGS run in `cwd`, in this process."""
    return run_imgaudit(*args, env=env, cwd=cwd)
