"""A policy written as a complete policy file (`imgaudit config --format toml`): every setting,
the defaults included, each with a comment saying what it does."""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import Item, Table

from auditor.config.settings import SETTINGS, WAIVERS, Setting
from auditor.model.findings import Waiver
from auditor.model.policy import Policy

_HEADER = (
    "imgaudit policy file (.imgaudit.toml). In pyproject.toml, put the top-level keys",
    "under [tool.imgaudit] and name the tables [tool.imgaudit.rules], ...",
    "Precedence: built-in defaults < this file < command-line options.",
)
# What the tables of a rule's severity and of a practice's weight hold.
_TABLE_NOTES = {
    "severity": "a rule's severity: info, low, medium, high or critical",
    "weights": "practice number = weight; rescaled to 100 over those that apply",
}
# A waiver to start from, while the policy has none.
_WAIVER_EXAMPLE = (
    "[[waivers]]",
    'rule = "IA401"                  # a rule id or a glob',
    'reason = "template without secrets"  # required',
    'images = "myorg/app:*"          # glob on the image name; default "*"',
    'paths = "app/.env.example"      # glob on the finding\'s path; default: all',
    "expires = 2027-01-31            # last day it applies; default: never expires",
)


def _noted(item: Item, note: str) -> Item:
    """`item` with `note` as its comment, two spaces after it."""
    item.comment(note)
    item.trivia.comment_ws = "  "
    return item


def _add(container: tomlkit.TOMLDocument | Table, setting: Setting, value: Any) -> None:
    """One setting's line, `key = value  # note`; commented out while the value is unset, and
    for a rule whose severity is its own (a practice's weight is always written)."""
    written = setting.kind.write(value)
    if written is None:
        container.add(tomlkit.comment(f"{setting.name} = {setting.example}  # {setting.note}"))
    elif setting.field != "severities":
        container.add(setting.name, _noted(tomlkit.item(written), setting.note))
    elif value == setting.declared:
        line = f"{setting.name} = {tomlkit.item(written).as_string()}  # {setting.note}"
        container.add(tomlkit.comment(line))
    else:
        declared = setting.kind.write(setting.declared)
        container.add(setting.name, _noted(tomlkit.item(written),
                                           f"{setting.note} (declared {declared})"))


def _waiver(waiver: Waiver) -> Table:
    table = tomlkit.table()
    table.add("rule", waiver.rule)
    table.add("reason", waiver.reason)
    table.add("images", waiver.images)
    if waiver.paths:
        table.add("paths", waiver.paths)
    if waiver.expires is not None:
        table.add("expires", waiver.expires)
    return table


def dump_policy(policy: Policy) -> str:
    """A complete policy file for `policy`: every key, defaults included, in .imgaudit.toml
    form (in a pyproject.toml, prefix each table name with tool.imgaudit.)."""
    document = tomlkit.document()
    for line in _HEADER:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    tables: dict[str, Table] = {}  # by name, each added to the document before its settings
    for setting in SETTINGS:
        if setting.table and setting.table not in tables:
            table = tables[setting.table] = tomlkit.table()
            if setting.table in _TABLE_NOTES:
                _noted(table, _TABLE_NOTES[setting.table])
            document.add(tomlkit.nl())
            document.add(setting.table, table)
        _add(tables.get(setting.table, document), setting, setting.value(policy))
    if policy.waivers:
        waivers = tomlkit.aot()
        for waiver in policy.waivers:
            waivers.append(_waiver(waiver))
        document.add(WAIVERS, waivers)
    else:
        document.add(tomlkit.nl())
        for line in _WAIVER_EXAMPLE:
            document.add(tomlkit.comment(line))
    return tomlkit.dumps(document)
