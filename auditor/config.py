"""The policy from its three layers: built-in defaults < a policy file (`.imgaudit.toml`, or
`[tool.imgaudit]` in `pyproject.toml`, found from the working directory upward) < command-line
values; remembers where each setting came from, and writes a policy back as TOML."""

from __future__ import annotations

import datetime
import difflib
import fnmatch
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from auditor.errors import ConfigError
from auditor.model import Limits, Policy, Severity, Waiver
from auditor.rules import ALL_RULES, PRACTICES
from auditor.units import parse_size, size_setting

CONFIG_FILE = ".imgaudit.toml"
PYPROJECT = "pyproject.toml"
DEFAULT = "default"
COMMAND_LINE = "command line"
# Discovery stops at the root of the repository the working directory is in: a policy above it
# belongs to some other project.
REPOSITORY_MARKERS = (".git", ".hg")

_RULE_IDS = tuple(r.info.id for r in ALL_RULES)
_DECLARED = {r.info.id: r.info for r in ALL_RULES}
_PRACTICES = {p.id: p for p in PRACTICES}
_RULES_HINT = "`imgaudit rules` lists every rule id"


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A file the policy was read from; in a pyproject.toml, only its [tool.imgaudit] table."""

    path: Path
    in_pyproject: bool = False

    def __str__(self) -> str:
        return f"{self.path} [tool.imgaudit]" if self.in_pyproject else str(self.path)


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The policy in force, and for each setting key where its value came from: "default",
    the policy file (`str(PolicyFile)`), "command line", or "FILE + command line" for a rule
    list both extended."""

    policy: Policy
    sources: Mapping[str, str]
    file: PolicyFile | None = None
    searched: tuple[Path, ...] = ()  # folders looked in for a policy file, nearest first


class _Bad(Exception):
    """A value that is not what its key takes; the caller adds which key, in which file."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


# ----------------------------------------------------------------------------- values

# The settings that are sizes ("400MB" in a file, bytes in a Policy).
SIZE_KEYS = ("max-size", "max-own-size", "max-base-size", "min-cache-size")


def _integer(value: object, least: int, most: int | None = None) -> int:
    # TOML booleans are Python ints; `fail-under = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{_show(value)} is not a whole number", _range_hint(least, most))
    if value < least or (most is not None and value > most):
        raise _Bad(f"{value} is out of range", _range_hint(least, most))
    return value


def _range_hint(least: int, most: int | None) -> str:
    return f"use a whole number from {least} to {most}" if most is not None else (
        f"use a whole number of at least {least}")


def _score(value: object) -> int:
    return _integer(value, 0, 100)


def _layers(value: object) -> int:
    return _integer(value, 1)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"{_show(value)} is not true or false", "write true or false, without quotes")
    return value


def _severity_name(value: object) -> Severity:
    names = ", ".join(s.label for s in Severity)
    if not isinstance(value, str):
        raise _Bad(f"{_show(value)} is not a severity", f"write one of {names} in quotes")
    try:
        return Severity.parse(value)
    except ValueError:
        raise _Bad(f"{_show(value)} is not a severity", f"choose from {names}") from None


def _fail_on(value: object) -> Severity | None:
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    try:
        return _severity_name(value)
    except _Bad as bad:
        raise _Bad(bad.problem, bad.hint + ", or none") from None


def parse_fail_on(value: str) -> Severity | None:
    """A --fail-on value read as the policy reads it: a severity, or None for "none";
    ConfigError naming the option otherwise."""
    try:
        return _fail_on(value)
    except _Bad as bad:
        raise ConfigError(f"--fail-on: {bad.problem}", hint=bad.hint) from None


def _size(value: object, least: int = 1) -> int:
    hint = 'write a size such as "400MB", "1.5GB" or "512MiB", or a byte count'
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError:
            raise _Bad(f"{_show(value)} is not a size", hint) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        raise _Bad(f"{_show(value)} is not a size", hint)
    if size < least:
        raise _Bad(f"{_show(value)} is below {least} byte(s)", hint)
    return size


def _cache_size(value: object) -> int:
    return _size(value, least=0)


def _patterns(value: object) -> tuple[str, ...]:
    """Rule ids or globs, each naming at least one rule; commas split items (as on the command
    line)."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _Bad(f"{_show(value)} is not a list", 'write a list of rule ids: ["IA201", "IA4*"]')
    found: dict[str, None] = {}
    for item in value:
        if not isinstance(item, str):
            raise _Bad(f"{_show(item)} is not a rule id", 'write rule ids in quotes: "IA201"')
        for part in item.split(","):
            pattern = part.strip().upper()
            if not pattern:
                continue
            if not fnmatch.filter(_RULE_IDS, pattern):
                raise _Bad(f"{pattern} names no rule", _RULES_HINT)
            found[pattern] = None
    return tuple(found)


