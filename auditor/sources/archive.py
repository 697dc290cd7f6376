"""`docker save` archives as a source: plain or compressed, legacy or OCI layout, a file or an
unpacked folder, holding one image or several."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from auditor.errors import ArchiveError, BaseImageError
from auditor.model.image import Image, LayerContent
from auditor.sources.assemble import KnownBase, assemble, image_config
from auditor.sources.base import BaseFinder, begins
from auditor.sources.cache import LayerCache
from auditor.sources.interface import OpenRequest, Target
from auditor.sources.layers import Wanted
from auditor.sources.saved import (
    Members,
    SavedImage,
    blob_digest,
    check_diff_id,
    choose,
    layer_contents,
    list_images,
    read_layer,
    read_stream,
    reader,
)
from auditor.sources.streams import SNIFFED, compression


def split_spec(spec: str) -> tuple[str, str]:
    """PATH[:REF] with the longest PATH that exists, since both parts may hold colons."""
    if os.path.exists(spec):
        return spec, ""
    colons = [i for i, c in enumerate(spec) if c == ":"]
    for index in reversed(colons):
        if os.path.exists(spec[:index]):
            return spec[:index], spec[index + 1 :]
    missing = spec.split(":", 1)[0] if colons else spec
    raise ArchiveError(
        f"no archive at {missing or spec!r}",
        hint="check the path; write one with `docker save IMAGE -o image.tar`",
    )


class ArchiveSource:
    """Images in `docker save` archives and OCI layouts; a base not in the archive is looked for
    in the engine."""

    def __init__(self, bases: BaseFinder | None = None) -> None:
        self.bases = bases or BaseFinder()

    def open(self, target: Target, request: OpenRequest) -> list[Image]:
        """The image the target's PATH[:REF] names, its reference the target as written."""
        return [self._image(target.rest, request.wanted, request.cache, request.base,
                            target.text)]

    def _image(
        self, spec: str, wanted: Wanted | None, cache: LayerCache, base: str | None,
        reference: str,
    ) -> Image:
        path, ref = split_spec(spec)
        label = f"archive {path}"
        if os.path.isdir(path):
            return self._open_members(Members(path, label), reference, ref, wanted, cache, base,
                                      label)
        try:
            with open(path, "rb") as handle:
                head = handle.read(SNIFFED)
        except OSError as exc:
            raise ArchiveError(f"cannot read {path} ({exc.strerror})") from exc
        if not head:
            raise ArchiveError(f"{label} is empty")
        if compression(head) is not None:
            return self._open_stream(path, reference, ref, wanted, cache, base, label)
        members = Members(path, label)
        try:
            return self._open_members(members, reference, ref, wanted, cache, base, label)
        finally:
            members.close()

    def _open_members(
        self, members: Members, reference: str, ref: str, wanted: Wanted | None,
        cache: LayerCache, base: str | None, label: str,
    ) -> Image:
        images = list_images(members.names, members.read, label)
        saved = choose(images, ref, label)
        _check_counts(saved, label)
        contents: list[LayerContent] | None = None
        if wanted is not None:
            contents = []
            layers = zip(saved.layer_members, saved.diff_ids, strict=True)
            for number, (member, diff_id) in enumerate(layers, 1):
                # a cached scan is taken only for a layer whose bytes were hashed here: the
                # archive's word for its diff_id is no proof
                cached = cache.get(diff_id, wanted)
                with members.open(member) as handle:
                    scanned, computed = read_layer(
                        handle, None if cached is not None else wanted, f"{label}: {member}",
                        blob_digest(member))
                check_diff_id(computed, diff_id, number, label)
                if scanned is not None:
                    cache.put(diff_id, wanted, scanned)
                    cached = scanned
                assert cached is not None
                contents.append(cached)
        sizes = [members.size(m) for m in saved.layer_members]
        return self._assemble(saved, images, reference, contents, sizes, base)

    def _open_stream(
        self, path: str, reference: str, ref: str, wanted: Wanted | None, cache: LayerCache,
        base: str | None, label: str,
    ) -> Image:
        with open(path, "rb") as handle:
            bundle = read_stream(handle, wanted, cache, label)
        images = list_images(bundle.names, reader(bundle, label), label)
        saved = choose(images, ref, label)
        _check_counts(saved, label)
        contents = None
        if wanted is not None:
            contents = layer_contents(
                bundle, saved.layer_members, saved.diff_ids, wanted, cache, label
            )
        sizes = [bundle.sizes.get(bundle.resolve(m), 0) for m in saved.layer_members]
        return self._assemble(saved, images, reference, contents, sizes, base)

    def _assemble(
        self, saved: SavedImage, images: Sequence[SavedImage], reference: str,
        contents: list[LayerContent] | None, sizes: list[int], base: str | None,
    ) -> Image:
        config: Any = saved.config
        return assemble(
            reference=reference,
            image_id=saved.config_digest,
            config=image_config(config.get("config")),
            history=list(config.get("history") or ()),
            diff_ids=saved.diff_ids,
            layer_sizes=sizes,
            contents=contents,
            known_base=self._known_base(saved, images, base),
            os_name=str(config.get("os") or "linux"),
            architecture=str(config.get("architecture") or ""),
            repo_tags=saved.names,
        )

    def _known_base(
        self, saved: SavedImage, images: Sequence[SavedImage], base: str | None
    ) -> KnownBase | None:
        diff_ids = list(saved.diff_ids)
        lines = _created_by(saved)
        best: KnownBase | None = None
        for other in images:
            if other is saved:
                continue
            layers, theirs = list(other.diff_ids), _created_by(other)
            if not begins(layers, theirs, diff_ids, lines):
                continue
            name = (other.names or (other.config_digest[:19],))[0]
            if base and name != base and base not in other.names:
                continue
            # the closest base: most layers, then (metadata-only steps add none) most history
            if best is None or (len(layers), len(theirs)) > (best[1], best[2] or 0):
                best = (name, len(layers), len(theirs), "option" if base else "archive-image")
        if best is not None:
            return best
        if not self.bases.reachable():
            if base:
                raise BaseImageError(
                    f"--base {base} is neither in the archive nor in a reachable engine"
                ) from None
            return None
        if base:
            return self.bases.named(base).as_base_of(diff_ids)
        if not lines:
            return None  # with no history, a local image that shares layers tells nothing
        return self.bases.local(saved.config_digest, diff_ids, lines)


def _created_by(saved: SavedImage) -> list[str]:
    return [str(step.get("created_by") or "") for step in saved.config.get("history") or ()]


def _check_counts(saved: SavedImage, label: str) -> None:
    if len(saved.layer_members) != len(saved.diff_ids):
        raise ArchiveError(
            f"{label} lists {len(saved.layer_members)} layers for {len(saved.diff_ids)} "
            "in the image config"
        )
