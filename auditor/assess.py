"""Runs the selected rules on one Image, once each, and scores the results into a report;
judges a report against a policy. No I/O."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from auditor import waivers as waiving
from auditor.compare import counts
from auditor.dockerfile import DockerfileMapping, locate
from auditor.model.findings import Finding, Flag, NotApplicable, Passed, Severity, Status, Waiver
from auditor.model.image import Image, Origin
from auditor.model.policy import Policy
from auditor.model.report import ImageReport, Novelty, Report, RuleResult
from auditor.rules import PRACTICES, Rule
from auditor.scoring import score, status_for
from auditor.units import plural


def _finding(image: Image, rule: Rule, flag: Flag, policy: Policy,
             mapping: DockerfileMapping | None) -> Finding:
    origin = flag.origin
    if origin is None and flag.layer is not None:
        origin = image.origin_of_layer(flag.layer)
    if origin is None and flag.step is not None and 0 <= flag.step < len(image.history):
        origin = image.history[flag.step].origin
    layer = flag.layer
    if layer is None and flag.step is not None and 0 <= flag.step < len(image.history):
        layer = image.history[flag.step].layer
    step = flag.step
    if step is None and flag.layer is not None and 0 < flag.layer <= len(image.layers):
        step = image.layer(flag.layer).history_index  # a layer's finding is its step's
    severity = flag.severity if flag.severity is not None else rule.info.severity
    paths = flag.paths or ((flag.path,) if flag.path else ())
    origin = origin or Origin.OWN
    return Finding(
        rule=rule.info.id,
        severity=policy.severities.get(rule.info.id, severity),
        message=flag.message,
        evidence=flag.evidence,
        layer=layer,
        origin=origin,
        path=flag.path or (paths[0] if paths else ""),
        size=flag.size,
        paths=paths,
        step=step,
        subject=flag.subject,
        source=None if mapping is None else locate(mapping, origin, step, flag.subject),
    )


def check(
    image: Image, rule: Rule, policy: Policy, waivers: Sequence[Waiver] = (),
    mapping: DockerfileMapping | None = None,
) -> RuleResult:
    """One rule's result; a rule that raises is an ERROR result, never a lost one. Findings a
    waiver accepts are kept, marked with it, and not scored. With the mapping of a Dockerfile
    that matched the image, each finding carries the lines it is about."""
    info = rule.info
    if info.id in policy.severities:
        info = dataclasses.replace(info, severity=policy.severities[info.id])
    if info.id in policy.ignore:
        return RuleResult(info, Status.IGNORED, note="ignored by policy")
    if info.needs_content and not image.content_read:
        return RuleResult(info, Status.SKIP, note="layer contents were not read (--no-content)")
    try:
        verdicts = list(rule.check(image, policy.limits))
    except NotApplicable as skip:
        return RuleResult(info, Status.SKIP, note=skip.reason)
    except Exception as exc:
        return RuleResult(info, Status.ERROR, note=f"rule crashed: {type(exc).__name__}: {exc}")
    findings = []
    waived = []
    for verdict in verdicts:
        if not isinstance(verdict, Flag):
            continue
        finding = _finding(image, rule, verdict, policy, mapping)
        waiver = waiving.waiver_for(finding, waivers)
        if waiver is None:
            findings.append(finding)
        else:
            waived.append(dataclasses.replace(finding, waiver=waiver))
    own = tuple(f for f in findings if f.origin is Origin.OWN)
    base = tuple(f for f in findings if f.origin is Origin.BASE)
    passes = [v.evidence for v in verdicts if isinstance(v, Passed)]
    scored = own + (base if policy.score_base else ())
    accepted = tuple(waived)
    waived_note = f"{plural(len(accepted), 'finding')} waived" if accepted else ""
    if scored:
        return RuleResult(info, status_for(scored), own, base, note=waived_note, waived=accepted)
    if accepted:
        reasons = dict.fromkeys(
            f"{f.waiver.reason} ({f.waiver.source or 'policy'})" for f in accepted if f.waiver
        )
        note = "waived: " + "; ".join(reasons)
        return RuleResult(info, Status.IGNORED, own, base, note=note, waived=accepted)
    if base:
        note = f"{plural(len(base), 'finding')} in the base image, not scored"
        return RuleResult(info, Status.PASS, own, base, note=note)
    if passes:
        return RuleResult(info, Status.PASS, note="; ".join(passes))
    return RuleResult(info, Status.ERROR, note="rule ended without a verdict")


def run(
    image: Image,
    rules: Sequence[Rule],
    policy: Policy,
    today: datetime.date | None = None,
    mapping: DockerfileMapping | None = None,
) -> ImageReport:
    """The image's report: each rule run once, the results scored; with the mapping of a
    Dockerfile that matched the image, findings located on its lines."""
    active, notices = waiving.applicable(
        image,
        policy.waivers,
        policy.image_waivers,
        (r.info.id for r in rules),
        today or datetime.date.today(),
    )
    results = tuple(check(image, rule, policy, active, mapping) for rule in rules)
    used = [f.waiver for r in results for f in r.waived if f.waiver is not None]
    notices += waiving.unused(active, used)
    practices = [
        dataclasses.replace(p, weight=policy.weights.get(p.id, p.weight)) for p in PRACTICES
    ]
    total, grade, practice_results, findings, cap = score(results, practices, policy.score_base)
    return ImageReport(image, results, practice_results, findings, total, grade, notices=notices,
                       cap=cap)


def policy_failures(report: Report, policy: Policy) -> tuple[str, ...]:
    """Why the report fails the policy, one reason per line; empty when it passes.

    With policy.fail_on_new only regressions against the baseline fail: findings not in it (at
    or above fail_on, else low or worse), and a score under fail_under only when it is also lower
    than the baseline's. An image the baseline does not hold is all new.
    """
    reasons = []
    for image in report.images:
        ref = image.image.reference
        old = image.baseline if policy.fail_on_new else None
        if policy.fail_under is not None and image.score < policy.fail_under:
            if old is None:
                reasons.append(
                    f"{ref}: score {image.score} is under fail-under {policy.fail_under}"
                )
            elif image.score < old.score:
                reasons.append(
                    f"{ref}: score {image.score} is under fail-under {policy.fail_under} "
                    f"and below the baseline's {old.score}"
                )
        if policy.fail_on_new:
            threshold = policy.fail_on if policy.fail_on is not None else Severity.LOW
            over = [
                s for s in image.findings
                if counts(s) and s.novelty is not Novelty.KNOWN
                and s.finding.severity >= threshold
            ]
            what = "new finding"
        elif policy.fail_on is not None:
            threshold = policy.fail_on
            over = [
                s for s in image.findings
                if s.finding.severity >= policy.fail_on
                and s.finding.waiver is None
                and (s.finding.origin is Origin.OWN or policy.score_base)
            ]
            what = "finding"
        else:
            continue
        if over:
            worst = max(s.finding.severity for s in over)
            reasons.append(
                f"{ref}: {plural(len(over), what)} at or above {threshold.label} "
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

