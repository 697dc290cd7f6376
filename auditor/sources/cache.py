"""A disk cache of layer scans, keyed by the layer's content digest (diff_id), the scanner's
version and the set of wanted files: a layer's analysis never changes, so it is read once."""

from __future__ import annotations

import base64
import gzip
import json
import os
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auditor.model.image import FileEntry, FileKind, LayerContent
from auditor.sources.documents import Digest, DigestAlgorithm
from auditor.sources.layers import Wanted

# Bump when scan_layer or this format changes what it records. 2: only scans of layers whose
# diff_id imgaudit computed (an archive's layers) or the engine or a registry verified are stored,
# so no entry of version 1 (an archive's word) is trusted.
ANALYSER_VERSION = 2
# FileKind by value: a dict lookup, not an Enum call, for each of a layer's thousands of entries.
_KINDS = {kind.value: kind for kind in FileKind}


def default_cache_dir() -> Path:
    if explicit := os.environ.get("IMGAUDIT_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "imgaudit"


class LayerCache:
    """Per-layer scans on disk; a cache that cannot be read or written is simply a miss."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @classmethod
    def disabled(cls) -> LayerCache:
        return cls(None)

    def _path(self, diff_id: str, wanted: Wanted) -> Path | None:
        digest = Digest.parse(diff_id)
        if self.root is None or digest is None or digest.algorithm is not DigestAlgorithm.SHA256:
            return None
        return self.root / f"layers-v{ANALYSER_VERSION}" / wanted.key / f"{digest.hex}.json.gz"

    def has(self, diff_id: str, wanted: Wanted) -> bool:
        path = self._path(diff_id, wanted)
        return path is not None and path.is_file()

    def get(self, diff_id: str, wanted: Wanted) -> LayerContent | None:
        path = self._path(diff_id, wanted)
        if path is None:
            return None
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return _decode(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None

    def put(self, diff_id: str, wanted: Wanted, content: LayerContent) -> None:
        path = self._path(diff_id, wanted)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as raw, gzip.GzipFile(
                    fileobj=raw, mode="wb", compresslevel=1, mtime=0
                ) as handle:
                    handle.write(json.dumps(_encode(content), separators=(",", ":")).encode())
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            return


def _encode(content: LayerContent) -> dict[str, Any]:
    return {
        "entries": [
            [e.path, e.size, e.kind.value, e.mode, e.uid, e.gid, e.linkname]
            for e in content.entries
        ],
        "whiteouts": list(content.whiteouts),
        "opaque": list(content.opaque_dirs),
        "captured": {k: base64.b64encode(v).decode() for k, v in content.captured.items()},
        "tar_size": content.tar_size,
    }


def _decode(data: dict[str, Any]) -> LayerContent:
    return LayerContent(
        entries=tuple(
            FileEntry(path, size, _KINDS[kind], mode, uid, gid, link)
            for path, size, kind, mode, uid, gid, link in data["entries"]
        ),
        whiteouts=tuple(data["whiteouts"]),
        opaque_dirs=tuple(data["opaque"]),
        captured=MappingProxyType(
            {k: base64.b64decode(v) for k, v in data["captured"].items()}
        ),
        tar_size=int(data["tar_size"]),
    )
