"""Real `docker save` archives compressed the ways other tools compress them: the whole archive
(`docker save | gzip`, zstd, bzip2, xz), or each layer as a blob of an OCI layout, gzip also in
one member per tar entry as estargz writes it. Written at test time from a saved archive."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import itertools
import json
import lzma
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard


def _members(data: bytes) -> list[bytes]:
    """A tar cut at each entry's header: one piece per entry (header and data), then its end."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        starts = [member.offset for member in tar.getmembers()]
    cuts = [*starts, tar.offset, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def estargz_like(data: bytes) -> bytes:
    """gzip in one member per tar entry (as estargz and stargz-snapshotter write layers)."""
    return b"".join(gzip.compress(piece, mtime=0) for piece in _members(data))


CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=6, mtime=0),
    "gzip-members": estargz_like,
    "zstd": lambda data: zstandard.ZstdCompressor(level=3).compress(data),
    "bzip2": lambda data: bz2.compress(data, 9),
    "xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, preset=1),
}
MEDIA_TYPES = {"gzip": "+gzip", "gzip-members": "+gzip", "zstd": "+zstd"}


def compressed_archive(saved: Path, codec: str, out: Path) -> Path:
    """The whole archive compressed, as `docker save IMAGE | gzip > out` writes it."""
    out.write_bytes(CODECS[codec](saved.read_bytes()))
    return out


def layout_of(saved: Path, codec: str, folder: Path) -> Path:
    """An OCI layout folder of the (legacy) archive's one image, every layer blob compressed
    with `codec`; its config, and so its diff_ids, unchanged."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def store(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    with tarfile.open(saved) as tar:
        def read(name: str) -> bytes:
            handle = tar.extractfile(name)
            assert handle is not None, name
            return handle.read()

        (entry,) = json.loads(read("manifest.json"))
        config = store(read(entry["Config"]))
        layers = [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar" + MEDIA_TYPES.get(codec, ""),
             **store(CODECS[codec](read(name)))}
            for name in entry["Layers"]
        ]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": layers,
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **store(manifest),
        "annotations": {"io.containerd.image.name": entry["RepoTags"][0]},
    }]}
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return folder
