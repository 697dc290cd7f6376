"""Waivers, severity overrides, practice weights and rule selection: waived findings stay in the
report marked with their waiver and cost nothing; expired waivers stop applying and say so."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from auditor import assess
from auditor.errors import UsageError
from auditor.model.findings import Severity, Status, Waiver
from auditor.model.policy import Policy
from auditor.rules import ALL_RULES, select
from auditor.waivers import expired, from_label
from tests.support.factory import ImageSpec, Step, bad, build, buildkit, copy, file, good, nop

TODAY = datetime.date(2026, 11, 29)
IDS = [r.info.id for r in ALL_RULES]


def audit(policy: Policy, *, labels: dict[str, str] | None = None, reference: str = "app:1"
          ) -> assess.ImageReport:
    spec = bad()
    if labels:
        spec = spec.configured(Labels=labels)
    return assess.run(build(spec, reference=reference), ALL_RULES, policy, today=TODAY)


def result(item: assess.ImageReport, rule: str) -> assess.RuleResult:
    return next(r for r in item.results if r.rule.id == rule)


def test_a_rule_waiver_keeps_its_findings_visible_and_unscored() -> None:
    plain = audit(Policy())
    assert result(plain, "IA201").status is Status.FAIL
    waiver = Waiver(rule="IA201", reason="legacy app, ticket OPS-12", source="test policy")
    item = audit(Policy(waivers=(waiver,)))
    got = result(item, "IA201")
    assert got.status is Status.IGNORED and not got.findings
    assert got.waived and all(f.waiver == waiver for f in got.waived)
    assert "legacy app, ticket OPS-12" in got.note
    shown = [s for s in item.findings if s.rule.id == "IA201"]
    assert shown and all(s.points == 0 and s.finding.waiver == waiver for s in shown)
    assert item.score > plain.score


def test_a_path_waiver_accepts_only_matching_findings() -> None:
    waiver = Waiver(rule="IA4*", reason="vendored checkout", paths="myapp/.git*")
    item = audit(Policy(waivers=(waiver,)))
    assert [f.path for f in result(item, "IA402").waived] == ["myapp/.git"]
    assert result(item, "IA402").status is Status.IGNORED
    kept = result(item, "IA401")
    assert kept.status is Status.FAIL and not kept.waived
    assert [f.path for f in kept.findings] == ["myapp/.env"]


def test_a_path_waiver_for_one_secret_file_waives_no_other() -> None:
    spec = good().adding(copy("multi:abc in /myapp/", file("myapp/.env", "A=1"),
                              file("myapp/id_rsa", "key")))
    waiver = Waiver(rule="IA401", reason="dummy env", paths="myapp/.env")
    item = assess.run(build(spec), ALL_RULES, Policy(waivers=(waiver,)), today=TODAY)
    got = result(item, "IA401")
    assert [f.path for f in got.waived] == ["myapp/.env"]
    assert [f.path for f in got.findings] == ["myapp/id_rsa"] and got.status is Status.FAIL


def test_a_grouped_finding_is_waived_only_when_every_path_matches() -> None:
    spec = bad().adding(copy("multi:abc in /myapp/", file("myapp/tests/test_a.py", "x"),
                             file("myapp/tests/fixtures/dummy.key", "k")))
    tests_group = next(f for f in result(assess.run(build(spec), ALL_RULES, Policy(),
                                                    today=TODAY), "IA403").findings
                       if f.message.startswith("test suite"))
    assert tests_group.paths == ("myapp/tests/test_a.py", "myapp/tests/fixtures/dummy.key")
    one = Waiver(rule="IA403", reason="r", paths="myapp/tests/test_a.py")
    partly = result(assess.run(build(spec), ALL_RULES, Policy(waivers=(one,)), today=TODAY),
                    "IA403")
    assert not partly.waived and tests_group in partly.findings
    every = Waiver(rule="IA403", reason="r", paths="myapp/tests/*")
    whole = result(assess.run(build(spec), ALL_RULES, Policy(waivers=(every,)), today=TODAY),
                   "IA403")
    assert [f.paths for f in whole.waived if f.message.startswith("test suite")] == [
        tests_group.paths]


def test_an_image_pattern_limits_a_waiver() -> None:
    waiver = Waiver(rule="IA201", reason="r", images="other/*")
    assert result(audit(Policy(waivers=(waiver,))), "IA201").status is Status.FAIL
    waiver = Waiver(rule="IA201", reason="r", images="app")  # the repository, any tag
    assert result(audit(Policy(waivers=(waiver,))), "IA201").status is Status.IGNORED


@pytest.mark.parametrize(("reference", "tags"), [
    ("docker://ghcr.io/org/app:1.4", ()),
    ("docker://ghcr.io/org/app:1.4", ("ghcr.io/org/app:1.4",)),
    ("docker://ghcr.io/org/app:1.4 (linux/arm64)", ("ghcr.io/org/app:1.4",)),
    ("docker://ghcr.io/org/app@sha256:" + "ab" * 32, ()),
    ("ghcr.io/org/app:1.4", ("ghcr.io/org/app:1.4",)),
    ("oci-archive:/tmp/tmpab/x.tar:ghcr.io/org/app:1.4", ("ghcr.io/org/app:1.4",)),
])
def test_image_patterns_see_the_registry_host(reference: str, tags: tuple[str, ...]) -> None:
    image = dataclasses.replace(build(bad()), reference=reference, repo_tags=tags)

    def status(images: str) -> Status:
        waiver = Waiver(rule="IA201", reason="r", images=images)
        return result(assess.run(image, ALL_RULES, Policy(waivers=(waiver,)), today=TODAY),
                      "IA201").status

    assert status("ghcr.io/org/app") is Status.IGNORED
    assert status("ghcr.io/org/*") is Status.IGNORED
    if "@" not in reference:
        assert status("ghcr.io/org/app:*") is Status.IGNORED
        assert status("ghcr.io/org/app:1.4") is Status.IGNORED
    # the same name on another registry is another image
    assert status("org/app") is Status.FAIL
    assert status("org/app:*") is Status.FAIL
    assert status("docker.io/org/app") is Status.FAIL


def test_an_expired_waiver_stops_applying_and_says_so() -> None:
    yesterday = TODAY - datetime.timedelta(1)
    expired = Waiver(rule="IA201", reason="until the rewrite", expires=yesterday)
    item = audit(Policy(waivers=(expired,)))
    assert result(item, "IA201").status is Status.FAIL
    assert any("expired on 2026-11-28" in n and "until the rewrite" in n for n in item.notices)
    last_day = Waiver(rule="IA201", reason="r", expires=TODAY)
    assert result(audit(Policy(waivers=(last_day,))), "IA201").status is Status.IGNORED


def test_an_unused_waiver_is_noticed() -> None:
    item = audit(Policy(waivers=(Waiver(rule="IA101", reason="r", paths="nowhere/*"),)))
    assert any("matched no finding" in n for n in item.notices)


WAIVE = "io.imgaudit.waive"


def labelled(text: str, *, own: Step | None = None, base: Step | None = None,
             spec: ImageSpec | None = None) -> assess.ImageReport:
    """bad() with the waiver label in its config, set by `own` (a step of its own build) or by
    `base` (a step of its base image, before the base's last CMD), or by no step at all."""
    spec = (spec or bad()).configured(Labels={WAIVE: text})
    if own is not None:
        spec = spec.adding(own)
    if base is not None:
        spec = dataclasses.replace(spec, base=(*spec.base[:-1], base, spec.base[-1]))
    return assess.run(build(spec), ALL_RULES, Policy(), today=TODAY)


def test_image_label_waivers_are_honoured_unless_forbidden() -> None:
    text = "IA201: runs as root by design; IA402 myapp/.git: vendored"
    labels = {WAIVE: text}
    item = labelled(text, own=nop(f"LABEL {WAIVE}={text}"))
    assert result(item, "IA201").status is Status.IGNORED
    assert "runs as root by design" in result(item, "IA201").note
    assert [f.path for f in result(item, "IA402").waived] == ["myapp/.git"]
    assert result(item, "IA401").status is Status.FAIL
    spec = bad().adding(nop(f"LABEL {WAIVE}={text}")).configured(Labels=labels)
    refused = assess.run(build(spec), ALL_RULES, Policy(image_waivers=False), today=TODAY)
    assert result(refused, "IA201").status is Status.FAIL
    assert any("not honoured" in n for n in refused.notices)


def test_a_label_set_by_a_buildkit_step_of_the_own_build_is_honoured() -> None:
    item = labelled("IA201: by design", own=buildkit(f"LABEL {WAIVE}=IA201: by design other=x"))
    assert result(item, "IA201").status is Status.IGNORED


def test_a_label_inherited_from_the_base_image_is_not_honoured() -> None:
    # The base's author must not be able to waive what images built on it do.
    text = "IA1101: vendor says fine; IA201: vendor says fine"
    item = labelled(text, base=nop(f"LABEL {WAIVE}={text}"))
    assert item.image.boundary.own_from_layer > 1
    assert result(item, "IA1101").status is Status.FAIL
    assert result(item, "IA201").status is Status.FAIL
    (notice,) = [n for n in item.notices if WAIVE in n]
    assert "not honoured: the base image set it (history[5])" in notice
    assert "policy file" in notice


def test_a_label_no_own_step_set_is_not_honoured() -> None:
    # `docker build --label` under BuildKit leaves no history step: it cannot be told from a
    # label inherited from a base whose history is lost.
    item = labelled("IA201: by design")
    assert result(item, "IA201").status is Status.FAIL
    (notice,) = [n for n in item.notices if WAIVE in n]
    assert "no LABEL step of this image's own build sets it" in notice
    assert "docker build --label" in notice and "policy file" in notice


def test_a_label_is_honoured_when_the_whole_image_is_its_own_build() -> None:
    item = labelled("IA201: by design", spec=dataclasses.replace(bad(), history=[]))
    assert item.image.boundary.own_from_layer == 1
    assert result(item, "IA201").status is Status.IGNORED


def test_label_entries_must_name_exact_rules() -> None:
    waivers, notices = from_label("IA201; XX999: nope; : empty; IA2*: both user rules; "
                                  "*: everything; IA202: missing account is fine", IDS)
    assert [w.rule for w in waivers] == ["IA202"]
    assert len(notices) == 5
    assert sum("is a pattern" in n for n in notices) == 2
    item = labelled("*: vendor says fine", own=nop(f"LABEL {WAIVE}=*: vendor says fine"))
    assert not [r for r in item.results if r.waived]
    assert any("* is a pattern" in n for n in item.notices)


def test_waived_findings_do_not_fail_the_policy() -> None:
    waivers = tuple(Waiver(rule=r, reason="r") for r in ("IA1101", "IA201", "IA401"))
    policy = Policy(fail_on=Severity.HIGH, waivers=waivers)
    assert not assess.policy_failures(assess.Report((audit(policy),)), policy)
    strict = Policy(fail_on=Severity.HIGH)
    assert assess.policy_failures(assess.Report((audit(strict),)), strict)


def test_a_severity_override_changes_findings_and_status() -> None:
    item = audit(Policy(severities={"IA201": Severity.LOW}))
    got = result(item, "IA201")
    assert got.rule.severity is Severity.LOW and got.status is Status.WARN
    assert all(f.severity is Severity.LOW for f in got.findings)


def test_weights_change_what_a_practice_costs() -> None:
    plain = audit(Policy())
    heavier = audit(Policy(weights={2: 40}))
    lost = {p.practice.id: p.points_lost for p in heavier.practices}
    assert lost[2] > {p.practice.id: p.points_lost for p in plain.practices}[2]
    zero = audit(Policy(weights={2: 0}))
    assert next(p for p in zero.practices if p.practice.id == 2).points_lost == 0


def test_enable_runs_only_the_named_rules() -> None:
    _, ignored = select(enable=["IA2*"])
    assert set(IDS) - ignored == {"IA201", "IA202"}
    _, ignored = select(ignore=["ia201"], enable=["IA2*"])
    assert set(IDS) - ignored == {"IA202"}
    with pytest.raises(UsageError, match="unknown rule IA9999"):
        select(enable=["IA9999"])


@pytest.mark.parametrize(("days", "lapsed"), [(-1, True), (0, False), (1, False), (None, False)],
                         ids=["yesterday", "today", "tomorrow", "never"])
def test_one_expiry_rule_for_the_audit_and_imgaudit_config(days: int | None,
                                                          lapsed: bool) -> None:
    until = None if days is None else TODAY + datetime.timedelta(days)
    waiver = Waiver(rule="IA201", reason="r", expires=until)
    assert expired(waiver, TODAY) is lapsed
    item = audit(Policy(waivers=(waiver,)))
    assert (result(item, "IA201").status is Status.IGNORED) is not lapsed
    # `imgaudit config` marks waivers with the same function the audit applies
    from auditor.cli import config as config_command

    assert config_command.expired is expired
