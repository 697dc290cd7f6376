"""Builds the one neutral Image from what any source read: config, history, layers, contents."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from auditor.model.image import HistoryStep, Image, ImageConfig, Layer, LayerContent, Origin
from auditor.sources.history import assign_origins, choose_boundary, link_layers, make_steps
from auditor.sources.layers import content_size, merge

# Bounds on config values read from an untrusted image: how many words a HEALTHCHECK test or a
# VOLUME list keeps, and how long each may be.
MAX_CONFIG_WORDS = 256
MAX_CONFIG_WORD = 4096

# (reference, layer count, history length or None, method) of a base found by some evidence
KnownBase = tuple[str, int, int | None, str]


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _healthcheck(value: Any) -> tuple[str, ...] | None:
    """Healthcheck.Test: a non-empty list of strings whose first names its kind (CMD, CMD-SHELL,
    NONE); anything else (absent, null, an empty test that means "inherit") reads as unset."""
    if not isinstance(value, Mapping):
        return None
    test = value.get("Test")
    if not isinstance(test, list) or not test or not all(isinstance(t, str) for t in test):
        return None
    return tuple(word[:MAX_CONFIG_WORD] for word in test[:MAX_CONFIG_WORDS])


def _volumes(value: Any) -> tuple[str, ...]:
    """Volumes: an object keyed by path (`{"/data": {}}`); anything else reads as none."""
    if not isinstance(value, Mapping):
        return ()
    return tuple(sorted(str(path)[:MAX_CONFIG_WORD] for path in value)[:MAX_CONFIG_WORDS])


def image_config(section: Any) -> ImageConfig:
    """The runtime config. A field that is null, missing or of another JSON type than the
    engine writes (`"Env": 5`, `"Labels": "x"`) reads as absent: no engine would run such an
    image, and nothing in it can be judged; strings in a list are kept, other items dropped."""
    section = _mapping(section)
    env = [(key, value) for key, _, value in
           (item.partition("=") for item in _strings(section.get("Env")) or ())]
    ports = section.get("ExposedPorts")
    return ImageConfig(
        user=_text(section.get("User")),
        env=tuple(env),
        cmd=_strings(section.get("Cmd")),
        entrypoint=_strings(section.get("Entrypoint")),
        workdir=_text(section.get("WorkingDir")),
        exposed_ports=tuple(sorted(_mapping(ports) if isinstance(ports, dict)
                                   else _strings(ports) or ())),
        labels=MappingProxyType({k: v for k, v in _mapping(section.get("Labels")).items()
                                 if isinstance(v, str)}),
        healthcheck=_healthcheck(section.get("Healthcheck")),
        volumes=_volumes(section.get("Volumes")),
    )


def assemble(
    *,
    reference: str,
    image_id: str,
    config: ImageConfig,
    history: Sequence[Mapping[str, Any]] | Sequence[HistoryStep],
    diff_ids: Sequence[str],
    layer_sizes: Sequence[int],
    contents: Sequence[LayerContent] | None,
    known_base: tuple[str, int, int | None, str] | None,
    size: int | None = None,
    os_name: str = "linux",
    architecture: str = "",
    repo_tags: Sequence[str] = (),
) -> Image:
    steps = (
        list(history)
        if history and isinstance(history[0], HistoryStep)
        else make_steps(history)  # type: ignore[arg-type]
    )
    steps, layer_to_step, quality, note = link_layers(steps, len(diff_ids))  # type: ignore[arg-type]
    boundary = choose_boundary(steps, layer_to_step, quality, config.labels, known_base)
    linked = assign_origins(steps, boundary)
    layers = []
    for position, diff_id in enumerate(diff_ids):
        number = position + 1
        content = contents[position] if contents is not None else None
        layer_size = content_size(content) if content is not None else layer_sizes[position]
        layers.append(
            Layer(
                number=number,
                diff_id=diff_id,
                size=layer_size,
                origin=Origin.BASE if number < boundary.own_from_layer else Origin.OWN,
                history_index=layer_to_step.get(number),
                content=content,
            )
        )
    files = (
        merge((layer.number, layer.content) for layer in layers if layer.content is not None)
        if contents is not None
        else None
    )
    return Image(
        reference=reference,
        id=image_id,
        config=config,
        history=tuple(linked),
        layers=tuple(layers),
        boundary=boundary,
        size=size if size is not None else sum(layer.size for layer in layers),
        history_quality=quality,
        history_note=note,
        os=os_name,
        architecture=architecture,
        repo_tags=tuple(repo_tags),
        files=files,
    )


def replace_history(steps: Sequence[HistoryStep]) -> list[HistoryStep]:
    return [dataclasses.replace(step) for step in steps]
