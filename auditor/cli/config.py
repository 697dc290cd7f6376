"""`imgaudit config`: the policy in force, each setting's value and where it came from, the
waivers and whether each still applies; or the policy as a TOML file to start from."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Annotated, Any

import typer
from tabulate import tabulate

from auditor.cli.common import (
    ConfigOption,
    FailOnNewOption,
    FailOnOption,
    FailUnderOption,
    IgnoreOption,
    MaxBaseSizeOption,
    MaxLayersOption,
    MaxOwnSizeOption,
    MaxSizeOption,
    NoConfigOption,
    ScoreBaseOption,
    app,
    policy_overrides,
)
from auditor.config import (
    DEFAULT,
    SETTING_NOTES,
    SIZE_KEYS,
    EffectivePolicy,
    dump_policy,
    flatten,
    load_policy,
    toml_value,
)
from auditor.model import Severity, Waiver
from auditor.rules import ALL_RULES, PRACTICES
from auditor.units import human_size, size_setting
from auditor.waivers import expired


class ConfigFormat(str, enum.Enum):
    table = "table"
    json = "json"
    toml = "toml"


_TITLES = {r.info.id: r.info.title for r in ALL_RULES}
_PRACTICE_NAMES = {f"weights.{p.id}": p.name for p in PRACTICES}


def _json_value(value: object) -> Any:
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, tuple):
        return list(value)
    return value


def _text_value(key: str, value: object) -> str:
    if value is None:
        return "none" if key == "fail-on" else "not set"
    if key in SIZE_KEYS and isinstance(value, int):
        written = size_setting(value)
        plain = written.isdigit() and value >= 1000
        return f"{written} ({human_size(value)})" if plain else written
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or ("(all)" if key == "rules.enable" else "(none)")
    return toml_value(key, value).strip('"')


def _meaning(key: str) -> str:
    if key.startswith("weights."):
        return _PRACTICE_NAMES[key]
    if key.startswith("severity."):
        return _TITLES[key.split(".", 1)[1]]
    return SETTING_NOTES.get(key, "")


def _file_line(effective: EffectivePolicy, no_config: bool) -> str:
    if effective.file is not None:
        return f"policy file: {effective.file}"
    if no_config:
        return "policy file: none read (--no-config)"
    first, last = effective.searched[0], effective.searched[-1]
    return f"no policy file found; searched from {first} upward to {last}"


def _waiver_state(waiver: Waiver, today: datetime.date) -> str:
    if waiver.expires is None:
        return "active, never expires"
    if expired(waiver, today):
        return f"EXPIRED on {waiver.expires.isoformat()}: no longer applies"
    return f"active until {waiver.expires.isoformat()}"


def _table(effective: EffectivePolicy, no_config: bool, today: datetime.date) -> str:
    values = flatten(effective.policy)
    rows = []
    hidden = 0
    for key, value in values.items():
        source = effective.sources[key]
        if key == "waivers":
            continue
        if key.startswith("severity.") and source == DEFAULT:
            hidden += 1  # the rules' declared severities: `imgaudit rules` lists them
            continue
        rows.append((key, _text_value(key, value), source, _meaning(key)))
    if hidden:
        rows.append(("severity.*", "declared", DEFAULT, f"{hidden} rules: `imgaudit rules`"))
    out = [_file_line(effective, no_config), ""]
    out.append(tabulate(rows, headers=("setting", "value", "source", "meaning"), tablefmt="plain"))
    waivers = effective.policy.waivers
    out += ["", f"waivers: {len(waivers) or 'none'} (source: {effective.sources['waivers']})"]
    for waiver in waivers:
        where = f" at {waiver.paths}" if waiver.paths else ""
        out.append(f"  {waiver.rule}{where} on {waiver.images}: {_waiver_state(waiver, today)}"
                   f"  ({waiver.source})")
        out.append(f"      reason: {waiver.reason}")
    image = "honoured" if effective.policy.image_waivers else "not honoured (image-waivers = false)"
    out.append(f"image label waivers (io.imgaudit.waive): {image}")
    return "\n".join(out) + "\n"


def _document(effective: EffectivePolicy, today: datetime.date) -> dict[str, Any]:
    values = flatten(effective.policy)
    return {
        "file": str(effective.file) if effective.file else None,
        "searched": [str(folder) for folder in effective.searched],
        "settings": {
            key: {"value": _json_value(value), "source": effective.sources[key]}
            for key, value in values.items() if key != "waivers"
        },
        "waivers": [
            {"rule": w.rule, "reason": w.reason, "images": w.images, "paths": w.paths,
             "expires": w.expires.isoformat() if w.expires else None, "source": w.source,
             "expired": expired(w, today)}
            for w in effective.policy.waivers
        ],
    }


@app.command("config")
def config_command(
    config: ConfigOption = None,
    no_config: NoConfigOption = False,
    fmt: Annotated[ConfigFormat, typer.Option(
        "--format", "-f", help="table: each setting and its source; json: the same as data; "
        "toml: a complete policy file to start from.",
    )] = ConfigFormat.table,
    fail_under: FailUnderOption = None,
    fail_on: FailOnOption = None,
    ignore: IgnoreOption = None,
    score_base: ScoreBaseOption = None,
    max_size: MaxSizeOption = None,
    max_own_size: MaxOwnSizeOption = None,
    max_base_size: MaxBaseSizeOption = None,
    max_layers: MaxLayersOption = None,
    fail_on_new: FailOnNewOption = None,
) -> None:
    """Show the policy in force and where each setting came from.

    Each setting's value and source (default, the policy file, or the command line), the
    waivers and whether each still applies. Takes the audit command's policy options, to show
    what they change."""
    effective = load_policy(config, no_config=no_config, overrides=policy_overrides(
        fail_under=fail_under, fail_on=fail_on, ignore=ignore, score_base=score_base,
        max_size=max_size, max_own_size=max_own_size, max_base_size=max_base_size,
        max_layers=max_layers, fail_on_new=fail_on_new,
    ))
    today = datetime.date.today()
    if fmt is ConfigFormat.toml:
        typer.echo(dump_policy(effective.policy), nl=False)
    elif fmt is ConfigFormat.json:
        typer.echo(json.dumps(_document(effective, today), indent=2))
    else:
        typer.echo(_table(effective, no_config, today), nl=False)
