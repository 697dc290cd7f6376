"""What a sweep records and counts: each audit, skip (no image), failure and linked tag goes into
the store at once, and into the counts and the first few failures its summary shows."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from auditor.formats.json import image_document
from auditor.model.report import AuditFailure, ImageReport
from auditor.model.sweep import SweepTarget
from auditor.store.write import SweepStore
from auditor.text import printable

# The most failures a summary keeps for printing; every one is in the database.
_SHOWN_FAILURES = 20


def internal_error(exc: Exception) -> tuple[str, str]:
    """A bug's one-line record (its text may quote what the registry sent), and its hint."""
    return (printable(f"internal error: {type(exc).__name__}: {exc}", 300),
            "this is a bug in imgaudit; please report it")


class Ledger:
    """The store a sweep writes to, and its counts. Every method may be called from any
    thread."""

    def __init__(self, store: SweepStore, registry: str, ruleset: str) -> None:
        self.store = store
        self.registry = registry
        self.ruleset = ruleset
        self.failures: list[AuditFailure] = []
        self.counts = {"audited": 0, "failed": 0, "skipped": 0, "linked": 0, "not_images": 0}
        self._lock = threading.Lock()

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.counts[name] += by

    def audited(self, target: SweepTarget, item: ImageReport, duration: float) -> None:
        self.store.record_report(target, item, image_document(item), self.ruleset, duration)
        self.count("audited")

    def not_image(self, target: SweepTarget, message: str, hint: str, duration: float) -> None:
        """An artifact (a Helm chart, a signature...): recorded as such, and not a failure."""
        self.store.record_skipped(target, message, hint, self.ruleset, duration)
        self.count("not_images")

    def failure(self, target: SweepTarget, message: str, hint: str, duration: float) -> None:
        self.store.record_failure(target, message, hint, self.ruleset, duration)
        self._failed(AuditFailure(target.reference, message, hint))

    def failed_listing(self, repository: str, failure: AuditFailure) -> None:
        """A repository whose tags cannot be listed: counted and shown, not stored (there is no
        tag to store it under); the next sweep lists it again."""
        self._failed(AuditFailure(f"{self.registry}/{repository}", failure.message,
                                  failure.hint))

    def link(self, targets: Sequence[SweepTarget]) -> None:
        """Tags recorded against the audit of another tag of the same manifest."""
        self.store.link_tags(targets)
        self.count("linked", len(targets))

    def _failed(self, failure: AuditFailure) -> None:
        """Counted; the first few kept for the summary."""
        with self._lock:
            self.counts["failed"] += 1
            if len(self.failures) < _SHOWN_FAILURES:
                self.failures.append(failure)
