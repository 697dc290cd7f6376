"""Finds an image's base for every source: checks that the image `--base` names begins this
image's layers, and looks for the closest base among the engine's images, memoised for a run."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import BaseImageError, SourceError
from auditor.sources.assemble import KnownBase
from auditor.sources.documents import when_created
from auditor.sources.engine import Engine

MAX_BASE_CANDIDATES = 500


@dataclass(frozen=True, slots=True)
class BaseImage:
    """The image --base names, as far as a boundary needs it: its layers and history length."""

    name: str  # as the user wrote it
    diff_ids: tuple[str, ...]
    history_length: int

    def as_base_of(self, diff_ids: Sequence[str]) -> KnownBase:
        """This image as the base of one of `diff_ids`; BaseImageError unless its layers begin
        them."""
        if self.diff_ids != tuple(diff_ids[: len(self.diff_ids)]):
            raise BaseImageError(f"{self.name} is not a base of this image: its layers differ")
        return (self.name, len(self.diff_ids), self.history_length, "option")


def begins(layers: Sequence[str], steps: Sequence[str], image_layers: Sequence[str],
           image_steps: Sequence[str]) -> bool:
    """Whether an image of `layers` and history `steps` (each step's created_by, oldest first) is
    a base of one of `image_layers` and `image_steps`: its layers begin the image's, and its
    history begins the image's and is shorter.

    Layers alone are not enough: images built from the same steps share layers, so a sibling
    that differs only in metadata steps (USER, CMD) would pass for a base.
    """
    return (bool(layers) and list(layers) == list(image_layers[: len(layers)])
            and len(steps) < len(image_steps) and list(steps) == list(image_steps[: len(steps)]))


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A local image as the search needs it."""

    layers: tuple[str, ...]
    name: str  # its first tag, else its short ID
    created: datetime.datetime  # when it was built (the epoch when it does not say)


class BaseFinder:
    """The bases the engine holds. What the engine says of an image is asked once per finder
    (one per run), so that auditing many images lists and inspects the local images once; safe
    to share between threads."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self._lock = threading.Lock()
        self._named: dict[str, BaseImage] = {}
        self._listed: tuple[str, ...] | None = None
        self._candidates: dict[str, _Candidate] = {}
        self._steps: dict[str, tuple[str, ...]] = {}

    def reachable(self) -> bool:
        """Whether there is an engine to look in."""
        return self.engine.reachable()

    def named(self, name: str) -> BaseImage:
        """The engine's image `name` (--base); the engine's error when it has none."""
        with self._lock:
            known = self._named.get(name)
        if known is None:
            inspect = self.engine.inspect(name)
            layers = tuple(str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ()))
            known = BaseImage(name, layers, len(self.engine.history(str(inspect["Id"]))))
            with self._lock:
                self._named[name] = known
        return known

    def local(
        self, image_id: str, diff_ids: Sequence[str], created_by: Sequence[str],
        tagged: Sequence[str] = (),
    ) -> KnownBase | None:
        """The local image with the most layers that begin this image's layers and whose history
        begins this image's history (`created_by`, oldest first). `tagged`: the IDs the image's
        own history names as tagged parents (the classic builder's), searched first and alone;
        else every local image is a candidate. With no history to tell, a candidate must have
        fewer layers: one with as many is likely the same image under another ID."""
        try:
            candidates = tagged or self._local_images()
        except SourceError:
            return None
        best: KnownBase | None = None
        best_created: datetime.datetime | None = None
        for candidate in candidates:
            if candidate == image_id:
                continue
            found = self._candidate(candidate)
            if found is None:
                continue
            layers = found.layers
            if not layers or list(layers) != list(diff_ids[: len(layers)]):
                continue
            if best is not None and len(layers) < best[1]:
                continue
            theirs = self._created_by(candidate)
            if created_by and not begins(layers, theirs, diff_ids, created_by):
                continue  # a sibling, or this image under another ID: not a base
            if not created_by and len(layers) == len(diff_ids):
                continue
            if best is not None and best_created is not None:
                mine, best_fit = (len(layers), len(theirs)), (best[1], best[2] or 0)
                if mine < best_fit or (mine == best_fit
                                       and (best_created, best[0]) <= (found.created, found.name)):
                    # the closest base wins (a LABEL-only child of a base adds no layer); of
                    # images with the same layers and history (a base retagged, or a child of
                    # it that added only ONBUILD triggers), the first built, so the answer does
                    # not hang on the order the engine lists its images in
                    continue
            best = (found.name, len(layers), len(theirs), "local-image")
            best_created = found.created
            if tagged:
                break
        return best

    def _local_images(self) -> tuple[str, ...]:
        with self._lock:
            listed = self._listed
        if listed is None:
            listed = tuple(self.engine.image_ids()[:MAX_BASE_CANDIDATES])
            with self._lock:
                self._listed = listed
        return listed

    def _candidate(self, image_id: str) -> _Candidate | None:
        """The image's layers and name; None when the engine cannot inspect it."""
        with self._lock:
            known = self._candidates.get(image_id)
        if known is not None:
            return known
        try:
            inspect = self.engine.inspect(image_id)
        except SourceError:
            return None  # gone since it was listed, or the engine faltered: asked again next time
        layers = tuple(str(d) for d in ((inspect.get("RootFS") or {}).get("Layers") or ()))
        found = _Candidate(layers, str((inspect.get("RepoTags") or [image_id[:19]])[0]),
                           when_created(str(inspect.get("Created") or "")))
        with self._lock:
            self._candidates[image_id] = found
        return found

    def _created_by(self, image_id: str) -> tuple[str, ...]:
        """Each step's created_by, oldest first."""
        with self._lock:
            known = self._steps.get(image_id)
        if known is None:
            known = step_lines(self.engine.history(image_id))
            with self._lock:
                self._steps[image_id] = known
        return known


def step_lines(api_history: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Each step's created_by, oldest first, from the engine's newest-first history."""
    return tuple(str(item.get("CreatedBy") or "") for item in reversed(api_history))
