"""Practice 6: a working directory of the image's own (IA601)."""

from __future__ import annotations

from auditor.model.findings import Severity, Status
from tests.support.factory import ImageSpec, Step, base_steps, check, good, nop, own_steps


def without_workdir_step() -> ImageSpec:
    return good().with_own(*[s for s in own_steps() if "WORKDIR" not in s.created_by])


def test_an_own_absolute_workdir_passes() -> None:
    result = check(good(), "IA601")
    assert result.status is Status.PASS
    assert result.note == "config.WorkingDir='/myapp' (history[8]: WORKDIR /myapp)"


def test_no_workdir() -> None:
    result = check(without_workdir_step().configured(WorkingDir=""), "IA601")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "no WORKDIR: the app runs in /"
    assert finding.evidence == "config.WorkingDir=''; no WORKDIR step in the history"


def test_root_without_a_workdir_step_is_no_workdir() -> None:
    result = check(without_workdir_step().configured(WorkingDir="/"), "IA601")
    assert result.findings[0].message == "no WORKDIR: the app runs in /"


def test_workdir_slash_set_on_purpose() -> None:
    spec = without_workdir_step().adding(nop("WORKDIR /")).configured(WorkingDir="/")
    result = check(spec, "IA601")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.message == "WORKDIR is /: the app shares the root folder"


def test_a_relative_workdir() -> None:
    result = check(good().configured(WorkingDir="app"), "IA601")
    assert result.findings[0].message == "WORKDIR app is not absolute"


def test_a_workdir_inherited_from_the_base_is_information_only() -> None:
    base = (*base_steps()[:-1], Step("/bin/sh -c #(nop) WORKDIR /usr/src/app", ()),
            base_steps()[-1])
    spec = ImageSpec(base=base).with_own(*[s for s in own_steps() if "WORKDIR" not in
                                           s.created_by]).configured(WorkingDir="/usr/src/app")
    result = check(spec, "IA601")
    assert result.status is Status.INFO
    (finding,) = result.findings
    assert finding.severity is Severity.INFO
    assert "inherited from the base image" in finding.message


def test_without_history_an_absolute_workdir_passes() -> None:
    result = check(ImageSpec(history=[]), "IA601")
    assert result.status is Status.PASS and result.note == "config.WorkingDir='/myapp'"
