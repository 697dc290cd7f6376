"""Secrets (a group beside the ten practices, which the secret file and build argument checks
join): secret-looking values in Config.Env, labels and history. The key is named, the value
never shown."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from auditor.model.findings import Flag, Passed, Severity, Subject, SubjectKind
from auditor.model.image import Image, Origin
from auditor.model.policy import Limits
from auditor.redact import MASK, describe_step, looks_secret, redact, secret_value_kind
from auditor.rules.registry import Verdict, rule

# The group every secrets check belongs to: these, secret files (IA401), build arguments (IA502).
SECRETS_PRACTICE = 11


def _judge_pairs(pairs: Sequence[tuple[str, str]], field: str, origin_of: dict[str, Origin]
                 ) -> Iterator[Flag]:
    for key, value in pairs:
        kind = secret_value_kind(value)
        if not looks_secret(key, value):
            continue
        what = f"a {kind}" if kind else "a secret-looking value"
        yield Flag(
            f"{field} {key} holds {what}",
            f"config.{field}: {key}={MASK}",
            severity=Severity.CRITICAL if kind else None,
            origin=origin_of.get(key, Origin.OWN),
            subject=Subject(SubjectKind(field), key),
        )


def _set_by(image: Image, instruction: str) -> dict[str, Origin]:
    """Which build (own or base) last set each ENV or LABEL key, from the history."""
    origins: dict[str, Origin] = {}
    for step in image.history:
        if step.instruction != instruction:
            continue
        for token in step.body.replace('"', "").split():
            key = token.partition("=")[0]
            if key:
                origins[key] = step.origin
        first = step.body.split(" ", 1)[0]
        if "=" not in step.body and first:
            origins[first] = step.origin  # legacy `ENV KEY value`
    return origins


@rule(
    "IA1101",
    practice=SECRETS_PRACTICE,
    title="Secret in an environment variable",
    severity=Severity.HIGH,
    rationale="ENV values are stored in the image config and shown by `docker inspect` to "
    "anyone who can pull the image.",
    fix="Remove the ENV and pass the value at run time (`docker run -e`, an orchestrator "
    "secret); rotate the leaked value.",
    tags=("security", "external/cwe/cwe-798"),
)
def secret_in_env(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag Config.Env entries whose name or value looks secret."""
    flags = list(_judge_pairs(image.config.env, "Env", _set_by(image, "ENV")))
    yield from flags
    if not flags:
        yield Passed(f"{len(image.config.env)} environment variables, none secret-looking")


@rule(
    "IA1102",
    practice=SECRETS_PRACTICE,
    title="Secret in a label",
    severity=Severity.HIGH,
    rationale="Labels are public metadata: registries, scanners and `docker inspect` show them.",
    fix="Remove the label; keep credentials out of image metadata and rotate the leaked value.",
    tags=("security", "external/cwe/cwe-798"),
)
def secret_in_label(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag labels whose name or value looks secret."""
    pairs = tuple(image.config.labels.items())
    flags = list(_judge_pairs(pairs, "Labels", _set_by(image, "LABEL")))
    yield from flags
    if not flags:
        yield Passed(f"{len(pairs)} labels, none secret-looking")


@rule(
    "IA1103",
    practice=SECRETS_PRACTICE,
    title="Secret in a build step",
    severity=Severity.HIGH,
    rationale="Every RUN command line is kept in the image history; a token on it ships with the "
    "image even if the step deleted its files.",
    fix="Pass credentials with `RUN --mount=type=secret` and read them from the mounted file; "
    "rotate the leaked value.",
    tags=("security", "external/cwe/cwe-798"),
)
def secret_in_history(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag RUN, COPY and ADD command lines that carry a password, token or key."""
    flagged = False
    for step in image.history:
        if step.instruction in ("ENV", "LABEL", "ARG"):
            continue  # judged from the config, or as build arguments (IA502)
        if redact(step.body) == step.body:
            continue
        flagged = True
        kind = secret_value_kind(step.body)
        yield Flag(
            f"history[{step.index}] {step.instruction or 'step'} carries a secret",
            describe_step(step),
            step=step.index,
            layer=step.layer,
            severity=Severity.CRITICAL if kind else None,
        )
    if not flagged:
        yield Passed(f"{len(image.history)} history steps, none with a secret on its command line")
