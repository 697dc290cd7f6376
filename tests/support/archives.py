"""`docker save` archives of local images, written the first time a test asks for one and kept
between sessions under .pytest_cache, keyed by the engine and the image ID: an unchanged image
is never saved twice, a rebuilt one is saved again."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.paths import DOCKER, ROOT

CACHE = ROOT / ".pytest_cache" / "imgaudit-saved"


def _docker(*args: str) -> str:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@functools.cache
def _engine_version() -> str:
    """Part of every key: another engine version may write another archive layout."""
    return _docker("version", "--format", "{{.Server.Version}}")


def saved_archive(image: str, cache: Path = CACHE) -> Path:
    """The `docker save` archive of a local image (as a tag, so that the archive names it),
    from the cache when it holds one for this image ID; saved (atomically) otherwise."""
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", image)
    folder = cache / image.replace("/", "_").replace(":", "-")
    archive = folder / f"{_engine_version()}-{image_id.removeprefix('sha256:')}.tar"
    if archive.is_file():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{archive.name}.{os.getpid()}.partial"
    try:
        _docker("save", "--output", str(partial), image)
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)
    for stale in folder.iterdir():  # the archives of this tag's earlier images
        if stale != archive and not stale.name.startswith("."):
            stale.unlink(missing_ok=True)
    return archive


class SavedArchives(Mapping[str, Path]):
    """The archives of a fixed set of tags, by tag; each saved (or found) when first looked up."""

    def __init__(self, tags: Sequence[str], cache: Path = CACHE) -> None:
        self._tags = tuple(tags)
        self._cache = cache
        self._found: dict[str, Path] = {}

    def __getitem__(self, tag: str) -> Path:
        if tag not in self._tags:
            raise KeyError(tag)
        if tag not in self._found:
            self._found[tag] = saved_archive(tag, self._cache)
        return self._found[tag]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)


def config_of(archive: Path) -> dict[str, Any]:
    """The image config a legacy `docker save` archive holds."""
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        config = tar.extractfile(json.load(manifest)[0]["Config"])
        assert config is not None
        document: dict[str, Any] = json.load(config)
        return document
