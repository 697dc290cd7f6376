"""Compares audits: each image of a report against its image in a baseline (findings new or
known, what was resolved), and two images side by side. Pure: no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from auditor import naming
from auditor.model.findings import NOT_JUDGED, Severity
from auditor.model.image import Origin
from auditor.model.report import (
    Baseline,
    BaselineImage,
    ImageDiff,
    ImageReport,
    Novelty,
    PracticeChange,
    ScoredFinding,
)
from auditor.units import plural

# A rule with one of these statuses did not judge the image: its baseline findings are neither
# resolved nor removed (the rule was skipped by --no-content, ignored, waived, or crashed).


def counts(scored: ScoredFinding) -> bool:
    """Whether a finding is one a baseline records and a regression gate weighs: not waived,
    above info, and scored (the image's own, or the base image's when the base is scored)."""
    finding = scored.finding
    return (
        finding.waiver is None
        and finding.severity > Severity.INFO
        and (scored.points > 0 or finding.origin is Origin.OWN)
    )


def snapshot(item: ImageReport) -> BaselineImage:
    """What a later build is compared with: the image's score, size, layers and findings."""
    image = item.image
    return BaselineImage(
        reference=image.reference,
        score=item.score,
        size=image.size,
        layers=len(image.layers),
        fingerprints=tuple(s.finding.fingerprint for s in item.findings if counts(s)),
        id=image.id,
        repo_tags=image.repo_tags,
        platform=naming.platform(image),
    )


# ----------------------------------------------------------------------------- pairing


def _platform(old: BaselineImage) -> str:
    return old.platform or naming.platform_suffix(old.reference)


def pair(items: Sequence[ImageReport], baseline: Baseline) -> tuple[BaselineImage | None, ...]:
    """The baseline image each report image is compared with, one-to-one, in three passes:
    the same image (reference, a shared repository tag, or image ID); else, when both reports
    hold exactly one image, those two (app:build-41 then app:build-42); else the same repository
    whatever the tag. Only images of the same platform pair (an --all-platforms audit's arm64
    image with the baseline's arm64 one). An image with no partner gets None."""
    chosen: list[BaselineImage | None] = [None] * len(items)
    free = list(baseline.images)
    names = [naming.references(i.image.reference, i.image.repo_tags) for i in items]
    platforms = [naming.platform(i.image) or naming.platform_suffix(i.image.reference)
                 for i in items]

    def take(index: int, old: BaselineImage) -> None:
        chosen[index] = old
        free.remove(old)

    def fits(index: int, old: BaselineImage) -> bool:
        return naming.same_platform(platforms[index], _platform(old))

    for index, item in enumerate(items):
        same = next((old for old in free if fits(index, old) and (
            names[index] & naming.references(old.reference, old.repo_tags)
            or (item.image.id and old.id == item.image.id))), None)
        if same is not None:
            take(index, same)
    if (len(items) == 1 and len(baseline.images) == 1 and chosen[0] is None
            and fits(0, baseline.images[0])):
        take(0, baseline.images[0])
    for index, item in enumerate(items):
        repos = naming.repositories(item.image.reference, item.image.repo_tags)
        if chosen[index] is None and repos:
            kin = next((old for old in free if fits(index, old)
                        and repos & naming.repositories(old.reference, old.repo_tags)), None)
            if kin is not None:
                take(index, kin)
    return tuple(chosen)


# ----------------------------------------------------------------------------- classification


