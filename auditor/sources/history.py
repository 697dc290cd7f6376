"""Reads an image's history as Dockerfile steps, ties steps to layers, judges whether the history
can be trusted, and finds where the base image ends."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.model.image import BaseBoundary, HistoryQuality, HistoryStep, Origin
from auditor.redact import describe_step
from auditor.units import plural

INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)
LAYER_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s+")
_SHELL = re.compile(r"^(/bin/sh|/bin/bash|sh|bash) -c\s+")
_ARGS_PREFIX = re.compile(r"^\|(\d+)\s+")
_BUILDKIT_SUFFIX = " # buildkit"
_EPOCHS = ("1970-01-01", "0001-01-01")
_SYNTHETIC_AUTHORS = (
    (re.compile(r"(?i)\bjib\b|jib-maven|jib-gradle|jib-core"), "jib"),
    (re.compile(r"(?i)^ko$|\bko\b build|ko-build|github.com/google/ko"), "ko"),
    (re.compile(r"(?i)\bnix\b|nixpkgs|dockerTools|store paths"), "nix"),
    (re.compile(r"(?i)^merge sha256:"), "squash"),
    (re.compile(r"(?i)bazel|rules_docker|rules_oci"), "bazel"),
    (re.compile(r"(?i)apko|melange"), "apko"),
    (re.compile(r"(?i)buildpacks|lifecycle|pack build"), "buildpacks"),
)


@dataclass(frozen=True, slots=True)
class ParsedStep:
    instruction: str
    body: str
    build_args: tuple[tuple[str, str], ...]


def parse_created_by(created_by: str) -> ParsedStep:
    """A history line from the classic builder, BuildKit or a base image, as a Dockerfile step."""
    text = created_by.strip()
    if text.endswith(_BUILDKIT_SUFFIX.strip()):
        text = text[: -len(_BUILDKIT_SUFFIX.strip())].rstrip()
    if not text:
        return ParsedStep("", "", ())
    nop = _NOP.match(text)
    if nop:
        rest = text[nop.end() :]
        word, _, body = rest.partition(" ")
        if word.upper() in INSTRUCTIONS:
            return ParsedStep(word.upper(), body.strip(), ())
        return ParsedStep("", rest, ())
    instruction = ""
    word, _, remainder = text.partition(" ")
    if word in INSTRUCTIONS:
        instruction, text = word, remainder.strip()
        if instruction != "RUN":
            return ParsedStep(instruction, text, ())
    build_args: tuple[tuple[str, str], ...] = ()
    prefix = _ARGS_PREFIX.match(text)
    if prefix:
        count = int(prefix.group(1))
        tokens = text[prefix.end() :].split(" ")
        pairs = tokens[:count]
        build_args = tuple(
            (key, value) for key, _, value in (pair.partition("=") for pair in pairs)
        )
        text = " ".join(tokens[count:]).strip()
    shell = _SHELL.match(text)
    if shell:
        text = text[shell.end() :]
    return ParsedStep("RUN", text.strip(), build_args)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def make_steps(raw: Sequence[Mapping[str, Any]]) -> list[HistoryStep]:
    """Steps from config-style history entries (created_by, empty_layer, created, comment); an
    entry or a field of another JSON type than the engine writes reads as absent."""
    steps = []
    for index, item in enumerate(raw):
        fields = item if isinstance(item, Mapping) else {}
        created_by = _text(fields.get("created_by"))
        parsed = parse_created_by(created_by)
        steps.append(
            HistoryStep(
                index=index,
                created_by=created_by,
                empty_layer=fields.get("empty_layer") is True,
                created=_text(fields.get("created")),
                comment=_text(fields.get("comment")),
                instruction=parsed.instruction,
                body=parsed.body,
                build_args=parsed.build_args,
            )
        )
    return steps


def link_layers(
    steps: list[HistoryStep], layer_count: int
) -> tuple[list[HistoryStep], dict[int, int], HistoryQuality, str]:
    """Ties each non-empty step to its layer; says when the history cannot explain the layers."""
    if not steps:
        return steps, {}, HistoryQuality.MISSING, "the image has no history: steps cannot be named"
    producing = [step for step in steps if not step.empty_layer]
    if len(producing) != layer_count:
        note = (
            f"history names {len(producing)} layer-producing steps for {layer_count} layers: "
            "layers are not tied to steps"
        )
        return steps, {}, HistoryQuality.INCONSISTENT, note
    linked: list[HistoryStep] = []
    layer_to_step: dict[int, int] = {}
    number = 0
    for step in steps:
        if not step.empty_layer:
            number += 1
            layer_to_step[number] = step.index
            step = dataclasses.replace(step, layer=number)
        linked.append(step)
    synthetic = synthetic_builder(linked)
    if synthetic:
        note = f"history was written by {synthetic}, not by a Dockerfile build: steps are synthetic"
        return linked, layer_to_step, HistoryQuality.SYNTHETIC, note
    return linked, layer_to_step, HistoryQuality.OK, ""


def synthetic_builder(steps: Sequence[HistoryStep]) -> str:
    """The tool that wrote a history not made by `docker build`, when it can be told."""
    for step in steps:
        if "/bin/sh -c" in step.created_by or step.comment.startswith("buildkit."):
            continue  # a Dockerfile step, whatever its command mentions
        for pattern, name in _SYNTHETIC_AUTHORS:
            if pattern.search(step.created_by) or pattern.search(step.comment):
                return name
    if steps and all(step.created.startswith(_EPOCHS) for step in steps) and not any(
        step.instruction for step in steps
    ):
        return "a reproducible-build tool (every step dated at the epoch)"
    return ""


def heuristic_boundary(steps: Sequence[HistoryStep]) -> int | None:
    """The history index where the image's own build starts, guessed from the steps alone.

    Base images end with CMD or ENTRYPOINT; a later step that adds a layer is the child's.
    """
    last_layer = max((s.index for s in steps if not s.empty_layer), default=-1)
    candidates = [
        s.index
        for s in steps
        if s.instruction in ("CMD", "ENTRYPOINT") and s.index < last_layer
    ]
    if not candidates:
        return None
    return max(candidates) + 1


def assign_origins(
    steps: Sequence[HistoryStep], boundary: BaseBoundary
) -> tuple[HistoryStep, ...]:
    return tuple(
        dataclasses.replace(
            step,
            origin=Origin.BASE if step.index < boundary.own_from_history else Origin.OWN,
        )
        for step in steps
    )


def choose_boundary(
    steps: Sequence[HistoryStep],
    layer_to_step: Mapping[int, int],
    quality: HistoryQuality,
    labels: Mapping[str, str],
    known_base: tuple[str, int, int | None, str] | None,
) -> BaseBoundary:
    """The best evidence of where the base ends.

    known_base is (reference, base layer count, base history length or None, method) when a base
    image was found by `--base` or among local images whose layers begin this image's layers.
    """
    label_base = labels.get("org.opencontainers.image.base.name", "")
    if known_base is not None:
        reference, base_layers, base_history, method = known_base
        own_from_history = base_history
        if own_from_history is None:
            own_from_history = (
                layer_to_step[base_layers] + 1 if base_layers in layer_to_step else 0
            )
        how = {
            "option": "--base",
            "archive-image": "an image in the same archive whose layers begin this one's",
        }.get(method, "a local image whose layers begin this one's")
        return BaseBoundary(
            own_from_layer=base_layers + 1,
            own_from_history=own_from_history,
            method=method,
            evidence=f"base {reference} ({plural(base_layers, 'layer')}), found by {how}",
            base_reference=reference,
        )
    if quality is HistoryQuality.OK:
        start = heuristic_boundary(steps)
        if start is not None:
            base_layers = sum(1 for s in steps[:start] if not s.empty_layer)
            named = f" (label names {label_base})" if label_base else ""
            return BaseBoundary(
                own_from_layer=base_layers + 1,
                own_from_history=start,
                method="label" if label_base else "history",
                evidence=(
                    f"base ends at {describe_step(steps[start - 1])}, guessed from history{named}"
                ),
                base_reference=label_base,
            )
    reason = "no base image found" if quality is HistoryQuality.OK else "history cannot tell"
    return BaseBoundary(
        own_from_layer=1,
        own_from_history=0,
        method="none",
        evidence=f"{reason}: every layer is scored as the image's own",
        base_reference=label_base,
    )