def _show(value: object) -> str:
    """A value as the file wrote it, for an error message."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, int | float | datetime.date | datetime.time):
        return str(value)
    return "a table" if isinstance(value, dict) else "a list"


# The top-level keys whose value is one scalar, and how each is read.
_SCALARS: dict[str, Callable[[object], object]] = {
    "fail-under": _score,
    "fail-on": _fail_on,
    "score-base": _boolean,
    "image-waivers": _boolean,
    "fail-on-new": _boolean,
    "max-size": _size,
    "max-own-size": _size,
    "max-base-size": _size,
    "max-layers": _layers,
    "max-consecutive-runs": _layers,
    "min-cache-size": _cache_size,
}
_TABLES = ("rules", "severity", "weights", "waivers")
_RULE_LISTS = ("enable", "disable")
_WAIVER_KEYS = ("rule", "reason", "images", "paths", "expires")
# The command-line option that sets a key, where it is not `--KEY`.
_OPTIONS = {"rules.disable": "--ignore"}


# ----------------------------------------------------------------------------- defaults


def _defaults() -> dict[str, object]:
    """Every setting key and its built-in value, in the order they are shown."""
    return flatten(Policy())


def flatten(policy: Policy) -> dict[str, object]:
    """A policy as setting keys and typed values (the inverse of how a file is read)."""
    limits = policy.limits
    values: dict[str, object] = {
        "fail-under": policy.fail_under,
        "fail-on": policy.fail_on,
        "score-base": policy.score_base,
        "image-waivers": policy.image_waivers,
        "fail-on-new": policy.fail_on_new,
        "max-size": limits.max_size,
        "max-own-size": limits.max_own_size,
        "max-base-size": limits.max_base_size,
        "max-layers": limits.max_own_layers,
        "max-consecutive-runs": limits.max_consecutive_runs,
        "min-cache-size": limits.min_cache_bytes,
        "rules.enable": tuple(sorted(policy.enable)),
        "rules.disable": tuple(sorted(policy.ignore)),
    }
    # every rule's severity and every practice's weight, the policy's where it sets one
    values.update({f"severity.{rule_id}": policy.severities.get(rule_id, info.severity)
                   for rule_id, info in _DECLARED.items()})
    values.update({f"weights.{p.id}": policy.weights.get(p.id, p.weight) for p in PRACTICES})
    values["waivers"] = policy.waivers
    return values


def _build(values: Mapping[str, Any]) -> Policy:
    # Only settings that differ from the rules' and practices' own are kept, so that a file
    # restating a default yields the same Policy as no file at all.
    severities = {
        rule_id: values[f"severity.{rule_id}"] for rule_id, info in _DECLARED.items()
        if values[f"severity.{rule_id}"] != info.severity
    }
    weights = {
        p.id: values[f"weights.{p.id}"] for p in PRACTICES if values[f"weights.{p.id}"] != p.weight
    }
    return Policy(
        fail_under=values["fail-under"],
        fail_on=values["fail-on"],
        ignore=frozenset(values["rules.disable"]),
        score_base=values["score-base"],
        limits=Limits(
            max_size=values["max-size"],
            max_own_size=values["max-own-size"],
            max_base_size=values["max-base-size"],
            max_own_layers=values["max-layers"],
            max_consecutive_runs=values["max-consecutive-runs"],
            min_cache_bytes=values["min-cache-size"],
        ),
        enable=frozenset(values["rules.enable"]),
        severities=MappingProxyType(severities),
        weights=MappingProxyType(weights),
        waivers=tuple(values["waivers"]),
        image_waivers=values["image-waivers"],
        fail_on_new=values["fail-on-new"],
    )


# ----------------------------------------------------------------------------- reading a file


def _read_toml(path: Path) -> dict[str, Any]:
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


def _tool_table(document: Mapping[str, Any]) -> object:
    tool = document.get("tool")
    return tool.get("imgaudit") if isinstance(tool, dict) else None


def _exists(path: Path, kind: Callable[[Path], bool] = Path.exists) -> bool:
    try:
        return kind(path)
    except OSError:  # a folder we may not look into holds nothing for us
        return False


def _policy_file_in(folder: Path) -> tuple[PolicyFile, dict[str, Any]] | None:
    own = folder / CONFIG_FILE
    if _exists(own, Path.is_file):
        return PolicyFile(own), _read_toml(own)
    pyproject = folder / PYPROJECT
    if not _exists(pyproject, Path.is_file):
        return None
    try:
        document = _read_toml(pyproject)
    except ConfigError:
        # A broken pyproject.toml is imgaudit's business only if it meant to configure it.
        try:
            mentions = b"imgaudit" in pyproject.read_bytes()
        except OSError:
            mentions = False
        if mentions:
            raise
        return None
    if _tool_table(document) is None:
        return None
    return PolicyFile(pyproject, in_pyproject=True), document


def find_policy_file(start: Path) -> tuple[PolicyFile | None, tuple[Path, ...]]:
    """The nearest policy file from `start` upward, and the folders looked in. In each folder
    .imgaudit.toml comes before pyproject.toml (which counts only with a [tool.imgaudit]
    table); the search stops at the repository root (a folder holding .git or .hg)."""
    found, searched = _discover(start.absolute())
    return (found[0] if found else None), searched


def _discover(
    start: Path,
) -> tuple[tuple[PolicyFile, dict[str, Any]] | None, tuple[Path, ...]]:
    searched: list[Path] = []
    for folder in (start, *start.parents):
        searched.append(folder)
        found = _policy_file_in(folder)
        if found is not None:
            return found, tuple(searched)
        if any(_exists(folder / marker) for marker in REPOSITORY_MARKERS):
            break
    return None, tuple(searched)


def _named_file(path: Path) -> tuple[PolicyFile, dict[str, Any]]:
    if not path.exists():
        raise ConfigError(f"policy file {path} does not exist",
                          hint="check the path given to --config, or drop --config to search "
                          f"for {CONFIG_FILE} from the working directory upward")
    document = _read_toml(path)
    if path.name != PYPROJECT:
        return PolicyFile(path), document
    if _tool_table(document) is None:
        raise ConfigError(f"{path} has no [tool.imgaudit] table",
                          hint="add a [tool.imgaudit] table, or point --config at a "
                          f"{CONFIG_FILE}")
    return PolicyFile(path, in_pyproject=True), document


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
        except _Bad as bad:
            self.fail(key, bad.problem, bad.hint)

    def table(self, key: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"{_show(value)} is not a table", f"write it as a [{key}] table")
        return value

    def unknown(self, key: str, known: Iterable[str], where: str = "", label: str = ""
                ) -> NoReturn:
        """An unknown key, named `label` (default where + key), with the closest known one."""
        known = tuple(known)
        close = difflib.get_close_matches(key.replace("_", "-"), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"the keys here are {', '.join(known)}"
        self.fail(label or f"{where}{key}", "unknown key", hint)

    def settings(self, table: Mapping[str, Any]) -> dict[str, object]:
        values: dict[str, object] = {}
        for key, value in table.items():
            if key in _SCALARS:
                values[key] = self.value(key, _SCALARS[key], value)
            elif key == "rules":
                for name, item in self.table(key, value).items():
                    if name not in _RULE_LISTS:
                        self.unknown(name, _RULE_LISTS, "rules.")
                    values[f"rules.{name}"] = self.value(f"rules.{name}", _patterns, item)
            elif key == "severity":
                values.update(self.severities(self.table(key, value)))
            elif key == "weights":
                values.update(self.weights(self.table(key, value)))
            elif key == "waivers":
                values["waivers"] = self.waivers(value)
            else:
                self.unknown(key, (*_SCALARS, *_TABLES))
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
            if rule_id not in _DECLARED:
                self.fail(f"severity.{name}", f"no rule is named {name}",
                          f"name one rule id per line; {_RULES_HINT}")
            self.once("severity", seen, rule_id, name, f"rule ({rule_id})")
            values[f"severity.{rule_id}"] = self.value(f"severity.{name}", _severity_name, value)
        return values

    def weights(self, table: Mapping[str, Any]) -> dict[str, object]:
        values: dict[str, object] = {}
        seen: dict[str, str] = {}
        for name, value in table.items():
            number = int(name) if name.strip().isdigit() else None
            if number not in _PRACTICES:
                ids = f"{min(_PRACTICES)} to {max(_PRACTICES)}"
                self.fail(f"weights.{name}", f"no practice is numbered {name}",
                          f"practices are numbered {ids} (the README's Score table)")
            self.once("weights", seen, str(number), name, f"practice ({number})")
            values[f"weights.{number}"] = self.value(
                f"weights.{name}", lambda v: _integer(v, 0), value)
        return values

    def waivers(self, value: object) -> tuple[Waiver, ...]:
        hint = "write each waiver as a [[waivers]] table with rule and reason"
        if not isinstance(value, list):
            self.fail("waivers", f"{_show(value)} is not a list of tables", hint)
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
            self.fail(at(), f"{_show(entry)} is not a table", hint)
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
                self.fail(at(key), f"{_show(entry[key])} is not a string", "write it in quotes")
            texts[key] = str(entry.get(key, "")).strip()
        rule = texts["rule"].upper()
        if not rule or not fnmatch.filter(_RULE_IDS, rule):
            self.fail(at("rule"), f"{rule or 'an empty string'} names no rule",
                      f"use a rule id or a glob such as IA4*; {_RULES_HINT}")
        if not texts["reason"]:
            self.fail(at("reason"), "is empty",
                      "say why the finding is accepted, for the next reader")
        expires = None
        if "expires" in entry:
            try:
                expires = _date(entry["expires"])
            except _Bad as bad:
                self.fail(at("expires"), bad.problem, bad.hint)
        return Waiver(
            rule=rule,
            reason=texts["reason"],
            images=texts["images"] or "*",
            paths=texts["paths"].lstrip("/"),
            expires=expires,
            source=f"{self.file} waivers[{number}]",
        )


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: object) -> datetime.date:
    hint = "write a date such as 2027-01-31 (a TOML date, or that text in quotes)"
    if isinstance(value, datetime.datetime):
        raise _Bad(f"{value.isoformat()} has a time of day", hint)
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Bad(f"{_show(value)} is not a date", hint)


# ----------------------------------------------------------------------------- command line


def _command_line(overrides: Mapping[str, object]) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in overrides.items():
        if value is None:
            continue  # not given
        option = _OPTIONS.get(key, f"--{key}")
        read: Callable[[object], object]
        if key in ("rules.enable", "rules.disable"):
            read = _patterns
        elif key in _SCALARS:
            read = _SCALARS[key]
        else:
            raise ValueError(f"no policy setting is named {key}")
        try:
            values[key] = read(value)
        except _Bad as bad:
            raise ConfigError(f"{option}: {bad.problem}", hint=bad.hint) from None
    return values


# ----------------------------------------------------------------------------- the policy


def load_policy(
    config: Path | None = None,
    *,
    no_config: bool = False,
    overrides: Mapping[str, object] | None = None,
    cwd: Path | None = None,
) -> EffectivePolicy:
    """Defaults, then the policy file (`config`, else the nearest one from `cwd` upward; none
    with `no_config`), then `overrides`: command-line values by setting key (`"fail-on"`,
    `"max-size"`, `"rules.disable"`, ...), None meaning not given. A scalar replaces the file's
    value; `rules.disable` (--ignore) adds to the file's list. Raises ConfigError naming the key
    and the file (or option) for an unknown key or a bad value."""
    if config is not None and no_config:
        raise ConfigError("--config and --no-config cannot be used together",
                          hint="drop one of them")
    start = (cwd or Path.cwd()).absolute()
    found: tuple[PolicyFile, dict[str, Any]] | None = None
    searched: tuple[Path, ...] = ()
    if config is not None:
        found = _named_file(config if config.is_absolute() else start / config)
    elif not no_config:
        found, searched = _discover(start)
    values = _defaults()
    sources = dict.fromkeys(values, DEFAULT)
    file = None
    if found is not None:
        file, document = found
        table = _tool_table(document) if file.in_pyproject else document
        reader = _FileReader(file)
        for key, value in reader.settings(reader.table("tool.imgaudit", table)).items():
            values[key] = value
            sources[key] = str(file)
    if not any(values[f"weights.{p.id}"] for p in PRACTICES):
        # every score would be 100 and --fail-under would pass whatever the image holds
        where = f"{file}: " if file is not None else ""
        raise ConfigError(f"{where}weights: every practice weighs 0, so no finding could "
                          "lower the score",
                          hint="give at least one practice a weight above 0; a weight of 0 "
                          "leaves only that practice out of the score")
    for key, value in _command_line(overrides or {}).items():
        before = values[key]
        if key == "rules.disable" and isinstance(before, tuple) and before:
            assert isinstance(value, tuple)
            value = tuple(dict.fromkeys((*before, *value)))
            if value != before:
                sources[key] = f"{sources[key]} + {COMMAND_LINE}"
        else:
            sources[key] = COMMAND_LINE
        values[key] = value
    return EffectivePolicy(_build(values), MappingProxyType(sources), file, searched)


# ----------------------------------------------------------------------------- writing TOML


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
               "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(key: str, value: object) -> str:
    """One setting's value as TOML, as a policy file would write it."""
    if key == "fail-on":
        return _toml_string(value.label if isinstance(value, Severity) else "none")
    if isinstance(value, Severity):
        return _toml_string(value.label)
    if isinstance(value, bool):
        return "true" if value else "false"
    if key in SIZE_KEYS:
        assert isinstance(value, int)
        return _toml_string(size_setting(value)) if value else "0"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_string(str(v)) for v in value) + "]"
    if isinstance(value, str):
        return _toml_string(value)
    return str(value)


