"""Practice 2: who the container runs as (IA201) and whether that user exists (IA202)."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from tests.support.factory import (
    ImageSpec,
    Step,
    base_steps,
    check,
    good,
    group,
    nop,
    own_steps,
    passwd,
    run,
    whiteout,
)


def as_user(text: str, *accounts: str, groups: tuple[str, ...] = ()) -> ImageSpec:
    """The good image, ending with `USER text`; extra passwd lines replace myuser's."""
    own: list[Step] = []
    for step in own_steps():
        if step.created_by.endswith("USER myuser"):
            step = nop(f"USER {text}")
        own.append(step)
    spec = good().with_own(*own).configured(User=text)
    if accounts or groups:
        spec = spec.adding(run("edit accounts", passwd(*accounts), group(*groups)))
    return spec


def test_a_non_root_user_passes() -> None:
    result = check(good(), "IA201")
    assert result.status is Status.PASS
    assert result.note == "config.User='myuser' runs as UID 1000"
    assert check(good(), "IA202").status is Status.PASS


def test_no_user_runs_as_root() -> None:
    spec = good().with_own(*[s for s in own_steps() if "USER" not in s.created_by])
    result = check(spec.configured(User=""), "IA201")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.evidence == "config.User is empty"
    assert finding.severity is Severity.HIGH and finding.origin is Origin.OWN
    assert check(spec.configured(User=""), "IA202").status is Status.SKIP


@pytest.mark.parametrize("text", ["root", "0", "0:0", "root:staff", "root:0", "0:1000"])
def test_root_by_name_or_uid_runs_as_root(text: str) -> None:
    result = check(as_user(text), "IA201")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.message == f"USER {text} runs as root"
    assert finding.evidence == f"config.User={text!r}: root is UID 0"
    assert finding.origin is Origin.OWN
    skipped = check(as_user(text), "IA202")
    assert skipped.status is Status.SKIP and skipped.note == "the image runs as root"


def test_a_name_that_maps_to_uid_0_runs_as_root() -> None:
    spec = as_user("toor", "toor:x:0:0:second root:/root:/bin/sh")
    result = check(spec, "IA201")
    assert result.status is Status.FAIL
    assert result.findings[0].evidence == "config.User='toor': toor has UID 0 in etc/passwd"
    assert check(spec, "IA202").status is Status.PASS  # it exists; it is just root


def test_a_named_user_missing_from_passwd() -> None:
    spec = as_user("ghost")
    runs = check(spec, "IA201")
    assert runs.status is Status.PASS
    assert "not in etc/passwd (see IA202)" in runs.note
    missing = check(spec, "IA202")
    assert missing.status is Status.FAIL
    (finding,) = missing.findings
    assert finding.message == "USER ghost cannot be resolved: the container will not start"
    assert finding.evidence == "user 'ghost' is not in etc/passwd"


@pytest.mark.parametrize(("text", "uid"), [("1000", 1000), ("10001", 10001),
                                           ("10001:10001", 10001), ("1000:myuser", 1000)])
def test_numeric_uids_need_no_account(text: str, uid: int) -> None:
    result = check(as_user(text), "IA201")
    assert result.status is Status.PASS
    assert result.note == f"config.User={text!r} runs as UID {uid}"
    assert check(as_user(text), "IA202").status is Status.PASS


def test_a_group_missing_from_etc_group() -> None:
    result = check(as_user("myuser:staff"), "IA202")
    assert result.status is Status.FAIL
    assert result.findings[0].evidence == "group 'staff' is not in etc/group"
    assert check(as_user("myuser:myuser"), "IA202").status is Status.PASS


def test_passwd_deleted_by_a_later_layer() -> None:
    spec = good().adding(run("rm /etc/passwd", whiteout("etc/passwd")))
    result = check(spec, "IA202")
    assert result.status is Status.FAIL
    assert result.findings[0].evidence == "user 'myuser': the image has no etc/passwd"
    assert check(spec, "IA201").status is Status.PASS  # unresolved, reported by IA202


def test_without_layer_contents() -> None:
    assert check(as_user("root"), "IA201", content=False).status is Status.FAIL
    named = check(good(), "IA201", content=False)
    assert named.status is Status.PASS and "etc/passwd was not read" in named.note
    assert check(as_user("10001"), "IA201", content=False).note.endswith("runs as UID 10001")
    skipped = check(good(), "IA202", content=False)
    assert skipped.status is Status.SKIP and "not read" in skipped.note


def test_root_inherited_from_the_base_still_fails() -> None:
    # The base ends with USER root; the image's own build never switches away from it.
    base = (*base_steps()[:-1], nop("USER root"), base_steps()[-1])
    own = [s for s in own_steps() if "USER" not in s.created_by]
    image_spec = ImageSpec(base=base, own=tuple(own)).configured(User="root")
    result = check(image_spec, "IA201")
    assert result.status is Status.FAIL
    assert result.findings and result.findings[0].origin is Origin.OWN


def test_a_non_root_user_inherited_from_the_base_passes() -> None:
    base = (*base_steps()[:-1], nop("USER nobody"), base_steps()[-1])
    own = [s for s in own_steps() if "USER" not in s.created_by]
    result = check(ImageSpec(base=base, own=tuple(own)).configured(User="nobody"), "IA201")
    assert result.status is Status.PASS and "UID 65534" in result.note
