"""Practice 6, a working directory: set by the image's own build, absolute, and not `/`."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model.findings import Flag, Passed, Severity, Subject, SubjectKind
from auditor.model.image import Image
from auditor.model.policy import Limits
from auditor.redact import describe_step
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import own_steps

_WORKDIR = Subject(SubjectKind.WORKDIR)


@rule(
    "IA601",
    practice=6,
    title="No working directory set",
    severity=Severity.MEDIUM,
    rationale="Without WORKDIR, files land in / and commands run there; relative paths in COPY "
    "and CMD become guesses.",
    fix="Add `WORKDIR /app` (an absolute path of the app's own) before COPY and CMD.",
)
def workdir_not_set(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an empty, relative or `/` WORKDIR; note one inherited from the base only."""
    workdir = image.config.workdir
    steps = own_steps(image, "WORKDIR")
    step = steps[-1].index if steps else None
    anywhere = any(s.instruction == "WORKDIR" for s in image.history)
    if not workdir or (workdir == "/" and not anywhere):
        yield Flag("no WORKDIR: the app runs in /", f"config.WorkingDir={workdir!r}; no WORKDIR "
                   "step in the history", subject=_WORKDIR)
    elif not workdir.startswith("/"):
        yield Flag(f"WORKDIR {workdir} is not absolute", f"config.WorkingDir={workdir!r}",
                   step=step, subject=_WORKDIR)
    elif workdir.rstrip("/") == "":
        yield Flag("WORKDIR is /: the app shares the root folder", "config.WorkingDir='/'",
                   step=step, severity=Severity.LOW, subject=_WORKDIR)
    elif not steps and image.history:
        yield Flag(f"WORKDIR {workdir} is inherited from the base image",
                   f"config.WorkingDir={workdir!r}; no WORKDIR step in the image's own build",
                   severity=Severity.INFO, subject=_WORKDIR)
    else:
        where = f" ({describe_step(image.history[step])})" if step is not None else ""
        yield Passed(f"config.WorkingDir={workdir!r}{where}")