# What each top-level setting does, for the written file and `imgaudit config`.
SETTING_NOTES = {
    "fail-under": "exit 1 when an image scores below this (0-100)",
    "fail-on": "exit 1 on a scored finding this severe or worse; \"none\" to never",
    "score-base": "score the base image's findings too",
    "image-waivers": "honour an image's own io.imgaudit.waive label",
    "fail-on-new": "with --baseline: fail only on findings the baseline does not hold",
    "max-size": "IA101: the whole image",
    "max-own-size": "IA101: the image's own layers",
    "max-base-size": "IA102: the base image",
    "max-layers": "IA301: non-empty layers the image's own build may add",
    "max-consecutive-runs": "IA302: RUN steps in a row before they should be one",
    "min-cache-size": "IA901-IA903: smallest cache worth a finding",
}


def dump_policy(policy: Policy) -> str:
    """A complete policy file for `policy`: every key, defaults included, in .imgaudit.toml
    form (in a pyproject.toml, prefix each table name with tool.imgaudit.)."""
    values = flatten(policy)
    lines = [
        "# imgaudit policy file (.imgaudit.toml). In pyproject.toml, put the top-level keys",
        "# under [tool.imgaudit] and name the tables [tool.imgaudit.rules], ...",
        "# Precedence: built-in defaults < this file < command-line options.",
        "",
    ]
    for key, note in SETTING_NOTES.items():
        if values[key] is None and key == "fail-under":
            lines.append(f"# fail-under = 80  # {note}")
        else:
            lines.append(f"{key} = {toml_value(key, values[key])}  # {note}")
    lines += [
        "",
        "[rules]",
        f"enable = {toml_value('rules.enable', values['rules.enable'])}"
        "  # when not empty, only these rules run (ids or globs such as \"IA4*\")",
        f"disable = {toml_value('rules.disable', values['rules.disable'])}"
        "  # these rules do not run; shown as ignored",
        "",
        "[severity]  # a rule's severity: info, low, medium, high or critical",
    ]
    for rule_id, info in _DECLARED.items():
        severity = values[f"severity.{rule_id}"]
        if severity == info.severity:
            lines.append(f'# {rule_id} = "{info.severity.label}"  # {info.title}')
        else:
            lines.append(f"{rule_id} = {toml_value('severity', severity)}  # {info.title} "
                         f"(declared {info.severity.label})")
    lines += ["", "[weights]  # practice number = weight; rescaled to 100 over those that apply"]
    for practice in PRACTICES:
        lines.append(f"{practice.id} = {values[f'weights.{practice.id}']}  # {practice.name}")
    waivers = policy.waivers
    if not waivers:
        lines += [
            "",
            "# [[waivers]]",
            '# rule = "IA401"                  # a rule id or a glob',
            '# reason = "template without secrets"  # required',
            '# images = "myorg/app:*"          # glob on the image name; default "*"',
            '# paths = "app/.env.example"      # glob on the finding\'s path; default: all',
            "# expires = 2027-01-31            # last day it applies; default: never expires",
        ]
    for waiver in waivers:
        lines += ["", "[[waivers]]", f"rule = {_toml_string(waiver.rule)}",
                  f"reason = {_toml_string(waiver.reason)}",
                  f"images = {_toml_string(waiver.images)}"]
        if waiver.paths:
            lines.append(f"paths = {_toml_string(waiver.paths)}")
        if waiver.expires is not None:
            lines.append(f"expires = {waiver.expires.isoformat()}")
    return "\n".join(lines) + "\n"
