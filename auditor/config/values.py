"""The kinds of value a policy setting takes: how each is read from a policy file or the
command line (with what was wrong and what to write instead), written back as TOML, and shown
by `imgaudit config`."""

from __future__ import annotations

import datetime
import enum
import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Protocol

from auditor.model.findings import Severity
from auditor.rules import ALL_RULES
from auditor.units import human_size, parse_size, size_setting

RULE_IDS = tuple(r.info.id for r in ALL_RULES)
RULES_HINT = "`imgaudit rules` lists every rule id"


class BadValue(Exception):
    """A value that is not what its key takes; the reader adds which key, in which file."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def as_written(value: object) -> str:
    """A value as the file wrote it, for an error message."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, int | float | datetime.date | datetime.time):
        return str(value)
    return "a table" if isinstance(value, dict) else "a list"


class Kind(Protocol):
    """How one kind of setting value is read, written and shown."""

    def read(self, value: object) -> Any:
        """The value a policy file or an option gave, checked; BadValue otherwise."""

    def write(self, value: Any) -> object:
        """The value as a policy file writes it (a TOML value); None while it is unset."""

    def text(self, value: Any) -> str:
        """The value in a line of `imgaudit config`."""


@dataclass(frozen=True, slots=True)
class WholeNumber:
    least: int
    most: int | None = None

    def read(self, value: object) -> int:
        # TOML booleans are Python ints; `fail-under = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"{as_written(value)} is not a whole number", self._hint())
        if value < self.least or (self.most is not None and value > self.most):
            raise BadValue(f"{value} is out of range", self._hint())
        return value

    def _hint(self) -> str:
        if self.most is None:
            return f"use a whole number of at least {self.least}"
        return f"use a whole number from {self.least} to {self.most}"

    def write(self, value: int | None) -> int | None:
        return value

    def text(self, value: int | None) -> str:
        return "not set" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Switch:
    def read(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise BadValue(f"{as_written(value)} is not true or false",
                           "write true or false, without quotes")
        return value

    def write(self, value: bool) -> bool:
        return value

    def text(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class SeverityName:
    def read(self, value: object) -> Severity:
        names = ", ".join(s.label for s in Severity)
        if not isinstance(value, str):
            raise BadValue(f"{as_written(value)} is not a severity",
                           f"write one of {names} in quotes")
        try:
            return Severity.parse(value)
        except ValueError:
            raise BadValue(f"{as_written(value)} is not a severity",
                           f"choose from {names}") from None

    def write(self, value: Severity) -> str:
        return value.label

    def text(self, value: Severity) -> str:
        return value.label


@dataclass(frozen=True, slots=True)
class Threshold:
    """A severity, or "none" (None) for no threshold at all."""

    def read(self, value: object) -> Severity | None:
        if isinstance(value, str) and value.strip().lower() == "none":
            return None
        try:
            return SeverityName().read(value)
        except BadValue as bad:
            raise BadValue(bad.problem, bad.hint + ", or none") from None

    def write(self, value: Severity | None) -> str:
        return "none" if value is None else value.label

    def text(self, value: Severity | None) -> str:
        return self.write(value)


@dataclass(frozen=True, slots=True)
class Choice:
    """One value of an enum, written as its value in quotes."""

    choices: type[enum.Enum]

    def read(self, value: object) -> enum.Enum:
        names = ", ".join(str(c.value) for c in self.choices)
        if isinstance(value, str):
            for choice in self.choices:
                if choice.value == value.strip().lower():
                    return choice
        raise BadValue(f"{as_written(value)} is not a choice here", f"choose from {names}")

    def write(self, value: enum.Enum) -> str:
        return str(value.value)

    def text(self, value: enum.Enum) -> str:
        return str(value.value)


@dataclass(frozen=True, slots=True)
class Size:
    """A byte count, written "400MB", "1.5GB", "512MiB" or as a number of bytes."""

    least: int

    def read(self, value: object) -> int:
        hint = 'write a size such as "400MB", "1.5GB" or "512MiB", or a byte count'
        if isinstance(value, str):
            try:
                size = parse_size(value)
            except ValueError:
                raise BadValue(f"{as_written(value)} is not a size", hint) from None
        elif isinstance(value, int) and not isinstance(value, bool):
            size = value
        else:
            raise BadValue(f"{as_written(value)} is not a size", hint)
        if size < self.least:
            raise BadValue(f"{as_written(value)} is below {self.least} byte(s)", hint)
        return size

    def write(self, value: int) -> str | int:
        return size_setting(value) if value else 0

    def text(self, value: int) -> str:
        written = size_setting(value)
        plain = written.isdigit() and value >= 1000
        return f"{written} ({human_size(value)})" if plain else written


@dataclass(frozen=True, slots=True)
class RuleList:
    """Rule ids or globs, each naming at least one rule; commas split items (as on the command
    line). `empty` is what an empty list means, for `imgaudit config`."""

    empty: str

    def read(self, value: object) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise BadValue(f"{as_written(value)} is not a list",
                           'write a list of rule ids: ["IA201", "IA4*"]')
        found: dict[str, None] = {}
        for item in value:
            if not isinstance(item, str):
                raise BadValue(f"{as_written(item)} is not a rule id",
                               'write rule ids in quotes: "IA201"')
            for part in item.split(","):
                pattern = part.strip().upper()
                if not pattern:
                    continue
                if not fnmatch.filter(RULE_IDS, pattern):
                    raise BadValue(f"{pattern} names no rule", RULES_HINT)
                found[pattern] = None
        return tuple(found)

    def write(self, value: tuple[str, ...]) -> list[str]:
        return list(value)

    def text(self, value: tuple[str, ...]) -> str:
        return ", ".join(value) or self.empty


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_date(value: object) -> datetime.date:
    """A day: a TOML date, or that text in quotes (a time of day is refused)."""
    hint = "write a date such as 2027-01-31 (a TOML date, or that text in quotes)"
    if isinstance(value, datetime.datetime):
        raise BadValue(f"{value.isoformat()} has a time of day", hint)
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BadValue(f"{as_written(value)} is not a date", hint)
