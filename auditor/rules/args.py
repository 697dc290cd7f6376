"""Practice 5, ARG for the user name: a user created from a build argument earns credit. And, in
the secrets group: a build argument that carries a secret is persisted in history for anyone to
read."""

from __future__ import annotations

import re
from collections.abc import Iterator

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import Image
from auditor.model.policy import Limits
from auditor.redact import MASK, describe_step, looks_secret, secret_value_kind
from auditor.rules.registry import Verdict, rule
from auditor.rules.secrets import SECRETS_PRACTICE
from auditor.rules.support import own_steps

_CREATES_USER = re.compile(r"\b(adduser|useradd)\b|>>\s*/etc/passwd\b")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def declared_args(image: Image) -> dict[str, str]:
    """Build arguments the history shows, from ARG steps and RUN `|N KEY=value` prefixes."""
    found: dict[str, str] = {}
    for step in image.history:
        if step.instruction == "ARG":
            for token in step.body.split():
                key, _, value = token.partition("=")
                found.setdefault(key, value)
        for key, value in step.build_args:
            found[key] = value
    return found


@rule(
    "IA501",
    practice=5,
    title="User name hard-coded instead of a build argument",
    severity=Severity.LOW,
    rationale="An ARG for the user name (`ARG USER_NAME=app`) lets one Dockerfile build for "
    "different environments without edits.",
    fix="Declare `ARG USER_NAME=app`, create the user with `$USER_NAME` and end with "
    "`USER $USER_NAME`.",
)
def user_name_hardcoded(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Credit a user created from a build argument; flag one created with a literal name."""
    creating = [s for s in own_steps(image, "RUN") if _CREATES_USER.search(s.body)]
    if not creating:
        raise NotApplicable("the image's own build creates no user")
    args = declared_args(image)
    for step in creating:
        used = [v for v in _VARIABLE.findall(step.body) if v in args or v in dict(step.build_args)]
        if used:
            value = dict(step.build_args).get(used[0], args.get(used[0], ""))
            shown = f"{used[0]}={value}" if value and not looks_secret(used[0], value) else used[0]
            yield Passed(f"{describe_step(step)} creates the user from build argument {shown}")
            return
    step = creating[-1]
    yield Flag("the user is created with a hard-coded name", describe_step(step),
               step=step.index, layer=step.layer)


@rule(
    "IA502",
    practice=SECRETS_PRACTICE,
    title="Secret passed as a build argument",
    severity=Severity.HIGH,
    rationale="Build arguments are written into the image history (`docker history`) in clear "
    "text; a token passed with --build-arg ships with the image.",
    fix="Use `RUN --mount=type=secret,id=...` (BuildKit) or a multi-stage build whose final "
    "stage never sees the secret; rotate the leaked value.",
    tags=("security", "external/cwe/cwe-798"),
)
def secret_in_build_arg(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag build arguments whose name or value looks secret, in ARG steps and RUN prefixes."""
    seen: set[tuple[str, int]] = set()
    names: set[str] = set()
    flagged = False
    for step in image.history:
        pairs = list(step.build_args)
        if step.instruction == "ARG":
            for token in step.body.split():
                key, sep, value = token.partition("=")
                if sep:
                    pairs.append((key, value))
        for key, value in pairs:
            names.add(key)
            kind = secret_value_kind(value)
            if not looks_secret(key, value):
                continue
            if (key, step.index) in seen:
                continue
            seen.add((key, step.index))
            flagged = True
            what = f"a {kind}" if kind else "a secret-looking value"
            yield Flag(
                f"build argument {key} carries {what}, persisted in history",
                f"history[{step.index}]: {key}={MASK}",
                step=step.index,
                severity=Severity.CRITICAL if kind else None,
            )
    if not flagged:
        listed = ", ".join(sorted(names)) if names else "none"
        yield Passed(f"no build argument carries a secret (seen: {listed})")
