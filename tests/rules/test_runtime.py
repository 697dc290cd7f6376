"""Practice 13: HEALTHCHECK (IA1301) and sensitive VOLUMEs (IA1302), on in-memory images whose
config goes through the sources' own config reader."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.model.findings import Severity, Status, SubjectKind
from auditor.model.image import Origin
from auditor.sources.assemble import MAX_CONFIG_WORDS, image_config
from tests.support.factory import (
    DELETE,
    ImageSpec,
    base_steps,
    buildkit,
    check,
    good,
    nop,
    report,
)

# The good image as PRACTICES.md writes it: without its HEALTHCHECK (step and config value).
UNPROBED = good().configured(Healthcheck=DELETE)
PROBE = {"Test": ["CMD-SHELL", "wget -qO- http://localhost:8000/health || exit 1"],
         "Interval": 30_000_000_000}


def test_no_healthcheck_is_low_about_the_config_value() -> None:
    result = check(UNPROBED, "IA1301")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW and finding.origin is Origin.OWN
    assert finding.subject is not None and finding.subject.kind is SubjectKind.HEALTHCHECK


def test_a_missing_healthcheck_alone_costs_no_grade() -> None:
    item = report(UNPROBED)
    assert item.grade == "A" and item.score == 99  # 0.25 of practice 13's 4 in 117, 0.85 points
    assert [s.rule.id for s in item.findings if s.points] == ["IA1301"]


def test_an_own_healthcheck_passes_and_names_its_step() -> None:
    spec = UNPROBED.adding(nop("HEALTHCHECK &{[\"CMD-SHELL\" \"wget ...\"] \"30s\" \"0s\" \"0s\" "
                               "'\\x00'}")).configured(Healthcheck=PROBE)
    result = check(spec, "IA1301")
    assert result.status is Status.PASS
    assert result.note.startswith('config.Healthcheck.Test=["CMD-SHELL", "wget -qO- ')
    assert "(history[" in result.note and "of the base image" not in result.note


def test_healthcheck_none_is_a_deliberate_choice() -> None:
    spec = UNPROBED.adding(buildkit("HEALTHCHECK NONE")).configured(
        Healthcheck={"Test": ["NONE"]})
    result = check(spec, "IA1301")
    assert result.status is Status.PASS
    assert result.note == "HEALTHCHECK NONE, a deliberate choice (history[12]: HEALTHCHECK NONE)"


def test_an_inherited_healthcheck_counts_as_present() -> None:
    steps = base_steps()
    probe = nop('HEALTHCHECK &{["CMD" "probe"]}')
    spec = dataclasses.replace(UNPROBED, base=(*steps[:-1], probe, steps[-1]))
    result = check(spec.configured(Healthcheck={"Test": ["CMD", "probe"]}), "IA1301")
    assert result.status is Status.PASS
    assert result.note.endswith("of the base image)")


@pytest.mark.parametrize("value", [None, {}, {"Test": []}, {"Test": None}, {"Test": "CMD x"},
                                   {"Test": ["CMD", 3]}, "CMD x", []])
def test_a_malformed_healthcheck_reads_as_unset(value: object) -> None:
    assert image_config({"Healthcheck": value}).healthcheck is None
    assert check(UNPROBED.configured(Healthcheck=value), "IA1301").status is Status.WARN


def test_config_values_are_bounded() -> None:
    config = image_config({"Healthcheck": {"Test": ["CMD", *(["x" * 10_000] * 1000)]},
                           "Volumes": {f"/v{n}": {} for n in range(1000)}})
    assert config.healthcheck is not None and len(config.healthcheck) == MAX_CONFIG_WORDS
    assert max(len(w) for w in config.healthcheck) == 4096
    assert len(config.volumes) == MAX_CONFIG_WORDS
    assert image_config({"Volumes": ["/proc"]}).volumes == ()


def test_plain_volumes_pass() -> None:
    assert check(good(), "IA1302").note == "no VOLUME is declared"
    spec = good().adding(nop("VOLUME [/data /var/lib/app]")).configured(
        Volumes={"/data": {}, "/var/lib/app": {}})
    result = check(spec, "IA1302")
    assert result.status is Status.PASS and result.note == "volumes: /data, /var/lib/app"


@pytest.mark.parametrize("path", ["/proc", "/sys/fs/cgroup", "/dev", "/dev/shm", "/", "//",
                                  "/sys/", "/data/../proc"])
def test_sensitive_volumes_are_high(path: str) -> None:
    spec = good().adding(nop(f"VOLUME [/data {path}]")).configured(
        Volumes={"/data": {}, path: {}})
    result = check(spec, "IA1302")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.HIGH and finding.origin is Origin.OWN
    assert finding.subject is not None and finding.subject.key == path
    assert finding.step == 12 and f"(history[12]: VOLUME [/data {path}])" in finding.evidence


def test_near_misses_are_not_sensitive() -> None:
    spec = good().configured(Volumes={"/procedures": {}, "/system": {}, "/devices": {},
                                      "/srv/proc": {}})
    assert check(spec, "IA1302").status is Status.PASS


def test_a_sensitive_volume_of_the_base_is_not_scored() -> None:
    steps = base_steps()
    spec = ImageSpec(base=(*steps[:-1], nop("VOLUME [/sys]"), steps[-1]))
    result = check(spec.configured(Volumes={"/sys": {}}), "IA1302")
    assert result.status is Status.PASS
    assert [f.origin for f in result.base_findings] == [Origin.BASE]
