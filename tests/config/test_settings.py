"""The settings table: every Policy field set by exactly one setting, a policy through its
setting values and back unchanged, each value read back as it is written, and each option the
table declares offered by the commands that take the policy's options."""

from __future__ import annotations

import dataclasses
import datetime
from types import MappingProxyType

import pytest
import typer

from auditor.cli import app
from auditor.config.settings import NAMED, SETTINGS, WAIVERS, Setting, build, flatten
from auditor.model.findings import Severity, Waiver
from auditor.model.policy import Limits, Policy


def test_every_policy_field_is_set_by_one_setting() -> None:
    fields = [s.field for s in SETTINGS if s.member is None]
    assert len(fields) == len(set(fields))
    members = {s.field for s in SETTINGS if s.member is not None}
    expected = {f"limits.{f.name}" for f in dataclasses.fields(Limits)} | {
        f.name for f in dataclasses.fields(Policy) if f.name != "limits"}
    assert {*fields, *members, WAIVERS} == expected
    assert len({s.key for s in SETTINGS}) == len(SETTINGS)


def test_a_policy_goes_through_its_setting_values_unchanged() -> None:
    policy = Policy(
        fail_under=70, fail_on=Severity.LOW, ignore=frozenset({"IA7*", "IA201"}),
        score_base=True, limits=Limits(max_size=5, max_own_layers=3, min_cache_bytes=1),
        enable=frozenset({"IA2*"}), severities=MappingProxyType({"IA703": Severity.INFO}),
        weights=MappingProxyType({2: 0, 11: 30}), image_waivers=False, fail_on_new=True,
        waivers=(Waiver(rule="IA201", reason="r", expires=datetime.date(2027, 1, 31)),),
    )
    assert build(flatten(policy)) == policy
    assert build(flatten(Policy())) == Policy()


@pytest.mark.parametrize("setting", NAMED, ids=[s.key for s in NAMED])
def test_each_value_reads_back_as_it_is_written(setting: Setting) -> None:
    value = setting.default
    if value is None and setting.example:  # unset by default: take its example
        value = setting.kind.read(int(setting.example))
    assert setting.kind.read(setting.kind.write(value)) == value


@pytest.mark.parametrize("command", ["audit", "config"])
def test_the_commands_offer_every_declared_option(command: str) -> None:
    click_command = typer.main.get_command(app).commands[command]
    offered = {name for param in click_command.params for name in param.opts}
    declared = {s.option.name for s in SETTINGS if s.option is not None}
    assert declared <= offered
