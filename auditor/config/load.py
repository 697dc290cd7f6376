"""The policy in force from its three layers: built-in defaults < the policy file < the options
given on the command line, and where each setting came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auditor.config.discover import Found, PolicyFile, discover, named_file, tool_table
from auditor.config.read import read_file, read_option
from auditor.config.settings import BY_KEY, SETTINGS, build, flatten
from auditor.errors import ConfigError
from auditor.model.policy import Policy

DEFAULT = "default"
COMMAND_LINE = "command line"
_WEIGHTS = tuple(s.key for s in SETTINGS if s.field == "weights")


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The policy in force, and for each setting key where its value came from: "default",
    the policy file (`str(PolicyFile)`), "command line", or "FILE + command line" for a rule
    list both extended."""

    policy: Policy
    sources: Mapping[str, str]
    file: PolicyFile | None = None
    searched: tuple[Path, ...] = ()  # folders looked in for a policy file, nearest first


def load_policy(
    config: Path | None = None,
    *,
    no_config: bool = False,
    overrides: Mapping[str, object] | None = None,
    cwd: Path | None = None,
) -> EffectivePolicy:
    """Defaults, then the policy file (`config`, else the nearest one from `cwd` upward; none
    with `no_config`), then `overrides`: command-line values by setting key (`"fail-on"`,
    `"max-size"`, `"rules.disable"`, ...), None meaning not given. A value replaces the file's;
    a rule list whose option extends (`rules.disable`, --ignore) adds to the file's list.
    Raises ConfigError naming the key and the file (or option) for an unknown key or a bad
    value."""
    if config is not None and no_config:
        raise ConfigError("--config and --no-config cannot be used together",
                          hint="drop one of them")
    start = (cwd or Path.cwd()).absolute()
    found: Found | None = None
    searched: tuple[Path, ...] = ()
    if config is not None:
        found = named_file(config if config.is_absolute() else start / config)
    elif not no_config:
        found, searched = discover(start)
    values = flatten(Policy())
    sources = dict.fromkeys(values, DEFAULT)
    file = None
    if found is not None:
        file, document = found
        table = tool_table(document) if file.in_pyproject else document
        for key, value in read_file(file, table).items():
            values[key] = value
            sources[key] = str(file)
    if not any(values[key] for key in _WEIGHTS):
        # every score would be 100 and --fail-under would pass whatever the image holds
        where = f"{file}: " if file is not None else ""
        raise ConfigError(f"{where}weights: every practice weighs 0, so no finding could "
                          "lower the score",
                          hint="give at least one practice a weight above 0; a weight of 0 "
                          "leaves only that practice out of the score")
    for key, given in (overrides or {}).items():
        if given is None:
            continue  # not given
        _override(key, read_option(key, given), values, sources)
    return EffectivePolicy(build(values), MappingProxyType(sources), file, searched)


def _override(key: str, value: Any, values: dict[str, Any], sources: dict[str, str]) -> None:
    before = values[key]
    option = BY_KEY[key].option
    if option is not None and option.extends and before:
        value = tuple(dict.fromkeys((*before, *value)))
        if value != before:
            sources[key] = f"{sources[key]} + {COMMAND_LINE}"
    else:
        sources[key] = COMMAND_LINE
    values[key] = value
