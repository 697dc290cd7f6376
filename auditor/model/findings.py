"""What rules say: severities, statuses, practices and rules' declarations, the flags a rule
raises and the findings they become, where a finding points, and waivers that accept one."""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass

from auditor.model.image import Origin


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
    VOLUMES = "Volumes"
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
