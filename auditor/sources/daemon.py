"""The Docker Engine as a source: inspect and history for metadata; layer contents from the
engine's own storage when it is local and readable, else from the image export
(`GET /images/{name}/get`) streamed once; neither when every layer is cached."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.errors import ImgauditError
from auditor.model.image import Image, LayerContent
from auditor.model.policy import ReadPath
from auditor.sources.assemble import KnownBase, assemble, image_config
from auditor.sources.base import BaseFinder, step_lines
from auditor.sources.cache import LayerCache
from auditor.sources.engine import Engine
from auditor.sources.history import LAYER_INSTRUCTIONS, parse_created_by
from auditor.sources.interface import OpenRequest, Target
from auditor.sources.layers import Wanted
from auditor.sources.podman_storage import podman_store
from auditor.sources.saved import choose, layer_contents, list_images, read_stream, reader
from auditor.sources.sockets import Engines
from auditor.sources.storage import (
    OverlayStore,
    StorageUnreadable,
    local_store,
    scan_stored_layer,
)

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
    """Images held by an engine (Docker's, or podman's when it is the one that answers, see
    sockets.py): the one its BaseFinder searches for bases."""

    def __init__(self, bases: BaseFinder | None = None, store: OverlayStore | None = None
                 ) -> None:
        """`store`: the engine's storage (default: found from `docker info` when first needed)."""
        self.bases = bases or BaseFinder()
        self.engine = self.bases.engine
        self._store: OverlayStore | StorageUnreadable | None = store

    def open(self, target: Target, request: OpenRequest) -> list[Image]:
        return [self._image(target.rest, request)]

    def _image(self, ref: str, request: OpenRequest) -> Image:
        inspect = self.engine.inspect(ref)
        image_id = str(inspect.get("Id") or ref)
        diff_ids = [str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ())]
        api_history = self.engine.history(image_id)
        history, certain = history_from_api(api_history, len(diff_ids))
        contents: list[LayerContent] | None = None
        note = ""
        if request.wanted is None and not certain and request.read is not ReadPath.EXPORT:
            # which steps made layers is the config's to tell: the engine's own copy of it
            try:
                history = list(self._local_store().config(image_id).get("history") or ())
            except StorageUnreadable as exc:
                if request.read is ReadPath.STORAGE:
                    raise
                note = f"history guessed from the engine's sizes ({exc.message})"
        if request.wanted is not None:
            cached = [request.cache.get(d, request.wanted) for d in diff_ids]
            # every layer cached: read none, unless only the config can tie steps to layers
            if certain and all(c is not None for c in cached):
                contents, note = [c for c in cached if c is not None], "every layer cached"
            else:
                contents, history, note = self._read(
                    image_id, inspect, diff_ids, cached, request)
        known = self._known_base(request.base, image_id, diff_ids, api_history)
        layer_sizes = _layer_sizes(api_history, history, len(diff_ids))
        image = assemble(
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
        return dataclasses.replace(image, read_note=note) if note else image

    def _read(
        self, image_id: str, inspect: dict[str, Any], diff_ids: Sequence[str],
        cached: Sequence[LayerContent | None], request: OpenRequest,
    ) -> tuple[list[LayerContent], list[dict[str, Any]], str]:
        """The layers not cached, read from storage (unless --read export) or by export, and
        the config's history; with what was read how, and why storage was not."""
        assert request.wanted is not None
        fresh = sum(c is None for c in cached)
        why = "--read export"
        if request.read is not ReadPath.EXPORT:
            try:
                contents, history = self._from_storage(
                    image_id, inspect, diff_ids, cached, request.wanted, request.cache)
                return contents, history, (f"{fresh} of {len(diff_ids)} layers read from the "
                                           f"engine's storage, {len(diff_ids) - fresh} cached")
            except StorageUnreadable as exc:
                if request.read is ReadPath.STORAGE:
                    raise
                why = exc.message
        contents, history = self._export(image_id, diff_ids, request.wanted, request.cache)
        return contents, history, f"layers read by the engine's export ({why})"

    def _local_store(self) -> OverlayStore:
        """The engine's storage, or why it cannot be read: found once per run."""
        if self._store is None:
            try:
                self._store = self._find_store()
            except StorageUnreadable as exc:
                self._store = exc
            except ImgauditError as exc:
                self._store = StorageUnreadable(exc.message)
        if isinstance(self._store, StorageUnreadable):
            raise self._store
        return self._store

    def _find_store(self) -> OverlayStore:
        info = self.engine.info()  # connects: then where it answered is known
        if self.engine.endpoint is None:
            raise StorageUnreadable("where the engine answers is not known")
        find = podman_store if self.engine.endpoint.is_podman else local_store
        return find(info, self.engine.endpoint.url)

    def _from_storage(
        self, image_id: str, inspect: dict[str, Any], diff_ids: Sequence[str],
        cached: Sequence[LayerContent | None], wanted: Wanted, cache: LayerCache,
    ) -> tuple[list[LayerContent], list[dict[str, Any]]]:
        store = self._local_store()
        layers = store.locate(diff_ids, inspect.get("GraphDriver") or {})
        history = list(store.config(image_id).get("history") or ())
        contents = []
        for number, (layer, known) in enumerate(zip(layers, cached, strict=True), start=1):
            if known is None:
                known = scan_stored_layer(layer, wanted, f"layer {number} of {image_id[:19]}")
                cache.put(layer.diff_id, wanted, known)
            contents.append(known)
        return contents, history

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