def _match(item: ImageReport, previous: Sequence[str]) -> tuple[list[Novelty | None], list[int]]:
    """Multiset matching of the image's findings against earlier fingerprints: the novelty of
    each finding (None for one that does not count), and the indices of earlier fingerprints
    resolved. A fingerprint held twice before and three times now is known twice and new once.
    An earlier fingerprint still present in a finding that does not count (now waived, now in
    the base image, now info) is not resolved, nor is one whose rule did not judge the image."""
    left: dict[str, list[int]] = {}
    for index, print_ in enumerate(previous):
        left.setdefault(print_, []).append(index)
    novelties: list[Novelty | None] = []
    for scored in item.findings:
        if not counts(scored):
            novelties.append(None)
            continue
        waiting = left.get(scored.finding.fingerprint)
        novelties.append(Novelty.KNOWN if waiting else Novelty.NEW)
        if waiting:
            waiting.pop(0)
    for scored in item.findings:
        waiting = left.get(scored.finding.fingerprint)
        if not counts(scored) and waiting:
            waiting.pop(0)
    judged = {r.rule.id for r in item.results if r.status not in NOT_JUDGED}
    resolved = sorted(
        index for print_, indices in left.items() for index in indices
        if print_.split(":", 1)[0] in judged
    )
    return novelties, resolved


def compare_image(item: ImageReport, old: BaselineImage | None, source: str) -> ImageReport:
    """The image report with each counted finding marked new or known against `old`, `old` as
    its baseline, and the baseline fingerprints it no longer has; with no `old`, a notice."""
    if old is None:
        notice = (f"no image in the baseline {source} matches {item.image.reference}: "
                  "findings are not marked new or known")
        return dataclasses.replace(item, notices=(*item.notices, notice))
    return _compared(item, old, *_match(item, old.fingerprints))


def _compared(
    item: ImageReport, old: BaselineImage, novelties: Sequence[Novelty | None],
    resolved: Sequence[int],
) -> ImageReport:
    findings = tuple(
        dataclasses.replace(scored, novelty=novelty)
        for scored, novelty in zip(item.findings, novelties, strict=True)
    )
    return dataclasses.replace(
        item,
        findings=findings,
        baseline=old,
        resolved=tuple(old.fingerprints[index] for index in resolved),
    )


def compare(items: Sequence[ImageReport], baseline: Baseline) -> tuple[ImageReport, ...]:
    """Every image compared with its partner in the baseline (see `pair`)."""
    return tuple(
        compare_image(item, old, baseline.source)
        for item, old in zip(items, pair(items, baseline), strict=True)
    )


def new_findings(item: ImageReport) -> tuple[ScoredFinding, ...]:
    return tuple(s for s in item.findings if s.novelty is Novelty.NEW)


# ----------------------------------------------------------------------------- two images


def diff(old: ImageReport, new: ImageReport) -> ImageDiff:
    """Two audits side by side: per-practice status, findings added and removed."""
    before_image = snapshot(old)
    novelties, resolved = _match(new, before_image.fingerprints)
    compared = _compared(new, before_image, novelties, resolved)
    counted = [s for s in old.findings if counts(s)]  # in the order of the fingerprints
    before = {p.practice.id: p for p in old.practices}
    practices = tuple(
        PracticeChange(p.practice, before[p.practice.id].status, p.status)
        for p in new.practices if p.practice.id in before
    )
    return ImageDiff(
        old=old,
        new=compared,
        practices=practices,
        added=new_findings(compared),
        removed=tuple(counted[index] for index in resolved),
    )


def diff_failures(
    change: ImageDiff, fail_on: Severity | None, max_score_drop: int | None
) -> tuple[str, ...]:
    """Why the new image is a regression under the given gates, one reason per line."""
    reasons = []
    ref = change.new.image.reference
    if fail_on is not None:
        over = [s for s in change.added if s.finding.severity >= fail_on]
        if over:
            worst = max(s.finding.severity for s in over)
            reasons.append(f"{ref}: {plural(len(over), 'added finding')} at or above "
                           f"{fail_on.label} (worst: {worst.label})")
    if max_score_drop is not None and -change.score_change > max_score_drop:
        reasons.append(f"{ref}: score dropped by {-change.score_change} "
                       f"({change.old.score} -> {change.new.score}), "
                       f"more than --max-score-drop {max_score_drop}")
    return tuple(reasons)
