"""Finding the policy file: the one `--config` names, or the nearest `.imgaudit.toml` (or
`pyproject.toml` with a [tool.imgaudit] table) from the working directory up to the root of
its repository; and reading it as TOML."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from auditor.errors import ConfigError

CONFIG_FILE = ".imgaudit.toml"
PYPROJECT = "pyproject.toml"
# Discovery stops at the root of the repository the working directory is in: a policy above it
# belongs to some other project.
REPOSITORY_MARKERS = (".git", ".hg")


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A file the policy was read from; in a pyproject.toml, only its [tool.imgaudit] table."""

    path: Path
    in_pyproject: bool = False

    def __str__(self) -> str:
        return f"{self.path} [tool.imgaudit]" if self.in_pyproject else str(self.path)


# A policy file and its whole TOML document.
Found = tuple[PolicyFile, dict[str, Any]]


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc.strerror or exc}",
                          hint="check the path given to --config") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}",
                          hint="fix the syntax at that line (https://toml.io)") from None


def tool_table(document: Mapping[str, Any]) -> object:
    """A pyproject.toml's [tool.imgaudit] table; None when it has none."""
    tool = document.get("tool")
    return tool.get("imgaudit") if isinstance(tool, dict) else None


def _exists(path: Path, kind: Callable[[Path], bool] = Path.exists) -> bool:
    try:
        return kind(path)
    except OSError:  # a folder we may not look into holds nothing for us
        return False


def _policy_file_in(folder: Path) -> Found | None:
    own = folder / CONFIG_FILE
    if _exists(own, Path.is_file):
        return PolicyFile(own), read_toml(own)
    pyproject = folder / PYPROJECT
    if not _exists(pyproject, Path.is_file):
        return None
    try:
        document = read_toml(pyproject)
    except ConfigError:
        # A broken pyproject.toml is imgaudit's business only if it meant to configure it.
        try:
            mentions = b"imgaudit" in pyproject.read_bytes()
        except OSError:
            mentions = False
        if mentions:
            raise
        return None
    if tool_table(document) is None:
        return None
    return PolicyFile(pyproject, in_pyproject=True), document


def find_policy_file(start: Path) -> tuple[PolicyFile | None, tuple[Path, ...]]:
    """The nearest policy file from `start` upward, and the folders looked in. In each folder
    .imgaudit.toml comes before pyproject.toml (which counts only with a [tool.imgaudit]
    table); the search stops at the repository root (a folder holding .git or .hg)."""
    found, searched = discover(start.absolute())
    return (found[0] if found else None), searched


def discover(start: Path) -> tuple[Found | None, tuple[Path, ...]]:
    """The nearest policy file from the absolute folder `start` upward, read, and the folders
    looked in, nearest first."""
    searched: list[Path] = []
    for folder in (start, *start.parents):
        searched.append(folder)
        found = _policy_file_in(folder)
        if found is not None:
            return found, tuple(searched)
        if any(_exists(folder / marker) for marker in REPOSITORY_MARKERS):
            break
    return None, tuple(searched)


def named_file(path: Path) -> Found:
    """The policy file `--config` names, read; a pyproject.toml must hold the table."""
    if not path.exists():
        raise ConfigError(f"policy file {path} does not exist",
                          hint="check the path given to --config, or drop --config to search "
                          f"for {CONFIG_FILE} from the working directory upward")
    document = read_toml(path)
    if path.name != PYPROJECT:
        return PolicyFile(path), document
    if tool_table(document) is None:
        raise ConfigError(f"{path} has no [tool.imgaudit] table",
                          hint="add a [tool.imgaudit] table, or point --config at a "
                          f"{CONFIG_FILE}")
    return PolicyFile(path, in_pyproject=True), document
