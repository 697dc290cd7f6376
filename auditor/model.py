"""The nouns of imgaudit: one neutral image model every source builds, and the report every
rule, scorer and format reads. Nothing here does I/O."""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {names})") from None


class Status(enum.Enum):
    PASS = "pass"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    IGNORED = "ignored"
    ERROR = "error"


# Worst first: the status a practice shows is the worst of its rules'.
STATUS_ORDER: tuple[Status, ...] = (
    Status.ERROR,
    Status.FAIL,
    Status.WARN,
    Status.INFO,
    Status.PASS,
    Status.IGNORED,
    Status.SKIP,
)


# The statuses of a rule that did not judge the image: not scored, no verdict to compare.
NOT_JUDGED: tuple[Status, ...] = (Status.SKIP, Status.IGNORED, Status.ERROR)


class Origin(enum.Enum):
    OWN = "own"
    BASE = "base"


class FileKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"


class HistoryQuality(enum.Enum):
    """How far the image's history can be trusted to explain its layers."""

    OK = "ok"
    MISSING = "missing"
    SYNTHETIC = "synthetic"
    INCONSISTENT = "inconsistent"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One tar header of a layer. Paths are relative, without a leading slash."""

    path: str
    size: int
    kind: FileKind
    mode: int
    uid: int
    gid: int
    linkname: str = ""


@dataclass(frozen=True, slots=True)
class LayerContent:
    """What one streaming pass over a layer tar learned: headers, whiteouts, a few small files."""

    entries: tuple[FileEntry, ...]
    whiteouts: tuple[str, ...] = ()
    opaque_dirs: tuple[str, ...] = ()
    captured: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    tar_size: int = 0


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One entry of the image config's history, oldest first."""

    index: int
    created_by: str
    empty_layer: bool
    created: str = ""
    comment: str = ""
    layer: int | None = None  # 1-based number of the layer this step added
    origin: Origin = Origin.OWN
    # created_by read as a Dockerfile line, whichever builder wrote it
    instruction: str = ""  # RUN, COPY, ADD, CMD, ... ("" when unreadable)
    body: str = ""  # the instruction's arguments, without builder decorations
    build_args: tuple[tuple[str, str], ...] = ()  # the `|N KEY=value` prefix of a RUN


@dataclass(frozen=True, slots=True)
class Layer:
    number: int  # 1-based, oldest first
    diff_id: str
    size: int
    origin: Origin
    history_index: int | None = None
    content: LayerContent | None = None


@dataclass(frozen=True, slots=True)
class ImageConfig:
    user: str = ""
    env: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    workdir: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class BaseBoundary:
    """Where the base image ends: layers numbered up to own_from - 1 belong to it."""

    own_from_layer: int  # first layer number of the image's own build (1 = all own)
    own_from_history: int  # first history index of the image's own build
    method: str  # "option", "local-image", "archive-image", "label", "history", "none"
    evidence: str
    base_reference: str = ""


@dataclass(frozen=True, slots=True)
class PlacedFile:
    """A path of the final filesystem and the layer that last wrote it."""

    entry: FileEntry
    layer: int


@dataclass(frozen=True, slots=True)
class Image:
    reference: str
    id: str
    config: ImageConfig
    history: tuple[HistoryStep, ...]
    layers: tuple[Layer, ...]
    boundary: BaseBoundary
    size: int
    history_quality: HistoryQuality = HistoryQuality.OK
    history_note: str = ""
    os: str = "linux"
    architecture: str = ""
    repo_tags: tuple[str, ...] = ()
    # The merged filesystem after whiteouts; None when layer contents were not read.
    files: Mapping[str, PlacedFile] | None = None
    digest: str = ""  # the manifest digest, when read from a registry
    # Layer sizes are a registry's compressed blob sizes (a metadata-only registry audit), not
    # the unpacked sizes every other source reports.
    compressed_sizes: bool = False

    @property
    def content_read(self) -> bool:
        return self.files is not None

    @property
    def own_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.origin is Origin.OWN)

    @property
    def own_size(self) -> int:
        return sum(layer.size for layer in self.own_layers)

    @property
    def own_history(self) -> tuple[HistoryStep, ...]:
        return tuple(step for step in self.history if step.origin is Origin.OWN)

    def layer(self, number: int) -> Layer:
        return self.layers[number - 1]

    def captured(self, path: str) -> bytes | None:
        """Bytes of a small file as the final filesystem holds it, if a rule asked for it."""
        if self.files is None or path not in self.files:
            return None
        content = self.layer(self.files[path].layer).content
        return None if content is None else content.captured.get(path)

    def origin_of_layer(self, number: int | None) -> Origin:
        if number is None:
            return Origin.OWN
        return self.layer(number).origin


# ----------------------------------------------------------------------------- rules and report


