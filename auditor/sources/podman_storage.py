"""Layers of podman's images read straight from its containers/storage overlay store: the image's
top layer as the API reports it, its parents from overlay-layers/layers.json, each checked to
unpack to the image's diff ID and to lie under the graph root; then read as storage.py reads."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from auditor.sources.documents import Digest
from auditor.sources.storage import (
    OverlayStore,
    StorageUnreadable,
    StoredLayer,
    inside,
    require_local,
)

# layers.json holds a few hundred bytes per layer: 64 MiB is some hundred thousand layers.
MAX_LAYER_DATABASE = 64 << 20
_LAYER_ID = re.compile(r"[0-9a-f]{64}")


def podman_store(info: Mapping[str, Any], host: str) -> ContainersStore:
    """The containers/storage store of the podman `info` (its /info) describes, when this process
    can read it: podman reached on a unix socket, rootful, overlay without metacopy (which would
    leave a file's data in a lower layer)."""
    require_local(host, "podman")
    if any("rootless" in str(option) for option in info.get("SecurityOptions") or ()):
        raise StorageUnreadable("podman runs rootless")
    driver = str(info.get("Driver") or "")
    if driver != "overlay":
        raise StorageUnreadable(f"podman's storage driver is {driver[:40] or 'unknown'}, "
                                "not overlay")
    status = {str(pair[0]): str(pair[-1]) for pair in info.get("DriverStatus") or ()
              if isinstance(pair, list | tuple) and pair}
    if status.get("Using metacopy", "false") != "false":
        raise StorageUnreadable("podman's overlay store uses metacopy")
    root = str(info.get("DockerRootDir") or "")
    if not root.startswith("/"):
        raise StorageUnreadable("podman reports no graph root")
    return ContainersStore(root)


class ContainersStore(OverlayStore):
    """Podman's overlay store under its graph root: layers in overlay/<id>/diff, their tar-split
    in overlay-layers/<id>.tar-split.gz, image configs in overlay-images/<id>/."""

    def locate(self, diff_ids: Sequence[str], graph_driver: Mapping[str, Any]
               ) -> list[StoredLayer]:
        """Each diff ID's layer (oldest first): from the top layer the API reports (UpperDir)
        down its parents in layers.json, each layer's diff digest the image's diff ID, and the
        directories those are the ones the API reports (UpperDir, then LowerDir)."""
        if str(graph_driver.get("Name") or "") != "overlay":
            raise StorageUnreadable(
                f"podman stores the image with {graph_driver.get('Name')!s:.40}, not overlay")
        if not diff_ids:
            return []
        data = graph_driver.get("Data") or {}
        reported = [str(data.get("UpperDir") or "")]
        reported += [p for p in str(data.get("LowerDir") or "").split(":") if p]
        resolved = [inside(self.root, Path(p), "a directory podman reports") for p in reported]
        top = resolved[0].parent.name
        layers = self._layers()
        chain: list[Mapping[str, Any]] = []
        layer_id = top
        while layer_id:
            entry = layers.get(layer_id)
            if entry is None or len(chain) == len(diff_ids):
                raise StorageUnreadable(f"layers.json does not hold the layers of {top[:12]}")
            chain.append(entry)
            layer_id = str(entry.get("parent") or "")
        chain.reverse()
        if [str(entry.get("diff-digest")) for entry in chain] != list(diff_ids):
            raise StorageUnreadable("podman's layers do not unpack to the image's diff IDs")
        located = [
            StoredLayer(
                str(entry["diff-digest"]),
                inside(self.root, self.root / "overlay-layers" / f"{entry['id']}.tar-split.gz",
                       f"the tar-split of {str(entry['id'])[:12]}"),
                inside(self.root, self.root / "overlay" / str(entry["id"]) / "diff",
                       f"the files of {str(entry['id'])[:12]}"),
            )
            for entry in chain
        ]
        if resolved != [layer.files for layer in reversed(located)]:
            raise StorageUnreadable("layers.json and podman's GraphDriver disagree")
        return located

    def config_path(self, image_id: Digest) -> Path:
        """containers/storage keeps an image's config as the big data item named by its digest,
        in a file named `=` and that name in base64."""
        name = base64.b64encode(str(image_id).encode()).decode()
        return self.root / "overlay-images" / image_id.hex / f"={name}"

    def _layers(self) -> dict[str, Mapping[str, Any]]:
        """overlay-layers/layers.json by layer ID, bounded; only entries with a layer ID's
        shape."""
        path = inside(self.root, self.root / "overlay-layers" / "layers.json",
                      "podman's layer database")
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_LAYER_DATABASE + 1)
        except OSError as exc:
            raise StorageUnreadable(f"podman's layer database cannot be read ({exc.strerror})"
                                    ) from exc
        if len(raw) > MAX_LAYER_DATABASE:
            raise StorageUnreadable("podman's layer database is over 64 MiB")
        try:
            entries = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StorageUnreadable("podman's layer database is not JSON") from exc
        if not isinstance(entries, list):
            raise StorageUnreadable("podman's layer database is not a list of layers")
        return {
            str(entry["id"]): entry for entry in entries
            if isinstance(entry, dict) and _LAYER_ID.fullmatch(str(entry.get("id") or ""))
        }
