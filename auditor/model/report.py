"""What an audit reports: each rule's result, each practice's, the scored findings, the
image's score and grade, baselines and diffs between two reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from auditor.model.findings import Finding, Practice, RuleInfo, Status
from auditor.model.image import Image


class Novelty(enum.Enum):
    """A finding against a baseline report: not in it (a regression) or already there."""

    NEW = "new"
    KNOWN = "known"


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: RuleInfo
    status: Status
    findings: tuple[Finding, ...] = ()  # findings of the image's own build (scored)
    base_findings: tuple[Finding, ...] = ()  # findings the base image brought (shown, not scored)
    note: str = ""  # pass evidence, skip or ignore reason, or error message
    waived: tuple[Finding, ...] = ()  # findings a waiver accepted (each names it): not scored


@dataclass(frozen=True, slots=True)
class PracticeResult:
    practice: Practice
    status: Status
    findings: int
    points_lost: float


@dataclass(frozen=True, slots=True)
class ScoreCap:
    """Critical findings of the image's own hold its score under the pass line, as a TLS grade
    is capped by one critical flaw: the most the image may score, and what put the cap there."""

    limit: int  # the highest score the image may have
    uncapped: int  # the score the practices' points alone give
    rules: tuple[str, ...]  # the rules with a scored critical finding, in report order
    findings: int  # how many scored critical findings there are

    @property
    def points(self) -> int:
        """The points the cap took beyond the findings' own (0 when already under it)."""
        return max(0, self.uncapped - self.limit)


@dataclass(frozen=True, slots=True)
class ScoredFinding:
    finding: Finding
    rule: RuleInfo
    points: float  # points this finding cost the score (0 for base findings unless scored)
    novelty: Novelty | None = None  # against a baseline report, when one was given


@dataclass(frozen=True, slots=True)
class BaselineImage:
    """What a previous report said about one image: enough to compare a new build with."""

    reference: str
    score: int
    size: int
    layers: int
    fingerprints: tuple[str, ...]  # one per scored finding (repeats kept)
    id: str = ""
    repo_tags: tuple[str, ...] = ()
    platform: str = ""  # os/arch[/variant], "" when the report did not say


@dataclass(frozen=True, slots=True)
class Baseline:
    source: str  # the report file it was read from
    images: tuple[BaselineImage, ...]


@dataclass(frozen=True, slots=True)
class DockerfileMatch:
    """What came of locating an image's findings on a Dockerfile: its lines were used, or (a
    Dockerfile named with --dockerfile) they were not, and why."""

    path: str  # as findings name it: relative to the working directory, or absolute
    reason: str = ""  # why it does not match the image's history; "" when it does
    detected: bool = False  # found in the working directory rather than named
    root: str = ""  # the absolute folder a relative path starts from ("" when unknown)

    @property
    def matched(self) -> bool:
        return not self.reason


@dataclass(frozen=True, slots=True)
class ImageReport:
    image: Image
    results: tuple[RuleResult, ...]
    practices: tuple[PracticeResult, ...]
    findings: tuple[ScoredFinding, ...]
    score: int
    grade: str
    notices: tuple[str, ...] = ()  # what a reader should know: expired or unused waivers, ...
    baseline: BaselineImage | None = None  # the previous report's image this one is compared to
    resolved: tuple[str, ...] = ()  # baseline fingerprints no finding matches any more
    dockerfile: DockerfileMatch | None = None  # the Dockerfile findings were located on, if any
    cap: ScoreCap | None = None  # set when a scored critical finding caps the score


@dataclass(frozen=True, slots=True)
class PracticeChange:
    practice: Practice
    old: Status
    new: Status

    @property
    def changed(self) -> bool:
        return self.old is not self.new


@dataclass(frozen=True, slots=True)
class ImageDiff:
    """Two audits side by side: what changed from an old image to a new one."""

    old: ImageReport
    new: ImageReport  # compared with the old: its findings carry their novelty
    practices: tuple[PracticeChange, ...]
    added: tuple[ScoredFinding, ...]  # the new image's findings the old one did not have
    removed: tuple[ScoredFinding, ...]  # the old image's findings the new one no longer has

    @property
    def score_change(self) -> int:
        return self.new.score - self.old.score


@dataclass(frozen=True, slots=True)
class AuditFailure:
    """An image that could not be audited, and why, in one line."""

    reference: str
    message: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    images: tuple[ImageReport, ...]
    failures: tuple[AuditFailure, ...] = ()
    tool_version: str = ""
