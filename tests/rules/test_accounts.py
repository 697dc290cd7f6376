"""Practice 12, hardened accounts: empty passwords (IA1202) and shared IDs (IA1203), on in-memory
images; evidence names accounts and never a field's content."""

from __future__ import annotations

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from tests.support.factory import (
    ImageSpec,
    base_steps,
    check,
    file,
    good,
    group,
    passwd,
    run,
    whiteout,
)

HASH = "$6$saltsalt$c2VjcmV0aGFzaHZhbHVlbmV2ZXJzaG93bg"


def shadow(*lines: str) -> bytes:
    return ("\n".join(("root:*:19000:0:::::", *lines)) + "\n").encode()


def test_locked_and_hashed_passwords_pass() -> None:
    hashed = shadow(f"myuser:{HASH}:19000::::::")
    spec = good().adding(run("set password", file("etc/shadow", hashed)))
    result = check(spec, "IA1202")
    assert result.status is Status.PASS
    assert result.note == ("no empty password field in /etc/shadow (2 accounts), /etc/passwd "
                           "(3 accounts)")


def test_an_empty_shadow_field_is_high_and_names_the_account_only() -> None:
    spec = good().adding(run("passwd -d guest", file("etc/shadow", shadow(
        f"myuser:{HASH}:19000::::::", "guest::19000:0:99999:7:::"))))
    result = check(spec, "IA1202")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.HIGH and finding.origin is Origin.OWN
    assert finding.message == "account guest has an empty password"
    assert finding.evidence.endswith("/etc/shadow, account guest: the password field is empty")
    assert finding.layer == 7
    shown = f"{finding.message} {finding.evidence}"
    assert HASH not in shown and "19000" not in shown


def test_an_empty_passwd_field_counts_too() -> None:
    spec = good().adding(run("edit", passwd("nopass::1001:1001::/home/nopass:/bin/sh")))
    (finding,) = check(spec, "IA1202").findings
    assert "/etc/passwd, account nopass" in finding.evidence


def test_an_empty_password_the_base_already_had_is_the_base_s() -> None:
    steps = base_steps()
    base = (*steps[:-1], run("base shadow", file("etc/shadow", shadow("guest::1:::::"))),
            steps[-1])
    # the image's own step rewrites etc/shadow (adding myuser) but keeps the base's guest line
    spec = ImageSpec(base=base).adding(run("adduser", file("etc/shadow", shadow(
        "guest::1:::::", "myuser:!:19000::::::"))))
    result = check(spec, "IA1202")
    assert result.status is Status.PASS and result.findings == ()
    (finding,) = result.base_findings
    assert finding.origin is Origin.BASE and "account guest" in finding.message


def test_skipped_without_account_files() -> None:
    spec = good().adding(run("rm", whiteout("etc/passwd"), whiteout("etc/shadow"),
                             whiteout("etc/group")))
    for rule in ("IA1202", "IA1203"):
        result = check(spec, rule)
        assert result.status is Status.SKIP
        assert result.note.startswith("the image has no etc/")
    assert check(good(), "IA1202", content=False).status is Status.SKIP


def test_unique_ids_pass() -> None:
    result = check(good(), "IA1203")
    assert result.status is Status.PASS
    assert result.note == "every UID and GID is unique in /etc/passwd and /etc/group"


def test_a_shared_uid_and_a_shared_gid() -> None:
    spec = good().adding(run("add worker",
                             passwd("myuser:x:1000:1000::/home/myuser:/bin/sh",
                                    "worker:x:1000:1000::/home/worker:/bin/sh"),
                             group("myuser:x:1000:", "workers:x:1000:")))
    result = check(spec, "IA1203")
    assert result.status is Status.WARN
    assert sorted((f.message, f.severity) for f in result.findings) == [
        ("GID 1000 is shared by groups myuser, workers", Severity.LOW),
        ("UID 1000 is shared by accounts myuser, worker", Severity.LOW),
    ]


def test_a_second_root_account_is_medium() -> None:
    spec = good().adding(run("add toor", passwd("toor:x:0:0::/root:/bin/sh")))
    (finding,) = check(spec, "IA1203").findings
    assert finding.message == "UID 0 is shared by accounts root, toor: a second root account"
    assert finding.severity is Severity.MEDIUM


def test_unreadable_lines_and_nis_includes_are_not_accounts() -> None:
    spec = good().adding(run("edit", passwd("+::0:0:::", "# comment:x:1000", "broken",
                                            "odd:x:notanumber:1:::")))
    assert check(spec, "IA1203").status is Status.PASS
