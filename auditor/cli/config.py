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
    ReadOption,
    ScoreBaseOption,
    app,
    policy_overrides,
)
from auditor.config import DEFAULT, EffectivePolicy, dump_policy, load_policy
from auditor.config.settings import SETTINGS, WAIVERS
from auditor.model.findings import Severity, Waiver
from auditor.waivers import expired


class ConfigFormat(str, enum.Enum):
    table = "table"
    json = "json"
    toml = "toml"


def _json_value(value: object) -> Any:
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, enum.Enum):  # a Choice (how layers are read)
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


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
    rows = []
    hidden = 0
    for setting in SETTINGS:
        source = effective.sources[setting.key]
        if setting.field == "severities" and source == DEFAULT:
            hidden += 1  # the rules' declared severities: `imgaudit rules` lists them
            continue
        value = setting.kind.text(setting.value(effective.policy))
        rows.append((setting.key, value, source, setting.note if setting.explained else ""))
    if hidden:
        rows.append(("severity.*", "declared", DEFAULT, f"{hidden} rules: `imgaudit rules`"))
    out = [_file_line(effective, no_config), ""]
    out.append(tabulate(rows, headers=("setting", "value", "source", "meaning"), tablefmt="plain"))
    waivers = effective.policy.waivers
    out += ["", f"waivers: {len(waivers) or 'none'} (source: {effective.sources[WAIVERS]})"]
    for waiver in waivers:
        where = f" at {waiver.paths}" if waiver.paths else ""
        out.append(f"  {waiver.rule}{where} on {waiver.images}: {_waiver_state(waiver, today)}"
                   f"  ({waiver.source})")
        out.append(f"      reason: {waiver.reason}")
    image = "honoured" if effective.policy.image_waivers else "not honoured (image-waivers = false)"
    out.append(f"image label waivers (io.imgaudit.waive): {image}")
    return "\n".join(out) + "\n"


def _document(effective: EffectivePolicy, today: datetime.date) -> dict[str, Any]:
    return {
        "file": str(effective.file) if effective.file else None,
        "searched": [str(folder) for folder in effective.searched],
        "settings": {
            setting.key: {"value": _json_value(setting.value(effective.policy)),
                          "source": effective.sources[setting.key]}
            for setting in SETTINGS
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
    read: ReadOption = None,
) -> None:
    """Show the policy in force and where each setting came from.

    Each setting's value and source (default, the policy file, or the command line), the
    waivers and whether each still applies. Takes the audit command's policy options, to show
    what they change."""
    effective = load_policy(config, no_config=no_config, overrides=policy_overrides(
        fail_under=fail_under, fail_on=fail_on, ignore=ignore, score_base=score_base,
        max_size=max_size, max_own_size=max_own_size, max_base_size=max_base_size,
        max_layers=max_layers, fail_on_new=fail_on_new, read=read,
    ))
    today = datetime.date.today()
    if fmt is ConfigFormat.toml:
        typer.echo(dump_policy(effective.policy), nl=False)
    elif fmt is ConfigFormat.json:
        typer.echo(json.dumps(_document(effective, today), indent=2))
    else:
        typer.echo(_table(effective, no_config, today), nl=False)
