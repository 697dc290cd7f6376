"""A report that holds every status, made by the real runner: waivers (one expired, one unused),
an ignored rule, a severity override to info, a crashing rule, base-image findings, a baseline
comparison and an image that could not be audited."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator

from auditor import assess
from auditor.model.findings import Flag, Severity, Waiver
from auditor.model.image import Image
from auditor.model.policy import Limits, Policy
from auditor.model.report import AuditFailure, BaselineImage, ImageReport, Novelty, Report
from auditor.rules import ALL_RULES
from auditor.rules.registry import Verdict, rule
from tests.support.factory import ImageSpec, bad, base_steps, build, file, run

TODAY = datetime.date(2026, 11, 29)
# The value bad() puts in Env API_TOKEN: no format may ever show it.
SECRET = "abcdef123456"
WAIVER_REASON = "legacy app | runs as root until <OPS-12> `migration`"


@rule("IA799", practice=7, title="Crashes on purpose", severity=Severity.HIGH,
      rationale="A test rule.", fix="None.")
def crashes(image: Image, limits: Limits) -> Iterator[Verdict]:
    raise RuntimeError("boom & bust <here>")
    yield Flag("never", "never")


RULES = (*ALL_RULES, crashes)
POLICY = Policy(
    ignore=frozenset({"IA302"}),
    severities={"IA1002": Severity.INFO},
    waivers=(
        Waiver(rule="IA201", reason=WAIVER_REASON, source=".imgaudit.toml",
               expires=datetime.date(2027, 1, 31)),
        Waiver(rule="IA402", reason="vendored checkout", paths="myapp/.git*"),
        Waiver(rule="IA601", reason="ended", expires=datetime.date(2026, 1, 1)),
        Waiver(rule="IA101", reason="never matches", paths="nowhere/*"),
    ),
)


def with_baseline(item: ImageReport) -> ImageReport:
    """As the baseline code leaves a report: novelty on each finding, deltas, resolved ones."""
    findings = tuple(
        dataclasses.replace(s, novelty=Novelty.NEW if n % 2 == 0 else Novelty.KNOWN)
        for n, s in enumerate(item.findings)
    )
    baseline = BaselineImage(reference="app:0", score=item.score + 7,
                             size=item.image.size - 1_500_000, layers=len(item.image.layers) - 1,
                             fingerprints=tuple(s.finding.fingerprint for s in findings[1::2]))
    return dataclasses.replace(item, findings=findings, baseline=baseline,
                               resolved=("IA403:myapp/Dockerfile.old",))


def based() -> ImageSpec:
    """An image whose base brought a build toolchain (a base-image finding) and runs as root."""
    return ImageSpec(base=(run("apk add gcc", file("usr/bin/gcc")), *base_steps())
                     ).configured(User="root").tagged("based:2")


def every_status() -> Report:
    first = assess.run(build(bad(), reference="app:1"), RULES, POLICY, today=TODAY)
    second = assess.run(build(based(), reference="based:2"), ALL_RULES, Policy(), today=TODAY)
    failure = AuditFailure("nosuch:1", "no image nosuch:1 in the engine",
                           "build or pull it first")
    return Report((with_baseline(first), second), (failure,), "1.0.0")
