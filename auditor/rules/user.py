"""Practice 2, a non-root user: who the container runs as, and whether that user exists."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model.findings import Flag, NotApplicable, Passed, Severity, Subject, SubjectKind
from auditor.model.image import Image, Origin
from auditor.model.policy import Limits
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import PASSWD_FILES, accounts, own_steps, require_content, runtime_user

_USER = Subject(SubjectKind.USER)


def _user_origin(image: Image) -> tuple[Origin, int | None]:
    """Who set config.User: the image's own USER step, else the base (or nobody)."""
    steps = own_steps(image, "USER")
    if steps:
        return Origin.OWN, steps[-1].index
    if image.config.user:
        base_steps = [s for s in image.history if s.instruction == "USER"]
        return Origin.BASE, base_steps[-1].index if base_steps else None
    return Origin.OWN, None


@rule(
    "IA201",
    practice=2,
    title="Image runs as root",
    severity=Severity.HIGH,
    rationale="A UID-0 process turns a container escape into host root and can rewrite the "
    "image's own files at run time.",
    fix="Create an unprivileged user and end the Dockerfile with `USER app` (or a numeric "
    "`USER 10001`).",
    files=PASSWD_FILES,
    tags=("security", "external/cwe/cwe-250"),
)
def runs_as_root(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag images whose config sets no USER, a root USER, or a user that maps to UID 0."""
    user = runtime_user(image)
    _, step = _user_origin(image)
    if not user.text:
        yield Flag("no USER is set: the container runs as root", "config.User is empty",
                   step=step, origin=Origin.OWN, subject=_USER)
        return
    if user.uid == 0:
        how = (
            f"{user.name} has UID 0 in etc/passwd"
            if user.name not in ("root", "0")
            else "root is UID 0"
        )
        # the image's own build, whoever wrote USER root, is what leaves it running as root
        yield Flag(f"USER {user.text} runs as root", f"config.User={user.text!r}: {how}",
                   step=step, origin=Origin.OWN, subject=_USER)
        return
    if user.uid is None:
        reason = ("etc/passwd was not read" if not image.content_read
                  else "it is not in etc/passwd (see IA202)")
        yield Passed(f"config.User={user.text!r}; the name cannot be resolved to a UID: {reason}")
        return
    yield Passed(f"config.User={user.text!r} runs as UID {user.uid}")


@rule(
    "IA202",
    practice=2,
    title="USER names an account missing from the image",
    severity=Severity.HIGH,
    rationale="A named USER that is not in etc/passwd (or a group not in etc/group) stops the "
    "container at start with 'unable to find user'.",
    fix="Create the account in the image (adduser/useradd, or a line in /etc/passwd) before "
    "USER, or use a numeric UID:GID.",
    needs_content=True,
    files=PASSWD_FILES,
)
def user_missing_from_passwd(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag a named USER or group that the image's etc/passwd or etc/group does not define."""
    require_content(image)
    user = runtime_user(image)
    origin, step = _user_origin(image)
    if not user.text or user.name in ("root", "0"):
        raise NotApplicable("the image runs as root")
    missing = []
    if not user.name.isdigit():
        table = accounts(image)
        if table is None:
            missing.append(f"user {user.name!r}: the image has no etc/passwd")
        elif user.name not in table:
            missing.append(f"user {user.name!r} is not in etc/passwd")
    if user.group and not user.group.isdigit():
        groups = accounts(image, "etc/group")
        if groups is None:
            missing.append(f"group {user.group!r}: the image has no etc/group")
        elif user.group not in groups:
            missing.append(f"group {user.group!r} is not in etc/group")
    if missing:
        yield Flag(f"USER {user.text} cannot be resolved: the container will not start",
                   "; ".join(missing), step=step, origin=origin, subject=_USER)
        return
    yield Passed(f"config.User={user.text!r} resolves in the image")
