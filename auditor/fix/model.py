"""The nouns of `imgaudit fix`: the build context as listed, the edits planned for the Dockerfile
and its .dockerignore, and the advice for what no edit can fix safely. Nothing here does I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Target(enum.Enum):
    """The file an edit changes."""

    DOCKERFILE = "Dockerfile"
    DOCKERIGNORE = ".dockerignore"


@dataclass(frozen=True, slots=True)
class Context:
    """What the build context holds, as `imgaudit fix` listed it.

    paths are relative, `/`-separated, files and folders alike; below a folder too big or too
    private to list (`.git`, `node_modules`) only the folder itself is there."""

    paths: frozenset[str]
    dockerignore: str | None = None  # the text of its .dockerignore; None: there is none
    dockerfile: str | None = None  # the Dockerfile's path in the context; None: outside it


@dataclass(frozen=True, slots=True)
class Edit:
    """Lines `start`..`end` (1-based, inclusive) of a file replaced by `lines`; an insertion
    before line `start` when `end` is `start - 1` (after the last line: `start` = count + 1)."""

    target: Target
    start: int
    end: int
    lines: tuple[str, ...]  # without line endings
    rules: tuple[str, ...]  # the rule ids whose findings it fixes
    reasons: tuple[str, ...]  # what it does and why, one line each

    def __post_init__(self) -> None:
        if self.start < 1 or self.end < self.start - 1:
            raise ValueError(f"bad line range {self.start}..{self.end}")

    @property
    def inserts(self) -> bool:
        return self.end == self.start - 1


@dataclass(frozen=True, slots=True)
class Advice:
    """A finding no edit fixes safely, where it comes from, and what to do about it."""

    rule: str
    where: str  # `Dockerfile:4`, or `image` when no line set it
    message: str  # the finding, secret values masked
    action: str  # what to do instead


@dataclass(frozen=True, slots=True)
class Plan:
    edits: tuple[Edit, ...]
    advice: tuple[Advice, ...]

    def edits_to(self, target: Target) -> tuple[Edit, ...]:
        return tuple(edit for edit in self.edits if edit.target is target)

    @property
    def rules(self) -> tuple[str, ...]:
        """The rule ids some edit addresses, in rule order (IA201 before IA1002)."""
        found = {rule for edit in self.edits for rule in edit.rules}
        return tuple(sorted(found, key=lambda rule: (len(rule), rule)))
