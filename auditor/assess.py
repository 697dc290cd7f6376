"""Runs the selected rules on one Image, once each, and scores the results into a report;
judges a report against a policy. No I/O."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model import (
    Finding,
    Flag,
    Image,
    ImageReport,
    NotApplicable,
    Origin,
    Passed,
    Policy,
    Report,
    RuleResult,
    Status,
)
from auditor.rules import PRACTICES, Rule
from auditor.scoring import score, status_for


def _finding(image: Image, rule: Rule, flag: Flag) -> Finding:
    origin = flag.origin
    if origin is None and flag.layer is not None:
        origin = image.origin_of_layer(flag.layer)
    if origin is None and flag.step is not None and 0 <= flag.step < len(image.history):
        origin = image.history[flag.step].origin
    layer = flag.layer
    if layer is None and flag.step is not None and 0 <= flag.step < len(image.history):
        layer = image.history[flag.step].layer
    return Finding(
        rule=rule.info.id,
        severity=flag.severity if flag.severity is not None else rule.info.severity,
        message=flag.message,
        evidence=flag.evidence,
        layer=layer,
        origin=origin or Origin.OWN,
        path=flag.path,
        size=flag.size,
    )


def check(image: Image, rule: Rule, policy: Policy) -> RuleResult:
    """One rule's result; a rule that raises is an ERROR result, never a lost one."""
    info = rule.info
    if info.id in policy.ignore:
        return RuleResult(info, Status.IGNORED, note="ignored by policy (--ignore)")
    if info.needs_content and not image.content_read:
        return RuleResult(info, Status.SKIP, note="layer contents were not read (--no-content)")
    try:
        verdicts = list(rule.check(image, policy.limits))
    except NotApplicable as skip:
        return RuleResult(info, Status.SKIP, note=skip.reason)
    except Exception as exc:
        return RuleResult(info, Status.ERROR, note=f"rule crashed: {type(exc).__name__}: {exc}")
    findings = [_finding(image, rule, v) for v in verdicts if isinstance(v, Flag)]
    own = tuple(f for f in findings if f.origin is Origin.OWN)
    base = tuple(f for f in findings if f.origin is Origin.BASE)
    passes = [v.evidence for v in verdicts if isinstance(v, Passed)]
    scored = own + (base if policy.score_base else ())
    if scored:
        return RuleResult(info, status_for(scored), own, base)
    if base:
        note = f"{len(base)} finding(s) in the base image, not scored"
        return RuleResult(info, Status.PASS, own, base, note=note)
    if passes:
        return RuleResult(info, Status.PASS, note="; ".join(passes))
    return RuleResult(info, Status.ERROR, note="rule ended without a verdict")


def run(image: Image, rules: Sequence[Rule], policy: Policy) -> ImageReport:
    results = tuple(check(image, rule, policy) for rule in rules)
    total, grade, practices, findings = score(results, PRACTICES, policy.score_base)
    return ImageReport(image, results, practices, findings, total, grade)


def policy_failures(report: Report, policy: Policy) -> tuple[str, ...]:
    """Why the report fails the policy, one reason per line; empty when it passes."""
    reasons = []
    for image in report.images:
        ref = image.image.reference
        if policy.fail_under is not None and image.score < policy.fail_under:
            reasons.append(f"{ref}: score {image.score} is under --fail-under {policy.fail_under}")
        if policy.fail_on is not None:
            over = [
                s for s in image.findings
                if s.finding.severity >= policy.fail_on
                and (s.finding.origin is Origin.OWN or policy.score_base)
            ]
            if over:
                worst = max(s.finding.severity for s in over)
                reasons.append(
                    f"{ref}: {len(over)} finding(s) at or above {policy.fail_on.label} "
                    f"(worst: {worst.label})"
                )
    return tuple(reasons)


def rule_errors(report: Report) -> tuple[str, ...]:
    return tuple(
        f"{image.image.reference}: {result.rule.id} {result.note}"
        for image in report.images
        for result in image.results
        if result.status is Status.ERROR
    )

