"""Scoring: every point lost is a finding's, practices that could not be judged leave the
denominator, a practice never loses more than its weight, and grades follow the score."""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType

import pytest

from auditor.assess import run as run_rules
from auditor.model.findings import NOT_JUDGED, Finding, Flag, Severity, Status, Waiver
from auditor.model.image import Image, Origin
from auditor.model.policy import Limits, Policy
from auditor.model.report import ImageReport
from auditor.rules import ALL_RULES, PRACTICES
from auditor.rules.registry import Verdict, rule
from auditor.scoring import CRITICAL_CAP, GRADES, PASS_LINE, grade_for, score, status_for
from tests.support.factory import (
    ImageSpec,
    bad,
    base_steps,
    build,
    file,
    good,
    nop,
    report,
    run,
)


def _applicable() -> int:
    """The declared weight of the practices the good image is judged on: a score scales every
    weight by 100 over it (practices 12-14 made the declared weights sum past 100)."""
    judged = {r.rule.practice for r in report(good()).results if r.status not in NOT_JUDGED}
    return sum(p.weight for p in PRACTICES if p.id in judged)


# Each practice's weight as the score counts it on an image judged on the good image's practices.
WEIGHTS = {p.id: p.weight * 100 / _applicable() for p in PRACTICES}


def assert_explained(item: ImageReport, score_base: bool = False) -> None:
    """100 - score is the sum of the points each finding cost, and those the cap took beyond
    them, within rounding."""
    points = sum(s.points for s in item.findings)
    capped = item.cap.points if item.cap is not None else 0
    assert abs((100 - item.score) - points - capped) <= 0.5 + 0.01 * len(item.findings)
    assert abs(sum(p.points_lost for p in item.practices) - points) <= 0.01 * len(item.findings)
    for scored in item.findings:
        if scored.points:
            assert score_base or scored.finding.origin is Origin.OWN
            assert scored.finding.severity > Severity.INFO


IMAGES = [
    pytest.param(good, id="good"),
    pytest.param(bad, id="bad"),
    pytest.param(lambda: good().configured(User="root"), id="root"),
    pytest.param(lambda: good().configured(WorkingDir="", ExposedPorts=None), id="two-lows"),
    pytest.param(lambda: ImageSpec(history=[]), id="no-history"),
    pytest.param(lambda: ImageSpec(base=(run("apk add gcc", file("usr/bin/gcc")),
                                         *base_steps())).configured(User="root"),
                 id="base-findings"),
]


@pytest.mark.parametrize("make", IMAGES)
@pytest.mark.parametrize("content", [True, False], ids=["content", "metadata"])
def test_every_point_lost_is_explained(make: object, content: bool) -> None:
    spec = make()  # type: ignore[operator]
    assert_explained(report(spec, content=content))
    assert_explained(report(spec, Policy(score_base=True), content=content), score_base=True)


def test_the_good_image_scores_full_marks() -> None:
    item = report(good())
    assert (item.score, item.grade) == (100, "A")
    assert all(s.points == 0 for s in item.findings)
    assert all(p.points_lost == 0 for p in item.practices)


def test_the_bad_image_loses_points_in_many_practices() -> None:
    item = report(bad())
    losing = {p.practice.id for p in item.practices if p.points_lost}
    assert losing >= {2, 4, 6, 7, 8, 9, 10, 11}
    assert item.score < 50 and item.grade == "F"
    assert item.findings == tuple(sorted(
        item.findings, key=lambda s: (-s.points, -s.finding.severity, s.rule.id)))


def test_one_high_finding_costs_its_practice_weight() -> None:
    item = report(good().configured(User="root"))
    (scored,) = [s for s in item.findings if s.points]
    assert scored.rule.id == "IA201" and scored.points == pytest.approx(WEIGHTS[2], abs=0.01)
    assert item.score == round(100 - WEIGHTS[2])


def test_a_practice_never_loses_more_than_its_weight() -> None:
    # Six secret build arguments (IA502, of the secrets group, 11), none a recognised token.
    spec = good().adding(*[nop(f"ARG TOKEN{n}=abc123secret{n}") for n in range(6)])
    item = report(spec)
    practice = next(p for p in item.practices if p.practice.id == 11)
    assert practice.findings == 6
    assert practice.points_lost == pytest.approx(WEIGHTS[11], abs=0.03)
    assert item.score == round(100 - WEIGHTS[11]) and item.cap is None


