"""Sweep databases for tests, filled from real audits of the archive shipped in
fixtures/archives/ (no engine needed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from auditor import audit
from auditor.formats.json import image_document
from auditor.model.report import ImageReport
from auditor.model.sweep import SweepTarget
from auditor.pipeline import ruleset_version
from auditor.store.write import SweepStore
from tests.support.demo import ARCHIVE

REGISTRY = "registry.test:5000"
RULESET = ruleset_version()


@cache
def demo_reports() -> tuple[ImageReport, ...]:
    """The archive's three images audited: busybox-base (80), demo-good (100), demo-bad (36)."""
    report = audit([f"docker-archive:{ARCHIVE}:@{i}" for i in range(3)], use_cache=False)
    assert not report.failures, report.failures
    return report.images


def target(repository: str, tag: str, item: ImageReport | None = None, *,
           digest: str = "", platform: str = "") -> SweepTarget:
    return SweepTarget(REGISTRY, repository, tag,
                       digest or (item.image.id if item is not None else ""), platform)


def fill(path: Path) -> dict[str, ImageReport]:
    """A small sweep: three audited repositories, a second tag on one digest, two failures.
    Returns the report recorded for each tag reference."""
    base, good, bad = demo_reports()
    recorded = {}
    with SweepStore.open(path) as store:
        sweep = store.begin_sweep(REGISTRY, options={"jobs": 2})
        for repository, tag, item in (("base/busybox", "1", base), ("apps/good", "1.0", good),
                                      ("apps/bad", "latest", bad)):
            store.record_report(target(repository, tag, item), item,
                                image_document(item), RULESET, 0.25)
            recorded[target(repository, tag, item).reference] = item
        store.link_tag(target("apps/good", "stable", good))
        recorded[target("apps/good", "stable", good).reference] = good
        store.record_failure(target("apps/gone", "v1"), "manifest unknown",
                             "check the tag exists", RULESET, 0.5)
        store.record_failure(target("apps/flaky", "v2", digest="sha256:" + "f" * 64),
                             "blob download failed: connection reset", "sweep again", RULESET,
                             1.5)
        store.end_sweep(sweep)
    return recorded
