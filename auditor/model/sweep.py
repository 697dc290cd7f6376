"""What a registry sweep records and reads back: the tags it visited, each audit's outcome
and findings, the runs."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from auditor.model.findings import Severity
from auditor.model.image import Origin
from auditor.model.report import PracticeResult


@dataclass(frozen=True, slots=True)
class SweepTarget:
    """One image a sweep audits: a repository tag and the manifest it resolved to.

    `digest` is the manifest digest the tag points at ("" when it could not be resolved: the
    failure is then kept under the tag's name); `platform` is "os/arch[/variant]" when an index
    was resolved to one of its manifests, or "" for a single-platform manifest.
    """

    registry: str  # HOST[:PORT]
    repository: str
    tag: str
    digest: str
    platform: str = ""

    @property
    def reference(self) -> str:
        name = f"{self.registry}/{self.repository}"
        return f"{name}:{self.tag}" if self.tag else f"{name}@{self.digest}"


class AuditStatus(enum.Enum):
    OK = "ok"  # audited: a score and findings
    ERROR = "error"  # could not be audited (retried by the next sweep)
    SKIPPED = "skipped"  # not a container image (a Helm chart, a signature): nothing to audit


@dataclass(frozen=True, slots=True)
class SweepFinding:
    """A finding as a sweep database keeps it: flat, with its rule's title and fix."""

    rule: str
    practice: int
    severity: Severity
    title: str
    message: str
    evidence: str
    fix: str
    points: float
    origin: Origin = Origin.OWN
    path: str = ""
    layer: int | None = None


@dataclass(frozen=True, slots=True)
class SweepAudit:
    """One audit of one manifest (digest, platform) under one rule set: a result or an error."""

    digest: str
    platform: str
    ruleset: str
    status: AuditStatus
    reference: str  # where it was read from: registry/repository:tag
    audited_at: float  # seconds since the epoch
    duration: float  # seconds
    score: int | None = None
    grade: str = ""
    size: int | None = None
    own_size: int | None = None
    layers: int | None = None
    own_layers: int | None = None
    practices: tuple[PracticeResult, ...] = ()
    findings: tuple[SweepFinding, ...] = ()
    error: str = ""  # why it could not be audited, or (skipped) what it is instead
    hint: str = ""
    report: str = ""  # the image's JSON report document (formats.json.image_document), or ""

    @property
    def ok(self) -> bool:
        return self.status is AuditStatus.OK

    @property
    def failed(self) -> bool:
        return self.status is AuditStatus.ERROR


@dataclass(frozen=True, slots=True)
class SweepTag:
    """A repository tag (on one platform) as the latest sweep saw it, and its audit."""

    registry: str
    repository: str
    tag: str
    platform: str
    digest: str
    seen_at: float
    audit: SweepAudit

    @property
    def reference(self) -> str:
        return SweepTarget(self.registry, self.repository, self.tag, self.digest).reference


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One sweep (or one shard of one) that wrote into a database."""

    database: str
    registry: str
    started: float
    finished: float | None  # None: interrupted, or still running
    shard: str = ""  # "K/N", or "" for a whole sweep
    tool_version: str = ""
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class SweepResults:
    """What one or more sweep databases hold, merged: one audit per manifest, one row per tag."""

    tags: tuple[SweepTag, ...]  # sorted by registry, repository, tag, platform
    audits: tuple[SweepAudit, ...]  # the audit each manifest (digest, platform) is shown with
    sweeps: tuple[SweepRun, ...] = ()
    databases: tuple[str, ...] = ()
