"""IA1402 (package lists updated alone) and IA1403 (whole-system upgrades), read from the
image's own RUN steps as shell words, on in-memory images."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.model.findings import Status
from tests.support.factory import ImageSpec, base_steps, buildkit, check, copy, file, good, run


def running(*commands: str) -> ImageSpec:
    return good().adding(*(run(c) for c in commands))


@pytest.mark.parametrize("command", [
    "apt-get update",
    "apt-get -qq update",
    "apt-get -o Acquire::Retries=3 update",
    "set -eux; apt-get update -y",
    "DEBIAN_FRONTEND=noninteractive apt update",
    "sudo apt-get update",
    "apk update",
    "apt-get update && apk add curl",  # an install by another manager uses other lists
])
def test_an_update_alone_is_flagged(command: str) -> None:
    result = check(running(command), "IA1402")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.step == 12 and finding.layer == 7
    assert finding.evidence.startswith("history[12]: RUN ")


@pytest.mark.parametrize("command", [
    "apt-get update && apt-get install -y --no-install-recommends curl",
    "apt-get update; apt-get -y upgrade",
    "apk update && apk add curl",
    "echo apt-get update",  # words of another command
    "update-ca-certificates",
    "apt-get install -y curl",
    "printf 'apt-get update' > /tmp/x",
])
def test_no_update_alone(command: str) -> None:
    assert check(running(command), "IA1402").status is Status.PASS


def test_an_update_in_a_base_step_is_not_the_images() -> None:
    spec = ImageSpec(base=(*base_steps()[:-1], run("apt-get update"), base_steps()[-1]))
    assert check(spec, "IA1402").status is Status.PASS


def test_buildkit_history_is_read_too() -> None:
    spec = good().adding(buildkit("RUN /bin/sh -c apt-get update # buildkit", layer=True))
    assert check(spec, "IA1402").status is Status.WARN


def test_without_own_run_steps_or_history_it_cannot_judge() -> None:
    copies_only = good().with_own(copy("multi:abc in ./", file("myapp/main.py")))
    assert check(copies_only, "IA1402").note == "the image's own build has no RUN step"
    no_history = dataclasses.replace(running("apt-get update"), history=[])
    for rule in ("IA1402", "IA1403"):
        assert check(copies_only, rule).status is Status.SKIP
        assert check(no_history, rule).status is Status.SKIP


@pytest.mark.parametrize("command", [
    "apt-get upgrade -y",
    "apt-get update && apt-get -y dist-upgrade",
    "apt full-upgrade",
    "apk upgrade --no-cache",
    "apk update && apk upgrade",
    "dnf -y upgrade",
    "yum update -y",
    "microdnf update",
    "tdnf distro-sync",
    "zypper --non-interactive dup",
    "/usr/bin/apt-get upgrade",
])
def test_whole_system_upgrades_are_flagged(command: str) -> None:
    result = check(running(command), "IA1403")
    assert result.status is Status.WARN
    assert "upgrades every package" in result.findings[0].message


@pytest.mark.parametrize("command", [
    "dnf upgrade -y openssl",  # named packages: a deliberate fix
    "yum update curl",
    "apk add --upgrade openssl",
    "apt-get install --only-upgrade openssl",
    "echo run apt-get upgrade later",
    "pip install --upgrade pip",
    "apk add --no-cache curl",  # dockle's DKL-DI-0005 false flag on Alpine (dockle#151)
])
def test_no_whole_system_upgrade(command: str) -> None:
    assert check(running(command), "IA1403").status is Status.PASS
