"""Scoring: every point lost is a finding's, practices that could not be judged leave the
denominator, a practice never loses more than its weight, and grades follow the score."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auditor.assess import run as run_rules
from auditor.model.findings import Finding, Flag, Severity, Status
from auditor.model.image import Image, Origin
from auditor.model.policy import Limits, Policy
from auditor.model.report import ImageReport
from auditor.rules import ALL_RULES, PRACTICES
from auditor.rules.registry import Verdict, rule
from auditor.scoring import GRADES, grade_for, score, status_for
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

WEIGHTS = {p.id: p.weight for p in PRACTICES}


def assert_explained(item: ImageReport, score_base: bool = False) -> None:
    """100 - score is the sum of the points each finding cost, within rounding."""
    points = sum(s.points for s in item.findings)
    assert abs((100 - item.score) - points) <= 0.5 + 0.01 * len(item.findings)
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
    assert scored.rule.id == "IA201" and scored.points == WEIGHTS[2]
    assert item.score == 100 - WEIGHTS[2]


def test_a_practice_never_loses_more_than_its_weight() -> None:
    spec = good().adding(*[nop(f"ARG TOKEN{n}=abc123secret{n}") for n in range(6)])
    item = report(spec)
    practice = next(p for p in item.practices if p.practice.id == 5)
    assert practice.findings == 6
    assert practice.points_lost == pytest.approx(WEIGHTS[5], abs=0.03)
    assert item.score == 100 - WEIGHTS[5]


def test_shares_follow_severity() -> None:
    # IA601 (medium, 0.5 share) and IA701 (low, 0.25 share) in practices of weights 5 and 4.
    item = report(good().configured(WorkingDir="", ExposedPorts=None))
    points = {s.rule.id: s.points for s in item.findings if s.points}
    assert points == {"IA601": WEIGHTS[6] * 0.5, "IA701": WEIGHTS[7] * 0.25}


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
    skipped = {p.practice.id for p in item.practices if p.status is Status.SKIP}
    assert skipped == {4, 8, 9}  # every rule of these reads layer contents
    remaining = 100 - sum(WEIGHTS[i] for i in skipped)
    (scored,) = [s for s in item.findings if s.points]
    assert scored.points == pytest.approx(WEIGHTS[2] * 100 / remaining, abs=0.01)


def test_a_practice_with_a_rule_that_ran_stays_in_the_denominator() -> None:
    # Practice 7: IA701 passes while IA702 and IA703 skip.
    item = report(good().configured(User="root", ExposedPorts={"8000/tcp": {}}))
    practice = next(p for p in item.practices if p.practice.id == 7)
    assert practice.status is Status.PASS
    assert item.score == 100 - WEIGHTS[2]


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
    total, grade, practices, findings = score((), PRACTICES)
    assert (total, grade, findings) == (100, "A", ())
    assert {p.status for p in practices} == {Status.SKIP}
