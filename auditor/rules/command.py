"""Practice 10, an explicit command: CMD or ENTRYPOINT set by the image's own build, in exec
form so that signals reach the app."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model.findings import Flag, NotApplicable, Passed, Severity, Subject, SubjectKind
from auditor.model.image import HistoryQuality, Image, Origin
from auditor.model.policy import Limits
from auditor.redact import describe_step, redact_argv
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import own_steps

_SHELLS = ("/bin/sh", "sh", "/bin/bash", "bash", "/bin/ash", "ash")


def _shown(argv: tuple[str, ...]) -> str:
    """The command as written, with secret-looking arguments masked (a CMD can carry one)."""
    return redact_argv(argv)


@rule(
    "IA1001",
    practice=10,
    title="No explicit command",
    severity=Severity.HIGH,
    rationale="Without a CMD or ENTRYPOINT of its own, the image runs whatever the base runs "
    "(a shell, a REPL) and `docker run IMAGE` does not start the app.",
    fix='End the Dockerfile with `CMD ["python", "main.py"]` (or an ENTRYPOINT) for the app.',
)
def no_explicit_command(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an image with no CMD or ENTRYPOINT, or one merely inherited from the base image."""
    config = image.config
    if not config.cmd and not config.entrypoint:
        yield Flag("no CMD or ENTRYPOINT: the container has nothing to run",
                   "config.Cmd and config.Entrypoint are empty", subject=Subject(SubjectKind.CMD))
        return
    steps = own_steps(image, "CMD", "ENTRYPOINT")
    effective = config.entrypoint or config.cmd or ()
    field = "Entrypoint" if config.entrypoint else "Cmd"
    if steps:
        yield Passed(f"config.{field}={_shown(effective)} ({describe_step(steps[-1])})")
        return
    if image.history_quality is not HistoryQuality.OK or image.boundary.method == "none":
        yield Passed(f"config.{field}={_shown(effective)}; history cannot say which build set it")
        return
    yield Flag(
        f"{field} {_shown(effective)} is inherited from the base image",
        f"config.{field}={_shown(effective)}; no CMD or ENTRYPOINT in the image's own build",
        severity=Severity.MEDIUM,
        subject=Subject(SubjectKind(field)),
    )


@rule(
    "IA1002",
    practice=10,
    title="Command in shell form",
    severity=Severity.MEDIUM,
    rationale="In shell form (`CMD python main.py`) the app runs under /bin/sh -c, which does not "
    "forward SIGTERM: `docker stop` waits, then kills.",
    fix='Use exec form: `CMD ["python", "main.py"]`; if a shell is needed, end it with `exec`.',
)
def shell_form_command(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an effective ENTRYPOINT or CMD that starts with `/bin/sh -c`."""
    config = image.config
    effective = config.entrypoint or config.cmd
    if not effective:
        raise NotApplicable("no CMD or ENTRYPOINT (see IA1001)")
    field = "Entrypoint" if config.entrypoint else "Cmd"
    steps = own_steps(image, "ENTRYPOINT" if config.entrypoint else "CMD")
    if len(effective) >= 2 and effective[0] in _SHELLS and effective[1] == "-c":
        body = " ".join(effective[2:])
        if body.lstrip().startswith("exec "):
            yield Passed(f"config.{field} uses a shell that execs the app")
            return
        yield Flag(
            f"{field} runs under {effective[0]} -c: signals do not reach the app",
            f"config.{field}={_shown(effective)}",
            step=steps[-1].index if steps else None,
            origin=Origin.OWN if steps else Origin.BASE,
            subject=Subject(SubjectKind(field)),
        )
        return
    yield Passed(f"config.{field}={_shown(effective)} is in exec form")
