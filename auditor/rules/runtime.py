"""Practice 13, health and volumes declared: a HEALTHCHECK the runtime can act on, and no VOLUME
over the host's kernel interfaces or root."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from auditor.model.findings import Flag, Passed, Severity, Subject, SubjectKind
from auditor.model.image import HistoryStep, Image, Origin
from auditor.model.policy import Limits
from auditor.redact import describe_step, redact_argv
from auditor.rules.registry import Verdict, rule
from auditor.text import printable

HEALTH_PRACTICE = 13
_SENSITIVE = ("proc", "sys", "dev")


def _steps(image: Image, instruction: str) -> list[HistoryStep]:
    return [s for s in image.history if s.instruction == instruction]


@rule(
    "IA1301",
    practice=HEALTH_PRACTICE,
    title="No HEALTHCHECK",
    severity=Severity.LOW,
    rationale="Without a health check the engine and orchestrators see a hung process as "
    "healthy and never restart it (CIS Docker 4.6).",
    fix="Add `HEALTHCHECK CMD [\"/app/healthcheck\"]` (a probe the image ships), or "
    "`HEALTHCHECK NONE` to say the orchestrator probes it instead.",
)
def no_healthcheck(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an image whose config has no HEALTHCHECK. `HEALTHCHECK NONE` is a deliberate choice
    and passes; one inherited from the base image counts as present."""
    test = image.config.healthcheck
    if test is None:
        yield Flag("no HEALTHCHECK: a hung process looks healthy", "config.Healthcheck is unset",
                   origin=Origin.OWN, subject=Subject(SubjectKind.HEALTHCHECK))
        return
    steps = _steps(image, "HEALTHCHECK")
    who = (describe_step(steps[-1]) + (" of the base image" if steps[-1].origin is Origin.BASE
                                       else "") if steps else "the config")
    if test[0].upper() == "NONE":
        yield Passed(f"HEALTHCHECK NONE, a deliberate choice ({who})")
        return
    yield Passed(f"config.Healthcheck.Test={printable(redact_argv(test), 200)} ({who})")


def _sensitive(path: str) -> bool:
    """`/`, /proc, /sys, /dev and anything below them, however the path is spelled."""
    normal = posixpath.normpath("/" + path.strip()).lstrip("/")
    return normal in ("", ".") or normal.split("/", 1)[0] in _SENSITIVE


def _volume_step(image: Image, path: str) -> HistoryStep | None:
    """The last VOLUME step that names `path` (`VOLUME [/proc /data]`)."""
    for step in reversed(_steps(image, "VOLUME")):
        if path in step.body.strip().strip("[]").split():
            return step
    return None


@rule(
    "IA1302",
    practice=HEALTH_PRACTICE,
    title="VOLUME over /proc, /sys, /dev or /",
    severity=Severity.HIGH,
    rationale="A volume over a kernel interface or the root invites mounting the host's there, "
    "which hands the container the host.",
    fix="Declare volumes only for the app's data (`VOLUME /data`); mount what the host must share "
    "at run time, read-only and narrowly.",
    tags=("security", "external/cwe/cwe-668"),
)
def sensitive_volume(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag each config.Volumes path that is /, /proc, /sys, /dev or below them; the VOLUME step
    that declared it is named, and a base image's is shown, not scored."""
    flagged = False
    for path in image.config.volumes:
        if not _sensitive(path):
            continue
        flagged = True
        step = _volume_step(image, path)
        shown = printable(path, 200)
        yield Flag(f"VOLUME {shown} exposes a host-sensitive path",
                   f"config.Volumes holds {shown}"
                   + (f" ({describe_step(step)})" if step is not None else ""),
                   step=None if step is None else step.index,
                   origin=Origin.OWN if step is None else step.origin,
                   subject=Subject(SubjectKind.VOLUMES, path))
    if not flagged:
        volumes = ", ".join(printable(v, 80) for v in image.config.volumes[:5])
        yield Passed(f"volumes: {volumes}" if volumes else "no VOLUME is declared")