def test_shares_follow_severity() -> None:
    # IA601 (medium, 0.5 share) and IA701 (low, 0.25 share) in practices of weights 5 and 4.
    item = report(good().configured(WorkingDir="", ExposedPorts=None))
    points = {s.rule.id: s.points for s in item.findings if s.points}
    assert points == pytest.approx({"IA601": WEIGHTS[6] * 0.5, "IA701": WEIGHTS[7] * 0.25},
                                   abs=0.01)


def test_info_findings_cost_nothing() -> None:
    base = (*base_steps()[:-1], nop("WORKDIR /usr/src/app"), base_steps()[-1])
    own = [s for s in good().own if "WORKDIR" not in s.created_by]
    item = report(ImageSpec(base=base, own=tuple(own)).configured(WorkingDir="/usr/src/app"))
    (info,) = [s for s in item.findings if s.rule.id == "IA601"]
    assert info.finding.severity is Severity.INFO and info.points == 0
    assert item.score == 100


def test_base_findings_are_free_unless_scored() -> None:
    base = (run("apk add gcc", file("usr/bin/gcc")), *base_steps())
    spec = ImageSpec(base=base)
    free = report(spec)
    assert free.score == 100
    (tool,) = [s for s in free.findings if s.rule.id == "IA103"]
    assert tool.finding.origin is Origin.BASE and tool.points == 0
    scored = report(spec, Policy(score_base=True))
    assert scored.score == 100 - round(WEIGHTS[1] * 0.5)
    assert_explained(scored, score_base=True)


def test_ignored_practices_leave_the_denominator() -> None:
    spec = good().configured(User="root")
    ignored = report(spec, Policy(ignore=frozenset({"IA701", "IA702", "IA703"})))
    practice = next(p for p in ignored.practices if p.practice.id == 7)
    assert practice.status is Status.IGNORED
    (scored,) = [s for s in ignored.findings if s.points]
    assert scored.points == pytest.approx(WEIGHTS[2] * 100 / (100 - WEIGHTS[7]), abs=0.01)
    assert ignored.score == round(100 - scored.points)


def test_skipped_practices_leave_the_denominator() -> None:
    item = report(good().configured(User="root"), content=False)
    judged_on_good = {r.rule.practice for r in report(good()).results
                      if r.status not in NOT_JUDGED}
    skipped = {p.practice.id for p in item.practices
               if p.status is Status.SKIP and p.practice.id in judged_on_good}
    assert skipped == {4, 8, 9}  # every rule of these reads layer contents (12 judges sudo in
    # the history without them)
    remaining = 100 - sum(WEIGHTS[i] for i in skipped)
    (scored,) = [s for s in item.findings if s.points]
    assert scored.points == pytest.approx(WEIGHTS[2] * 100 / remaining, abs=0.01)


def test_a_practice_with_a_rule_that_ran_stays_in_the_denominator() -> None:
    # Practice 7: IA701 passes while IA702 and IA703 skip.
    item = report(good().configured(User="root", ExposedPorts={"8000/tcp": {}}))
    practice = next(p for p in item.practices if p.practice.id == 7)
    assert practice.status is Status.PASS
    assert item.score == round(100 - WEIGHTS[2])


def test_a_crashing_rule_is_an_error_result_and_not_scored() -> None:
    @rule("IA799", practice=7, title="crashes", severity=Severity.HIGH, rationale="r", fix="f")
    def crashes(image: Image, limits: Limits) -> Iterator[Verdict]:
        raise RuntimeError("boom")
        yield Flag("never", "never")

    @rule("IA798", practice=7, title="silent", severity=Severity.HIGH, rationale="r", fix="f")
    def silent(image: Image, limits: Limits) -> Iterator[Verdict]:
        yield from ()

    image = build(good())
    item = run_rules(image, (*ALL_RULES[:3], crashes, silent), Policy())
    errors = {r.rule.id: r for r in item.results if r.status is Status.ERROR}
    assert errors["IA799"].note == "rule crashed: RuntimeError: boom"
    assert errors["IA798"].note == "rule ended without a verdict"
    practice = next(p for p in item.practices if p.practice.id == 7)
    assert practice.status is Status.ERROR and practice.points_lost == 0
    assert item.score == 100


