"""Practice 7, exposed ports: documented, bindable by the runtime user, and no SSH."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model.findings import Flag, NotApplicable, Passed, Severity, Subject, SubjectKind
from auditor.model.image import Image
from auditor.model.policy import Limits
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import PASSWD_FILES, own_steps, runtime_user


def _port(spec: str) -> int | None:
    number = spec.split("/", 1)[0]
    return int(number) if number.isdigit() else None


def _expose_step(image: Image) -> int | None:
    steps = own_steps(image, "EXPOSE")
    return steps[-1].index if steps else None


@rule(
    "IA701",
    practice=7,
    title="No port exposed",
    severity=Severity.LOW,
    rationale="EXPOSE documents where the app listens, for people and for tools that wire "
    "networking (`docker run -P`, compose, platforms).",
    fix="Add `EXPOSE 8000` (the port the app listens on).",
)
def no_exposed_port(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an image that exposes no port."""
    ports = image.config.exposed_ports
    if not ports:
        yield Flag("no port is exposed", "config.ExposedPorts is empty",
                   subject=Subject(SubjectKind.EXPOSED_PORTS))
        return
    yield Passed("exposes " + ", ".join(ports))


@rule(
    "IA702",
    practice=7,
    title="Privileged port with a non-root user",
    severity=Severity.MEDIUM,
    rationale="A non-root process cannot bind a port below 1024 without CAP_NET_BIND_SERVICE; "
    "the app fails at start or someone reverts to root.",
    fix="Listen on a port of 1024 or above (for example 8080) and map it at run time.",
    files=PASSWD_FILES,
)
def privileged_port_as_non_root(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag ports below 1024 exposed by an image that runs as a non-root user."""
    ports = [p for p in image.config.exposed_ports if (_port(p) or 0) > 0]
    if not ports:
        raise NotApplicable("no port is exposed")
    user = runtime_user(image)
    if user.uid == 0:
        raise NotApplicable("the image runs as root (see IA201)")
    low = [p for p in ports if (_port(p) or 1024) < 1024]
    if low:
        yield Flag(
            f"user {user.text} cannot bind {', '.join(low)}",
            f"config.ExposedPorts={', '.join(ports)}; config.User={user.text!r}",
            step=_expose_step(image),
            subject=Subject(SubjectKind.EXPOSED_PORTS, low[0]),
        )
        return
    yield Passed(f"{', '.join(ports)} can be bound by user {user.text}")


@rule(
    "IA703",
    practice=7,
    title="SSH port exposed",
    severity=Severity.MEDIUM,
    rationale="An SSH server in a container is a second, long-lived way in; `docker exec` does "
    "the job without one.",
    fix="Remove sshd and `EXPOSE 22`; use `docker exec` or `kubectl exec` to get a shell.",
    tags=("security",),
)
def ssh_port_exposed(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag port 22 among the exposed ports."""
    if not image.config.exposed_ports:
        raise NotApplicable("no port is exposed")
    ssh = next((p for p in image.config.exposed_ports if _port(p) == 22), None)
    if ssh is not None:
        yield Flag("port 22 (SSH) is exposed", "config.ExposedPorts includes 22/tcp",
                   step=_expose_step(image), subject=Subject(SubjectKind.EXPOSED_PORTS, ssh))
        return
    yield Passed("port 22 is not exposed")