@dataclass(frozen=True, slots=True)
class Practice:
    id: int
    name: str
    weight: int


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    practice: int
    title: str
    severity: Severity
    rationale: str
    fix: str
    needs_content: bool = False
    files: tuple[str, ...] = ()  # small files (glob patterns) whose bytes the rule reads
    doc: str = ""
    # "security" marks a security rule (SARIF security-severity); "external/cwe/cwe-N" a CWE
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Waiver:
    """Accepts a rule's findings on matching images (and paths) for a stated reason."""

    rule: str  # a rule id, or a glob of ids (IA4*)
    reason: str
    images: str = "*"  # glob on the image reference or any of its tags
    paths: str = ""  # glob on a finding's path; "" waives every finding of the rule
    expires: datetime.date | None = None  # last day the waiver applies
    source: str = ""  # where it was declared: a policy file, or the image's label


class Novelty(enum.Enum):
    """A finding against a baseline report: not in it (a regression) or already there."""

    NEW = "new"
    KNOWN = "known"


_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")


def fingerprint(rule: str, path: str, message: str) -> str:
    """A finding's identity across rebuilds: layer numbers, sizes and counts left out."""
    what = path if path else _NUMBERS.sub("#", message)
    return f"{rule}:{what}"


class SubjectKind(enum.Enum):
    """What a finding can be about besides a history step: a value of the image config (named
    as `docker inspect` names it), or the choice of base image."""

    USER = "User"
    WORKDIR = "WorkingDir"
    CMD = "Cmd"
    ENTRYPOINT = "Entrypoint"
    EXPOSED_PORTS = "ExposedPorts"
    ENV = "Env"
    LABELS = "Labels"
    HEALTHCHECK = "Healthcheck"
    BASE_IMAGE = "BaseImage"  # the FROM line's choice, such as a heavy base


@dataclass(frozen=True, slots=True)
class Subject:
    """The config value (or the base image) a finding is about: `Subject(SubjectKind.ENV,
    "API_TOKEN")`, `Subject(SubjectKind.USER)`."""

    kind: SubjectKind
    key: str = ""  # an Env or label name, a port such as `22/tcp`; "" for the whole value


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """The Dockerfile lines behind a finding: where a person fixes it."""

    path: str  # the Dockerfile, relative to the working directory (or absolute outside it)
    start_line: int
    end_line: int
    instruction: str = ""  # the instruction's first line as written, secrets masked

    @property
    def label(self) -> str:
        """`Dockerfile:12`, or `Dockerfile:12-14` for an instruction over several lines."""
        lines = (str(self.start_line) if self.end_line == self.start_line
                 else f"{self.start_line}-{self.end_line}")
        return f"{self.path}:{lines}"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    evidence: str
    layer: int | None = None
    origin: Origin = Origin.OWN
    path: str = ""  # the first (or only) path the finding is about
    size: int | None = None
    waiver: Waiver | None = None  # set when a waiver accepts this finding: shown, not scored
    paths: tuple[str, ...] = ()  # every path a grouped finding covers (path is the first)
    step: int | None = None  # the history step it is about (a layer's: the step that made it)
    subject: Subject | None = None  # the config value (or base image) it is about
    # the Dockerfile lines that made the step or set the value, when a Dockerfile matched
    source: SourceLocation | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.path, self.message)

    @property
    def all_paths(self) -> tuple[str, ...]:
        """Every path the finding covers: `paths`, else `path` alone, else none."""
        return self.paths or ((self.path,) if self.path else ())


@dataclass(frozen=True, slots=True)
class Flag:
    """What a rule says is wrong; the runner turns it into a Finding with the rule's id.

    origin defaults to that of `layer`, else of history step `step`, else the image's own;
    `step` to the step that made `layer`. A flag about a config value names it in `subject`.
    """

    message: str
    evidence: str
    layer: int | None = None
    step: int | None = None
    severity: Severity | None = None  # None: the rule's declared severity
    origin: Origin | None = None
    path: str = ""  # the first (or only) path; set from `paths` when left empty
    size: int | None = None
    paths: tuple[str, ...] = ()  # every path a grouped flag covers
    subject: Subject | None = None  # the config value (or base image) it is about


class NotApplicable(Exception):
    """Raised by a rule that cannot judge this image; its result is SKIP with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Passed:
    """A rule's explicit verdict that it checked and found nothing wrong, with what it saw."""

    evidence: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_size: int = 400 * 1000 * 1000
    max_own_size: int = 200 * 1000 * 1000
    max_base_size: int = 250 * 1000 * 1000
    max_own_layers: int = 10
    max_consecutive_runs: int = 1
    min_cache_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    fail_under: int | None = None
    fail_on: Severity | None = None
    ignore: frozenset[str] = frozenset()  # rule ids not run (shown as ignored)
    score_base: bool = False
    limits: Limits = Limits()
    enable: frozenset[str] = frozenset()  # when set, only these rule ids run
    severities: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    weights: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    waivers: tuple[Waiver, ...] = ()
    image_waivers: bool = True  # honour an image's own io.imgaudit.waive label
    fail_on_new: bool = False  # with a baseline: gate only on findings it does not hold


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


# ----------------------------------------------------------------------------- registry sweeps


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
