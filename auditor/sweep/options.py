"""What a sweep is asked to do (SweepOptions), what it reports as it goes (Progress) and what it
did (SweepSummary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from auditor.model.policy import Policy
from auditor.model.report import AuditFailure
from auditor.sweep.shard import Shard


@dataclass(frozen=True, slots=True)
class SweepOptions:
    repositories: tuple[str, ...] = ()  # globs on the repository name; () takes every one
    tags: tuple[str, ...] = ()  # globs on the tag; () takes every one
    newest: int | None = None  # per repository, the N tags whose image is newest (config.created)
    jobs: int = 8
    timeout: float = 300.0  # seconds one image may take before it is recorded as an error
    refresh: bool = False  # audit digests the database already holds a result for
    shard: Shard | None = None
    content: bool = True  # read layer contents (False: manifest and config only)
    platform: str | None = None  # from an index: this platform (default: this machine's)
    all_platforms: bool = False  # from an index: every platform
    page_size: int = 1000  # entries asked for per page of the catalog and of each tag list
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """What one sweep did. `images` counts manifests (a digest on a platform) this shard owns;
    every tag of them is recorded, audited or linked to the audit of another tag."""

    registry: str
    ruleset: str
    repositories: int  # repositories swept (after --repo)
    tags: int  # tags swept (after --tag and --newest), in every shard
    images: int  # unique manifests this shard owns
    audited: int  # audited now, successfully
    skipped: int  # already in the database for this rule set
    failed: int  # could not be audited (recorded; the next sweep retries them)
    not_images: int  # recorded as skipped: not container images (Helm charts, signatures...)
    linked: int  # tags recorded against another tag's audit of the same manifest
    other_shards: int  # unique manifests left to the other shards
    no_platform: int  # tags of an index without the wanted platform (not audited)
    elapsed: float
    bytes_downloaded: int
    interrupted: bool = False
    unfinished: int = 0  # audits not done when interrupted (with stage "tags": tags listed)
    stage: str = "images"  # where it ended: "tags" (listing, resolving them) or "images"
    failures: tuple[AuditFailure, ...] = ()  # the first few, for printing
    shard: str = ""

    @property
    def rate(self) -> float:
        """Manifests handled (audited, failed, skipped or found no image) per second of the whole
        sweep."""
        done = self.audited + self.failed + self.skipped + self.not_images
        return done / self.elapsed if self.elapsed > 0 else 0.0


class Progress(Protocol):
    """Where a sweep reports how far it got; the CLI draws a bar, tests count."""

    def stage(self, name: str, total: int) -> None:
        """A new stage ("tags": resolving tags, "images": auditing) with `total` steps."""

    def advance(self, failed: bool = False) -> None:
        """One step of the current stage done (failed: it ended in a recorded error)."""

    def note(self, text: str) -> None:
        """Something a person watching should know (one line, no secrets)."""


class NullProgress:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, failed: bool = False) -> None:
        pass

    def note(self, text: str) -> None:
        pass
