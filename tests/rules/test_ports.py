"""Practice 7: a port exposed (IA701), bindable by the runtime user (IA702), and no SSH (IA703)."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from tests.support.factory import DELETE, ImageSpec, check, good, nop


def exposing(*ports: str, user: str = "myuser") -> ImageSpec:
    spec = good().with_tail(*[nop(f"EXPOSE {p}") for p in ports],
                            nop('CMD ["python" "main.py"]'))
    return spec.configured(ExposedPorts={p: {} for p in ports} if ports else DELETE, User=user)


def test_an_exposed_high_port_passes() -> None:
    assert check(good(), "IA701").note == "exposes 8000/tcp"
    assert check(good(), "IA702").note == "8000/tcp can be bound by user myuser"
    assert check(good(), "IA703").status is Status.PASS


def test_no_exposed_port() -> None:
    spec = exposing()
    result = check(spec, "IA701")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.evidence == "config.ExposedPorts is empty"
    for rule in ("IA702", "IA703"):
        skipped = check(spec, rule)
        assert skipped.status is Status.SKIP and skipped.note == "no port is exposed"


@pytest.mark.parametrize("user", ["myuser", "1000", "1000:1000"])
def test_a_privileged_port_with_a_non_root_user(user: str) -> None:
    result = check(exposing("80/tcp", "8443/tcp", user=user), "IA702")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.message == f"user {user} cannot bind 80/tcp"
    assert finding.evidence == f"config.ExposedPorts=80/tcp, 8443/tcp; config.User={user!r}"
    assert finding.layer is None


@pytest.mark.parametrize("user", ["", "root", "0"])
def test_a_privileged_port_as_root_is_judged_by_ia201(user: str) -> None:
    result = check(exposing("80/tcp", user=user), "IA702")
    assert result.status is Status.SKIP and "root" in result.note


def test_port_1024_and_udp_ports() -> None:
    assert check(exposing("1024/tcp", "5353/udp"), "IA702").status is Status.PASS


def test_ssh_port_exposed() -> None:
    result = check(exposing("22/tcp", "8000/tcp", user="root"), "IA703")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "port 22 (SSH) is exposed"
    assert check(exposing("2222/tcp"), "IA703").status is Status.PASS
