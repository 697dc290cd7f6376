"""The Docker Engine as a source: inspect and history for metadata, the image export
(`GET /images/{name}/get`) streamed once for layer contents, skipped when every layer is cached."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.model.image import Image, LayerContent
from auditor.sources.assemble import KnownBase, assemble, image_config
from auditor.sources.base import BaseFinder, step_lines
from auditor.sources.cache import LayerCache
from auditor.sources.engine import Engine
from auditor.sources.history import LAYER_INSTRUCTIONS, parse_created_by
from auditor.sources.interface import OpenRequest, Target
from auditor.sources.layers import Wanted
from auditor.sources.saved import choose, layer_contents, list_images, read_stream, reader
from auditor.sources.sockets import Engines

_METADATA_ONLY = frozenset(
    {
        "ARG", "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER",
        "ONBUILD", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    }
)


def _iso(seconds: Any) -> str:
    try:
        return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def history_from_api(
    items: Sequence[Mapping[str, Any]], layer_count: int
) -> tuple[list[dict[str, Any]], bool]:
    """Config-style history from the API's, whose entries lack `empty_layer`, and whether it is
    certain.

    A step with bytes made a layer; a metadata-only instruction did not; RUN, COPY, ADD and
    WORKDIR steps of zero bytes made one only if that is what makes the count come out right.
    When fewer of them made a layer than could have (the classic builder commits no layer for a
    RUN that changed nothing), which ones did is a guess: only the image's config can tell.
    """
    oldest_first = list(reversed(items))
    parsed = [parse_created_by(str(item.get("CreatedBy") or "")) for item in oldest_first]
    sized = [int(item.get("Size") or 0) > 0 for item in oldest_first]
    maybe = [
        not s and p.instruction not in _METADATA_ONLY and (p.instruction != "" or bool(
            str(oldest_first[i].get("CreatedBy") or "").strip()))
        for i, (s, p) in enumerate(zip(sized, parsed, strict=True))
    ]
    needed = layer_count - sum(sized)
    certain = needed in (0, sum(maybe))
    if needed == sum(maybe):
        chosen = [s or m for s, m in zip(sized, maybe, strict=True)]
    elif needed > 0:
        # Prefer steps that always write a layer over WORKDIR, latest first (stable pick).
        chosen = list(sized)
        order = sorted(
            (i for i, m in enumerate(maybe) if m),
            key=lambda i: (parsed[i].instruction not in LAYER_INSTRUCTIONS, i),
        )
        for i in order[:needed]:
            chosen[i] = True
    else:
        chosen = sized
    history = [
        {
            "created_by": str(item.get("CreatedBy") or ""),
            "created": _iso(item.get("Created")),
            "comment": str(item.get("Comment") or ""),
            "empty_layer": not chosen[i],
        }
        for i, item in enumerate(oldest_first)
    ]
    return history, certain


class DaemonSource:
    """Images held by a Docker engine: the one its BaseFinder searches for bases."""

    def __init__(self, bases: BaseFinder | None = None) -> None:
        self.bases = bases or BaseFinder()
        self.engine = self.bases.engine

    def open(self, target: Target, request: OpenRequest) -> list[Image]:
        return [self._image(target.rest, request.wanted, request.cache, request.base)]

    def _image(
        self, ref: str, wanted: Wanted | None, cache: LayerCache, base: str | None
    ) -> Image:
        inspect = self.engine.inspect(ref)
        image_id = str(inspect.get("Id") or ref)
        diff_ids = [str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ())]
        api_history = self.engine.history(image_id)
        history, certain = history_from_api(api_history, len(diff_ids))
        contents: list[LayerContent] | None = None
        if wanted is not None:
            # every layer cached: skip the export, unless only the config can tie steps to layers
            cached = [cache.get(d, wanted) for d in diff_ids] if certain else [None]
            if all(c is not None for c in cached):
                contents = [c for c in cached if c is not None]
            else:
                contents, saved_history = self._export(image_id, diff_ids, wanted, cache)
                history = saved_history
        known = self._known_base(base, image_id, diff_ids, api_history)
        layer_sizes = _layer_sizes(api_history, history, len(diff_ids))
        return assemble(
            reference=ref,
            image_id=image_id,
            config=image_config(inspect.get("Config")),
            history=history,
            diff_ids=diff_ids,
            layer_sizes=layer_sizes,
            contents=contents,
            known_base=known,
            size=int(inspect.get("Size") or 0) or None,
            os_name=str(inspect.get("Os") or "linux"),
            architecture=str(inspect.get("Architecture") or ""),
            repo_tags=tuple(inspect.get("RepoTags") or ()),
        )

    def _export(
        self, image_id: str, diff_ids: Sequence[str], wanted: Wanted, cache: LayerCache
    ) -> tuple[list[LayerContent], list[dict[str, Any]]]:
        label = f"the engine's export of {image_id[:19]}"
        with self.engine.export(image_id, label) as stream:
            bundle = read_stream(stream, wanted, cache, label)
        saved = choose(list_images(bundle.names, reader(bundle, label), label), "", label)
        contents = layer_contents(bundle, saved.layer_members, diff_ids, wanted, cache, label)
        return contents, list(saved.config.get("history") or ())

    def _known_base(
        self, base: str | None, image_id: str, diff_ids: Sequence[str],
        api_history: Sequence[Mapping[str, Any]],
    ) -> KnownBase | None:
        if base:
            return self.bases.named(base).as_base_of(diff_ids)
        # the classic builder's history names the tagged images it was built on
        tagged = [
            str(item["Id"]) for item in api_history[1:]
            if item.get("Tags") and str(item.get("Id")) not in ("<missing>", image_id)
        ]
        return self.bases.local(image_id, diff_ids, step_lines(api_history), tagged)


class PodmanSource(DaemonSource):
    """Images held by podman (`podman:NAME`), through its Docker-compatible API at CONTAINER_HOST
    or podman's usual sockets; bases are looked for among podman's images."""

    def __init__(self, bases: BaseFinder | None = None) -> None:
        super().__init__(bases or BaseFinder(Engine(engines=Engines.PODMAN)))


def _layer_sizes(
    api_history: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]], count: int
) -> list[int]:
    """Each layer's size as the engine counts it, by pairing layer-producing steps in order."""
    oldest_first = list(reversed(api_history))
    sizes = [
        int(item.get("Size") or 0)
        for item, step in zip(oldest_first, history, strict=False)
        if not step.get("empty_layer")
    ]
    return (sizes + [0] * count)[:count]
