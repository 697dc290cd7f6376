"""The Docker Engine API as a source: inspect and history for metadata, the image export
(`GET /images/{name}/get`) streamed once for layer contents, skipped when every layer is cached."""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import docker
import docker.errors
import requests

from auditor.errors import BaseImageError, DaemonUnavailable, ImageNotFound, SourceError
from auditor.model import Image, LayerContent
from auditor.sources.assemble import KnownBase, assemble, image_config
from auditor.sources.cache import LayerCache
from auditor.sources.history import LAYER_INSTRUCTIONS, parse_created_by
from auditor.sources.layers import Wanted
from auditor.sources.saved import choose, layer_contents, list_images, read_stream, reader

EXPORT_CHUNK = 1 << 20
MAX_BASE_CANDIDATES = 500
_METADATA_ONLY = frozenset(
    {
        "ARG", "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER",
        "ONBUILD", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    }
)


def connect(timeout: int = 120) -> Any:
    """A client for the engine DOCKER_HOST names (or the default socket), checked to answer."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise DaemonUnavailable(
            f"cannot reach the Docker engine at {host} ({_reason(exc)})"
        ) from exc
    return client


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied",
                   "timed out", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return (text.splitlines() or [type(exc).__name__])[0][:100]


class _ChunkReader(io.RawIOBase):
    """The export's chunk iterator as a raw stream: readinto copies each chunk once, in place."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._chunk:
                self._chunk = memoryview(next(self._chunks, b""))
                if not self._chunk:
                    break
            count = min(len(view) - filled, len(self._chunk))
            view[filled : filled + count] = self._chunk[:count]
            self._chunk = self._chunk[count:]
            filled += count
        return filled


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
    """Images held by a Docker engine."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def inspect(self, ref: str) -> dict[str, Any]:
        try:
            return dict(self.client.api.inspect_image(ref))
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"no image named {ref} in the Docker engine") from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                raise ImageNotFound(f"no image named {ref} in the Docker engine") from exc
            raise SourceError(f"the engine refused to inspect {ref}: {exc.explanation}") from exc
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise DaemonUnavailable(
                f"the Docker engine stopped answering ({_reason(exc)})"
            ) from exc

    def history(self, ref: str) -> list[dict[str, Any]]:
        try:
            return list(self.client.api.history(ref))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SourceError(f"the engine gave no history for {ref} ({_reason(exc)})") from exc

    def open(
        self,
        ref: str,
        wanted: Wanted | None,
        cache: LayerCache,
        base: str | None = None,
    ) -> Image:
        inspect = self.inspect(ref)
        image_id = str(inspect.get("Id") or ref)
        diff_ids = [str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ())]
        api_history = self.history(image_id)
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
        try:
            response = self.client.api.get_image(image_id, chunk_size=EXPORT_CHUNK)
            bundle = read_stream(_ChunkReader(iter(response)), wanted, cache, label)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SourceError(f"{label} failed ({_reason(exc)})") from exc
        saved = choose(list_images(bundle.names, reader(bundle, label), label), "", label)
        contents = layer_contents(bundle, saved.layer_members, diff_ids, wanted, cache, label)
        return contents, list(saved.config.get("history") or ())

    def _known_base(
        self, base: str | None, image_id: str, diff_ids: Sequence[str],
        api_history: Sequence[Mapping[str, Any]],
    ) -> KnownBase | None:
        if base:
            inspect = self.inspect(base)
            layers = [str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ())]
            if layers != list(diff_ids[: len(layers)]):
                raise BaseImageError(f"{base} is not a base of this image: its layers differ")
            return (base, len(layers), len(self.history(str(inspect["Id"]))), "option")
        return self.local_base(image_id, diff_ids, api_history)

    def local_base(
        self, image_id: str, diff_ids: Sequence[str],
        api_history: Sequence[Mapping[str, Any]] = (),
        created_by: Sequence[str] | None = None,
    ) -> KnownBase | None:
        """The local image with the most layers that begin this image's layers and whose history
        begins this image's history (created_by oldest first; from api_history if not given).

        Layers alone are not enough: images built from the same steps share layers, so a sibling
        that differs only in metadata steps (USER, CMD) would pass for a base.
        """
        own = list(created_by) if created_by is not None else _created_by(api_history)
        tagged = [
            str(item["Id"]) for item in api_history[1:]
            if item.get("Tags") and str(item.get("Id")) not in ("<missing>", image_id)
        ]
        try:
            candidates = tagged or [
                str(summary["Id"]) for summary in self.client.api.images()[:MAX_BASE_CANDIDATES]
            ]
        except (docker.errors.DockerException, requests.RequestException):
            return None
        best: KnownBase | None = None
        for candidate in candidates:
            if candidate == image_id:
                continue
            try:
                inspect = self.client.api.inspect_image(candidate)
            except (docker.errors.DockerException, requests.RequestException):
                continue
            layers = [str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ())]
            if not layers or layers != list(diff_ids[: len(layers)]):
                continue
            if best is not None and len(layers) < best[1]:
                continue
            theirs = _created_by(self.history(candidate))
            history_length = len(theirs)
            if own and (history_length >= len(own) or theirs != own[:history_length]):
                continue  # a sibling, or this image under another ID: not a base
            if not own and len(layers) == len(diff_ids):
                continue  # no history to tell: likely the same image under another ID
            if best is not None and (len(layers), history_length) <= (best[1], best[2] or 0):
                continue  # the closest base wins: a LABEL-only child of a base adds no layer
            name = (inspect.get("RepoTags") or [candidate[:19]])[0]
            best = (str(name), len(layers), history_length, "local-image")
            if tagged:
                break
        return best


def _created_by(api_history: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each step's created_by, oldest first, from the API's newest-first history."""
    return [str(item.get("CreatedBy") or "") for item in reversed(api_history)]


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
