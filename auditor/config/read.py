"""A policy file's settings checked and read into setting values, and the policy options given
on the command line; every error is one line naming the file (or the option) and the key, for a
waiver its position and line."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from auditor.config.discover import PolicyFile
from auditor.config.settings import BY_KEY, NAMED, WAIVERS, Setting
from auditor.config.values import RULE_IDS, RULES_HINT, BadValue, as_written, read_date
from auditor.errors import ConfigError
from auditor.model.findings import Waiver
from auditor.rules import PRACTICES


def _by_table() -> dict[str, dict[str, Setting]]:
    """The named settings by the table a file writes them in ("" for its top level)."""
    tables: dict[str, dict[str, Setting]] = {}
    for setting in NAMED:
        tables.setdefault(setting.table, {})[setting.name] = setting
    return tables


_TABLES = _by_table()
_TOP = _TABLES.pop("")
# Every key a file may write at its top level, in the order an error message lists them.
_KNOWN = (*_TOP, *_TABLES, "severity", "weights", WAIVERS)
_WAIVER_KEYS = ("rule", "reason", "images", "paths", "expires")
_PRACTICE_IDS = tuple(p.id for p in PRACTICES)


def read_option(key: str, value: object) -> Any:
    """A policy option's value (`key` names its setting), read as a policy file's would be;
    ConfigError naming the option when it is not one the setting takes."""
    setting = BY_KEY.get(key)
    if setting is None or setting.member is not None:
        raise ValueError(f"no policy setting is named {key}")
    option = setting.option.name if setting.option is not None else f"--{key}"
    try:
        return setting.kind.read(value)
    except BadValue as bad:
        raise ConfigError(f"{option}: {bad.problem}", hint=bad.hint) from None


def read_file(file: PolicyFile, table: object) -> dict[str, Any]:
    """The settings a policy file's table (the whole file, or its [tool.imgaudit]) holds, by
    setting key, and its waivers under "waivers"."""
    reader = _FileReader(file)
    return reader.settings(reader.table("tool.imgaudit", table))


def _waiver_lines(text: str, in_pyproject: bool) -> list[int]:
    """Line numbers of the [[waivers]] headers, to point at an entry in an error message."""
    prefix = r"tool\s*\.\s*imgaudit\s*\.\s*" if in_pyproject else ""
    header = re.compile(rf"^\s*\[\[\s*{prefix}waivers\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), 1) if header.match(line)]


class _FileReader:
    """Reads one file's table of settings into setting keys and values; every error names the
    file and the key."""

    def __init__(self, file: PolicyFile) -> None:
        self.file = file

    def fail(self, key: str, problem: str, hint: str) -> NoReturn:
        raise ConfigError(f"{self.file}: {key}: {problem}", hint=hint)

    def value(self, key: str, read: Callable[[object], object], value: object) -> object:
        try:
            return read(value)
        except BadValue as bad:
            self.fail(key, bad.problem, bad.hint)

    def table(self, key: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"{as_written(value)} is not a table", f"write it as a [{key}] table")
        return value

    def unknown(self, key: str, known: Iterable[str], where: str = "", label: str = ""
                ) -> NoReturn:
        """An unknown key, named `label` (default where + key), with the closest known one."""
        known = tuple(known)
        close = difflib.get_close_matches(key.replace("_", "-"), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"the keys here are {', '.join(known)}"
        self.fail(label or f"{where}{key}", "unknown key", hint)

    def settings(self, table: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key in _TOP:
                values[key] = self.value(key, _TOP[key].kind.read, value)
            elif key in _TABLES:
                settings = _TABLES[key]
                for name, item in self.table(key, value).items():
                    if name not in settings:
                        self.unknown(name, settings, f"{key}.")
                    values[f"{key}.{name}"] = self.value(
                        f"{key}.{name}", settings[name].kind.read, item)
            elif key == "severity":
                values.update(self.severities(self.table(key, value)))
            elif key == "weights":
                values.update(self.weights(self.table(key, value)))
            elif key == WAIVERS:
                values[WAIVERS] = self.waivers(value)
            else:
                self.unknown(key, _KNOWN)
        return values

    def once(self, table: str, seen: dict[str, str], key: str, name: str, hint: str) -> None:
        """TOML tells `ia201` from `IA201`, imgaudit does not: two spellings of one key are an
        error, not a silent last-one-wins."""
        if key in seen:
            self.fail(f"{table}.{name}", f"names the same {hint} as {table}.{seen[key]}",
                      f"keep one of {table}.{seen[key]} and {table}.{name}")
        seen[key] = name

    def severities(self, table: Mapping[str, Any]) -> dict[str, object]:
        values: dict[str, object] = {}
        seen: dict[str, str] = {}
        for name, value in table.items():
            rule_id = name.strip().upper()
            setting = BY_KEY.get(f"severity.{rule_id}")
            if setting is None:
                self.fail(f"severity.{name}", f"no rule is named {name}",
                          f"name one rule id per line; {RULES_HINT}")
            self.once("severity", seen, rule_id, name, f"rule ({rule_id})")
            values[setting.key] = self.value(f"severity.{name}", setting.kind.read, value)
        return values

    def weights(self, table: Mapping[str, Any]) -> dict[str, object]:
        values: dict[str, object] = {}
        seen: dict[str, str] = {}
        for name, value in table.items():
            number = int(name) if name.strip().isdigit() else None
            setting = BY_KEY.get(f"weights.{number}") if number is not None else None
            if setting is None:
                ids = f"{min(_PRACTICE_IDS)} to {max(_PRACTICE_IDS)}"
                self.fail(f"weights.{name}", f"no practice is numbered {name}",
                          f"practices are numbered {ids} (the README's Score table)")
            self.once("weights", seen, str(number), name, f"practice ({number})")
            values[setting.key] = self.value(f"weights.{name}", setting.kind.read, value)
        return values

    def waivers(self, value: object) -> tuple[Waiver, ...]:
        hint = "write each waiver as a [[waivers]] table with rule and reason"
        if not isinstance(value, list):
            self.fail(WAIVERS, f"{as_written(value)} is not a list of tables", hint)
        lines = _waiver_lines(self.file.path.read_text("utf-8", "replace"), self.file.in_pyproject)
        return tuple(
            self.waiver(number, lines[number - 1] if len(lines) == len(value) else None, entry,
                        hint)
            for number, entry in enumerate(value, 1)
        )

    def waiver(self, number: int, line: int | None, entry: object, hint: str) -> Waiver:
        """The number-th [[waivers]] entry (1-based); errors say `waivers[N].KEY (line L)`."""
        def at(key: str = "") -> str:
            return f"waivers[{number}]{'.' if key else ''}{key}" + (
                f" (line {line})" if line else "")

        if not isinstance(entry, dict):
            self.fail(at(), f"{as_written(entry)} is not a table", hint)
        for key in entry:
            if key not in _WAIVER_KEYS:
                self.unknown(key, _WAIVER_KEYS, label=at(key))
        for key in ("rule", "reason"):
            if key not in entry:
                self.fail(at(key), "required but missing",
                          f"every waiver needs a rule and a reason; {hint}")
        texts = {}
        for key in ("rule", "reason", "images", "paths"):
            if key in entry and not isinstance(entry[key], str):
                self.fail(at(key), f"{as_written(entry[key])} is not a string",
                          "write it in quotes")
            texts[key] = str(entry.get(key, "")).strip()
        rule = texts["rule"].upper()
        if not rule or not fnmatch.filter(RULE_IDS, rule):
            self.fail(at("rule"), f"{rule or 'an empty string'} names no rule",
                      f"use a rule id or a glob such as IA4*; {RULES_HINT}")
        if not texts["reason"]:
            self.fail(at("reason"), "is empty",
                      "say why the finding is accepted, for the next reader")
        expires = None
        if "expires" in entry:
            try:
                expires = read_date(entry["expires"])
            except BadValue as bad:
                self.fail(at("expires"), bad.problem, bad.hint)
        return Waiver(
            rule=rule,
            reason=texts["reason"],
            images=texts["images"] or "*",
            paths=texts["paths"].lstrip("/"),
            expires=expires,
            source=f"{self.file} waivers[{number}]",
        )