def finding(severity: Severity) -> Finding:
    return Finding("IA000", severity, "m", "e")


def test_status_follows_the_worst_severity() -> None:
    assert status_for([finding(Severity.LOW), finding(Severity.HIGH)]) is Status.FAIL
    assert status_for([finding(Severity.CRITICAL)]) is Status.FAIL
    assert status_for([finding(Severity.MEDIUM), finding(Severity.LOW)]) is Status.WARN
    assert status_for([finding(Severity.INFO)]) is Status.INFO


@pytest.mark.parametrize(("value", "grade"), [
    (100, "A"), (90, "A"), (89, "B"), (80, "B"), (79, "C"), (70, "C"), (69, "D"), (60, "D"),
    (59, "F"), (0, "F"),
])
def test_grades(value: int, grade: str) -> None:
    assert grade_for(value) == grade
    assert [floor for floor, _ in GRADES] == sorted((f for f, _ in GRADES), reverse=True)


def test_nothing_judged_scores_full_marks() -> None:
    total, grade, practices, findings, cap = score((), PRACTICES)
    assert (total, grade, findings, cap) == (100, "A", (), None)
    assert {p.status for p in practices} == {Status.SKIP}


# A GitHub token in the image's own ENV: a critical finding (IA1101).
LEAKED = "DEPLOY_TOKEN=ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"


def leaking() -> ImageSpec:
    return good().configured(Env=[*good().config["Env"], LEAKED])


def test_a_critical_finding_caps_the_score_under_the_pass_line() -> None:
    item = report(leaking())
    (critical,) = [s for s in item.findings if s.finding.severity is Severity.CRITICAL]
    assert critical.rule.id == "IA1101" and critical.points == pytest.approx(WEIGHTS[11], abs=0.01)
    assert item.cap is not None
    assert (item.cap.limit, item.cap.uncapped, item.cap.rules) == (
        CRITICAL_CAP, round(100 - WEIGHTS[11]), ("IA1101",))
    assert item.cap.points == round(100 - WEIGHTS[11]) - CRITICAL_CAP
    assert (item.score, item.grade) == (CRITICAL_CAP, "F")
    assert item.score < PASS_LINE and grade_for(PASS_LINE) != "F"
    assert_explained(item)


def test_a_cap_under_which_the_score_already_is_takes_no_point() -> None:
    spec = bad().configured(Env=[*bad().config["Env"], LEAKED])
    uncapped = report(spec)
    assert uncapped.cap is not None and uncapped.cap.uncapped < CRITICAL_CAP
    assert uncapped.cap.points == 0 and uncapped.score == uncapped.cap.uncapped


def test_high_findings_do_not_cap() -> None:
    item = report(good().configured(Env=[*good().config["Env"], "DB_PASSWORD=hunter2-x"]))
    assert item.cap is None and item.score == round(100 - WEIGHTS[11])


@pytest.mark.parametrize("policy", [
    pytest.param(Policy(waivers=(Waiver(rule="IA1101", reason="a test token"),)), id="waived"),
    pytest.param(Policy(severities=MappingProxyType({"IA1101": Severity.HIGH})),
                 id="severity-lowered"),
    pytest.param(Policy(weights=MappingProxyType({11: 0})), id="practice-unweighted"),
    pytest.param(Policy(ignore=frozenset({"IA1101"})), id="ignored"),
])
def test_a_critical_finding_that_is_not_scored_does_not_cap(policy: Policy) -> None:
    item = report(leaking(), policy)
    assert item.cap is None and item.score >= PASS_LINE


def test_a_base_image_critical_finding_caps_only_when_the_base_is_scored() -> None:
    base = (*base_steps()[:-1], nop(f"ENV {LEAKED}"), base_steps()[-1])
    spec = ImageSpec(base=base).configured(Env=[*good().config["Env"], LEAKED])
    assert report(spec).cap is None and report(spec).score == 100
    scored = report(spec, Policy(score_base=True))
    assert scored.cap is not None and scored.score == CRITICAL_CAP
