"""Crafted archives for the hostile-input tests: a valid `docker save` archive or OCI layout
written by the factory, then altered the way an attacker would, at test time (nothing binary is
committed)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.factory import ImageSpec, good, write_archive


def layout(folder: Path, spec: ImageSpec | None = None, **options: Any) -> Path:
    """An OCI layout folder (index.json and blobs only) of `spec`."""
    return write_archive(folder, spec or good(), layout="oci", index_only=True,
                         as_directory=True, **options)


def legacy_folder(folder: Path, spec: ImageSpec | None = None) -> Path:
    """An unpacked legacy `docker save` folder of `spec`."""
    return write_archive(folder, spec or good(), layout="legacy", as_directory=True)


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def write_json(path: Path, value: Any) -> None:
    path.write_bytes(json.dumps(value, separators=(",", ":")).encode())


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    value = read_json(path)
    change(value)
    write_json(path, value)


def manifest_of(folder: Path) -> tuple[Path, Any]:
    """The blob of the layout's (first) image manifest and its document."""
    digest = read_json(folder / "index.json")["manifests"][0]["digest"]
    blob = folder / "blobs" / "sha256" / digest.removeprefix("sha256:")
    return blob, read_json(blob)


def store_blob(folder: Path, data: bytes) -> str:
    """Puts `data` in the layout as a blob; its digest."""
    hexdigest = hashlib.sha256(data).hexdigest()
    (folder / "blobs" / "sha256" / hexdigest).write_bytes(data)
    return f"sha256:{hexdigest}"


def pack(folder: Path, path: Path) -> Path:
    """The folder as a plain tar file, as `docker save` writes one."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for item in sorted(folder.rglob("*")):
            tar.add(item, arcname=str(item.relative_to(folder)), recursive=False)
    return path


def raw_header(name: str, size_field: bytes, kind: bytes = b"0") -> bytes:
    """One ustar header block whose size field holds `size_field` as is (for sizes tarfile
    would not write), with a correct checksum."""
    block = bytearray(512)
    block[0:len(name)] = name.encode()
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size_field.ljust(12, b"\0")[:12]
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}\0 ".encode()
    return bytes(block)


def tar_of(*blocks: bytes) -> bytes:
    """Blocks ended as a tar ends: two zero blocks, padded to 10 KiB."""
    data = b"".join(blocks) + b"\0" * 1024
    return data + b"\0" * (-len(data) % 10240)


def tar_bytes(build: Callable[[tarfile.TarFile], None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buffer.getvalue()


def _rewrite_manifest(folder: Path, change: Callable[[Any], None]) -> None:
    """Changes the layout's manifest and names it honestly: new blob, new index digest."""
    path, manifest = manifest_of(folder)
    change(manifest)
    path.unlink()
    digest = store_blob(folder, json.dumps(manifest, separators=(",", ":")).encode())
    edit_json(folder / "index.json", lambda index: index["manifests"][0].update(digest=digest))


def replace_config(folder: Path, data: bytes) -> None:
    """The layout's image config replaced by `data`, every digest naming it honestly."""
    digest = store_blob(folder, data)
    _rewrite_manifest(folder, lambda manifest: manifest["config"].update(digest=digest))


def replace_last_layer(folder: Path, data: bytes) -> None:
    """The layout's last layer replaced by `data`, its digest and diff_id honest: only what the
    layer holds is hostile."""
    _, manifest = manifest_of(folder)
    config_path = folder / "blobs" / "sha256" / manifest["config"]["digest"][7:]
    config = read_json(config_path)
    config["rootfs"]["diff_ids"][-1] = "sha256:" + hashlib.sha256(data).hexdigest()
    layer = store_blob(folder, data)
    _rewrite_manifest(folder, lambda manifest: manifest["layers"][-1].update(digest=layer))
    replace_config(folder, json.dumps(config, separators=(",", ":")).encode())


def members_of(archive: bytes) -> dict[str, bytes]:
    """The regular files of a plain tar archive, by name, in order."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
                for member in tar.getmembers() if member.isfile()}


def pack_members(members: dict[str, bytes]) -> bytes:
    """Files as a plain tar archive, in order (the folders they lie in are implied)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
