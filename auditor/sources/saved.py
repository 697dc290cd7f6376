"""Reads the layouts `docker save` writes, the legacy one (manifest.json, <id>/layer.tar) and the
OCI one (index.json, blobs/sha256/...), from a stream read once, a plain tar file, or a folder."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from auditor.errors import AmbiguousReference, ArchiveError, ArchiveTampered, ImageNotFound
from auditor.model.image import LayerContent
from auditor.sources.cache import LayerCache
from auditor.sources.documents import (
    DIGEST_FORM,
    IMAGE_TYPES,
    Digest,
    entries,
    json_list,
    tolerant_config,
)
from auditor.sources.layers import (
    Wanted,
    normalize,
    open_tar,
    open_tar_file,
    scan_layer,
)
from auditor.sources.streams import HashingReader, Readable, decompressed, is_plain
from auditor.text import printable

MAX_DOCUMENT = 64 * 1024 * 1024
# image indexes inside indexes: Docker and BuildKit write two levels
MAX_INDEX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class SavedImage:
    """One image an archive describes: its config and the members that hold its layers."""

    config: Mapping[str, Any]
    config_digest: str
    layer_members: tuple[str, ...]
    names: tuple[str, ...]
    platform: str = ""

    @property
    def diff_ids(self) -> tuple[str, ...]:
        rootfs = self.config.get("rootfs") or {}
        return tuple(str(d) for d in (rootfs.get("diff_ids") or ()))


@dataclass(slots=True)
class Bundle:
    """What was read of an archive: small JSON documents, scanned layers, symlinked members."""

    documents: dict[str, bytes] = field(default_factory=dict)
    layers: dict[str, LayerContent] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    sizes: dict[str, int] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)  # layers taken from the cache, not scanned
    diff_ids: dict[str, str] = field(default_factory=dict)  # what each layer unpacked to

    def resolve(self, name: str) -> str:
        seen = set()
        while name in self.links and name not in seen:
            seen.add(name)
            name = self.links[name]
        return name


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{what} is not valid JSON ({exc.__class__.__name__})") from exc
    except RecursionError as exc:
        # json gives up at the interpreter's recursion limit (~1,000 levels); an image
        # document nests a handful
        raise ArchiveError(f"{what} nests its JSON too deeply to be an image document",
                           hint=_ALTERED) from exc


_ALTERED = ("the archive was altered or written by a broken tool; do not trust it, and save "
            "the image again with `docker save IMAGE -o image.tar`")


def parse_digest(text: object, what: str, label: str) -> Digest:
    """The digest an archive or layout names `what` by; ArchiveError for anything else, since
    a digest becomes a path here (`sha256:../../x` must not)."""
    digest = Digest.parse(text) if isinstance(text, str) else None
    if digest is None:
        raise ArchiveError(
            f"{label} names {what} by {printable(str(text), 80)!r}, not a digest "
            f"({DIGEST_FORM})",
            hint=_ALTERED)
    return digest


def member_path(text: object, what: str, label: str) -> str:
    """A path manifest.json names, inside the archive: ArchiveError for an absolute path, a
    `..` or an empty one, never followed out."""
    name = str(text)
    if not isinstance(text, str) or name.startswith("/") or ".." in name.split("/") or not (
        normalize(name)
    ):
        raise ArchiveError(
            f"{label} names {what} by {printable(name, 80)!r}, a path that leaves the archive",
            hint=_ALTERED)
    return normalize(name)


def check_blob(data: bytes, digest: Digest, label: str) -> bytes:
    """`data`, when its digest is `digest`; ArchiveTampered when not."""
    actual = hashlib.new(digest.algorithm.value, data).hexdigest()
    if actual != digest.hex:
        raise ArchiveTampered(f"{label}: the blob {digest} holds bytes whose digest is "
                              f"{digest.algorithm.value}:{actual}")
    return data


def read_layer(
    handle: Readable, wanted: Wanted | None, label: str, blob: Digest | None
) -> tuple[LayerContent | None, str]:
    """A layer member read once: hashed as it streams (checked against `blob`, the digest its
    name gives, if any), unpacked, hashed again and, when `wanted`, scanned. Returns the scan and
    the diff_id it unpacked to, which the caller compares with the config's before using it."""
    packed = HashingReader(handle, str(blob) if blob is not None else "sha256:",
                           background=True)
    try:
        tar = decompressed(packed, label)
        # an uncompressed blob (what `docker save` writes) is hashed once: its digest is its
        # diff_id, when both are sha256
        plain = is_plain(tar) and packed.expected.startswith("sha256:")
        unpacked = packed if plain else HashingReader(tar, "sha256:")
        content = None
        if wanted is not None:
            content = scan_layer(tar if plain else unpacked, wanted, label)
        unpacked.drain()
        packed.drain()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"{label} is truncated or corrupt ({_first_line(exc)})") from exc
    finally:
        packed.close()
    if blob is not None and packed.digest != str(blob):
        raise ArchiveTampered(f"{label}: the blob {blob} holds bytes whose digest is "
                              f"{packed.digest}")
    return content, unpacked.digest


def check_diff_id(computed: str, diff_id: str, number: int, label: str) -> None:
    """A layer is used only when it unpacked to the diff_id the image config names for it."""
    if computed != diff_id:
        raise ArchiveTampered(f"{label}: layer {number} unpacks to {computed}, not the diff_id "
                              f"{printable(diff_id, 80)} its image config names")


def blob_digest(name: str) -> Digest | None:
    """The digest a member named blobs/<algorithm>/<hex> holds by its name, or None."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "blobs":
        return None
    return Digest.parse(f"{parts[1]}:{parts[2]}")


def list_images(
    bundle_names: set[str], read: Callable[[str], bytes], label: str
) -> list[SavedImage]:
    """Every image the archive describes, from manifest.json or else index.json."""
    if "manifest.json" in bundle_names:
        manifest = _json(read("manifest.json"), f"{label}: manifest.json")
        if not isinstance(manifest, list):
            raise ArchiveError(f"{label}: manifest.json is not a list of images")
        images = []
        for entry in manifest:
            if not isinstance(entry, dict) or "Config" not in entry:
                raise ArchiveError(f"{label}: manifest.json has an entry without Config")
            config_name = member_path(entry["Config"], "an image config", label)
            data = read(config_name)
            named = blob_digest(config_name)
            if named is not None:
                check_blob(data, named, label)
            config = _json(data, f"{label}: {config_name}")
            digest = _digest_of(config_name, data)
            images.append(
                SavedImage(
                    config=tolerant_config(config) or {},
                    config_digest=digest,
                    layer_members=tuple(
                        member_path(x, f"layer {n}", label)
                        for n, x in enumerate(json_list(entry.get("Layers")), 1)
                    ),
                    names=tuple(str(t) for t in json_list(entry.get("RepoTags"))),
                )
            )
        return images
    if "index.json" in bundle_names:
        index = _json(read("index.json"), f"{label}: index.json")
        return _merge_tags(_walk_index(index, read, label, names=()))
    raise ArchiveError(
        f"{label} is not an image archive: it has neither manifest.json nor index.json",
        hint="create one with `docker save IMAGE -o image.tar`",
    )


def _merge_tags(images: Iterable[SavedImage]) -> list[SavedImage]:
    """One entry per image: index.json lists an image once per tag (Docker 25+ does)."""
    merged: dict[tuple[str, tuple[str, ...]], SavedImage] = {}
    for image in images:
        key = (image.config_digest, image.layer_members)
        known = merged.get(key)
        if known is None:
            merged[key] = image
            continue
        extra = tuple(name for name in image.names if name not in known.names)
        merged[key] = dataclasses.replace(known, names=known.names + extra)
    return list(merged.values())


def _digest_of(name: str, data: bytes) -> str:
    named = blob_digest(name)
    if named is not None:
        return str(named)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _walk_index(
    index: Any, read: Callable[[str], bytes], label: str, names: tuple[str, ...], depth: int = 0
) -> Iterator[SavedImage]:
    if not isinstance(index, dict):
        raise ArchiveError(f"{label}: an image index is not a JSON object")
    if depth > MAX_INDEX_DEPTH:
        raise ArchiveError(f"{label} nests image indexes more than {MAX_INDEX_DEPTH} deep",
                           hint=_ALTERED)
    for number, entry in enumerate(entries(index), 1):
        refs = entry.names or names
        digest = parse_digest(entry.descriptor["digest"], f"manifest {number} of its index",
                              label)
        document = _json(check_blob(read(digest.blob_path), digest, label), f"{label}: {digest}")
        if not isinstance(document, dict):
            raise ArchiveError(f"{label}: the manifest {digest} is not a JSON object")
        if entry.is_index or "manifests" in document:
            yield from _walk_index(document, read, label, refs, depth + 1)
            continue
        if entry.media_type and entry.media_type not in IMAGE_TYPES:
            continue  # attestations and other artifacts
        config_ref = document.get("config")
        config_digest = parse_digest(config_ref.get("digest", "") if isinstance(
                                         config_ref, dict) else config_ref,
                                     f"the config of manifest {digest}", label)
        config = _json(check_blob(read(config_digest.blob_path), config_digest, label),
                       f"{label}: config {config_digest}")
        if not isinstance(config, dict) or "rootfs" not in config:
            continue
        yield SavedImage(
            config=tolerant_config(config) or {},
            config_digest=str(config_digest),
            layer_members=tuple(
                parse_digest(layer.get("digest", "") if isinstance(layer, dict) else layer,
                             f"layer {n} of manifest {digest}", label).blob_path
                for n, layer in enumerate(document.get("layers") or (), 1)
            ),
            names=refs,
            platform=str(entry.platform),
        )


def _same_name(wanted: str, name: str) -> bool:
    def canonical(ref: str) -> str:
        ref = ref.removeprefix("docker.io/").removeprefix("library/")
        last = ref.rsplit("/", 1)[-1]
        return ref if ":" in last or "@" in last else ref + ":latest"

    return canonical(wanted) == canonical(name)


def _is_tag(name: str) -> bool:
    """Whether a name is a bare tag, as an OCI `ref.name` annotation may be (`1`, `latest`)."""
    return ":" not in name and "/" not in name


def _same_tag(wanted: str, name: str) -> bool:
    """A bare tag `1` names NAME:1 for any NAME."""
    return _is_tag(name) and wanted.endswith(":" + name)


def choose(images: list[SavedImage], ref: str, label: str) -> SavedImage:
    """The image an archive reference names; with no reference, the only one there is."""
    if not images:
        raise ArchiveError(f"{label} holds no image")

    def describe(image: SavedImage) -> str:
        return ", ".join(image.names) or image.config_digest[:19]

    if not ref:
        if len(images) == 1:
            return images[0]
        held = "; ".join(describe(i) for i in images)
        raise AmbiguousReference(
            f"{label} holds {len(images)} images ({held})",
            hint="pick one with docker-archive:PATH:NAME[:TAG] or docker-archive:PATH:@INDEX",
        )
    if ref.startswith("@") and ref[1:].isdigit():
        position = int(ref[1:])
        if position < len(images):
            return images[position]
    matches = [
        image
        for image in images
        if any(_same_name(ref, name) for name in image.names)
        or image.config_digest == ref
        or (len(ref) >= 12 and image.config_digest.removeprefix("sha256:").startswith(
            ref.removeprefix("sha256:")))
    ]
    if not matches:
        # a bare tag names only an image known by nothing more (Docker's index.json gives
        # web:1 the ref.name "1" too, which must not answer for app:1 or nginx:1)
        matches = [
            i for i in images
            if all(_is_tag(name) for name in i.names)
            and any(_same_tag(ref, name) for name in i.names)
        ]
    if len(matches) == 1:
        return matches[0]
    held = "; ".join(describe(i) for i in images)
    if not matches:
        raise ImageNotFound(f"{label} holds no image named {ref} (it holds: {held})",
                            hint="use one of the names it holds, or @INDEX")
    raise AmbiguousReference(f"{label}: {ref} names {len(matches)} images",
                             hint="add :TAG, or pick one with @INDEX")


def _looks_like_document(head: bytes) -> bool:
    return head.lstrip()[:1] in (b"{", b"[")


def read_stream(
    fileobj: Readable, wanted: Wanted | None, cache: LayerCache, label: str
) -> Bundle:
    """One pass over a saved archive from a stream (the engine's export or a .tar.gz).

    Layers are scanned as they pass, since which layer belongs where is only known from
    manifest.json, which comes last. A blob already cached under its digest is skipped.
    """
    bundle = Bundle()
    try:
        with open_tar(fileobj, label) as stream:
            outer = stream.tar
            for member in outer:
                name = normalize(member.name)
                bundle.names.add(name)
                if member.issym() or member.islnk():
                    target = member.linkname
                    if member.issym():
                        target = posixpath.join(posixpath.dirname(name), target)
                    bundle.links[name] = normalize(target)
                    continue
                if not member.isreg():
                    continue
                bundle.sizes[name] = member.size
                extracted = outer.extractfile(member)
                if not isinstance(extracted, io.BufferedReader):  # (None: a member without data)
                    continue
                is_layer_tar = name.endswith("/layer.tar") or name.endswith(".tar")
                if not is_layer_tar:
                    head = extracted.peek(64)[:64]
                    if not name.startswith("blobs/") or _looks_like_document(head):
                        if member.size <= MAX_DOCUMENT:
                            bundle.documents[name] = extracted.read()
                        continue
                    if wanted is None:
                        continue
                    named = blob_digest(name)
                    if named is None:
                        continue  # no blob an index can name
                    blob_label = f"{label}: layer {str(named)[:19]}"
                    # an uncompressed blob is named by its diff_id: a scan cached under it is
                    # taken once its bytes are hashed here (kept now: a cache file that only
                    # exists is no scan to count on)
                    cached = cache.get(str(named), wanted)
                    scanned, bundle.diff_ids[name] = read_layer(
                        extracted, None if cached is not None else wanted, blob_label, named)
                    if cached is not None:
                        bundle.cached.add(name)
                        bundle.layers[name] = cached
                    elif scanned is not None:
                        bundle.layers[name] = scanned
                    continue
                if wanted is not None:
                    scanned, bundle.diff_ids[name] = read_layer(
                        extracted, wanted, f"{label}: {name}", None)
                    if scanned is not None:
                        bundle.layers[name] = scanned
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"{label} is truncated or corrupt ({_first_line(exc)})") from exc
    return bundle


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


class Members:
    """Random access to the members of a plain tar file or of a folder."""

    def __init__(self, path: str, label: str) -> None:
        self.path, self.label = path, label
        self.is_dir = os.path.isdir(path)
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if self.is_dir:
            self.names = {
                normalize(os.path.relpath(os.path.join(root, f), path))
                for root, _, files in os.walk(path)
                for f in files
            }
            return
        try:
            self._tar = open_tar_file(path)  # closed by close()
            for member in self._tar.getmembers():
                self._members[normalize(member.name)] = member
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"{label} is truncated or corrupt ({_first_line(exc)})") from exc
        self.names = set(self._members)

    def _inside(self, name: str) -> str:
        """The file a folder's member `name` is, refused when it (or a symlink on its way)
        resolves outside the folder."""
        root = os.path.realpath(self.path)
        full = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath((root, full)) != root:
            raise ArchiveError(
                f"{self.label}: {printable(name, 80)} resolves outside the folder",
                hint="the layout was altered; do not trust it, and write it again with "
                "`skopeo copy` or `docker save`")
        if not os.path.isfile(full):
            raise ArchiveError(f"{self.label} is missing {name}")
        return full

    def size(self, name: str) -> int:
        if self.is_dir:
            return os.path.getsize(self._inside(name))
        return int(self._resolve(name).size)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def _resolve(self, name: str) -> tarfile.TarInfo:
        seen = set()
        member = self._members.get(name)
        while member is not None and (member.issym() or member.islnk()) and name not in seen:
            seen.add(name)
            target = member.linkname
            if member.issym():
                target = posixpath.join(posixpath.dirname(name), target)
            name = normalize(target)
            member = self._members.get(name)
        if member is None:
            raise ArchiveError(f"{self.label} is missing {name}")
        return member

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        if self.is_dir:
            with open(self._inside(name), "rb") as handle:
                yield handle
            return
        assert self._tar is not None
        member = self._resolve(name)
        try:
            extracted = self._tar.extractfile(member)
        except (tarfile.TarError, OSError) as exc:
            raise ArchiveError(f"{self.label}: cannot read {name} ({_first_line(exc)})") from exc
        if extracted is None:
            raise ArchiveError(f"{self.label}: {name} is not a file")
        yield extracted

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            try:
                data = handle.read(MAX_DOCUMENT + 1)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ArchiveError(
                    f"{self.label}: cannot read {name} ({_first_line(exc)})"
                ) from exc
        if len(data) > MAX_DOCUMENT:
            raise ArchiveError(f"{self.label}: {name} is too large to be an image document")
        return data


def reader(bundle: Bundle, label: str) -> Callable[[str], bytes]:
    """Reads a document the stream kept, following links."""

    def read(name: str) -> bytes:
        resolved = bundle.resolve(name)
        if resolved not in bundle.documents:
            raise ArchiveError(f"{label} is missing {name}")
        return bundle.documents[resolved]

    return read


def layer_contents(
    bundle: Bundle,
    members: Sequence[str],
    diff_ids: Sequence[str],
    wanted: Wanted,
    cache: LayerCache,
    label: str,
) -> list[LayerContent]:
    """Each layer's scan, from what the stream scanned or the cache, once the layer unpacked to
    the diff_id it is used for (ArchiveTampered when not); new scans are cached."""
    if len(members) != len(diff_ids):
        raise ArchiveError(
            f"{label} lists {len(members)} layers for {len(diff_ids)} in the image config"
        )
    contents = []
    for number, (member, diff_id) in enumerate(zip(members, diff_ids, strict=True), 1):
        resolved = bundle.resolve(member)
        scanned = bundle.layers.get(resolved)
        if scanned is None:
            raise ArchiveError(f"{label} is missing the layer {member}")
        check_diff_id(bundle.diff_ids[resolved], diff_id, number, label)
        if resolved not in bundle.cached:
            cache.put(diff_id, wanted, scanned)
        contents.append(scanned)
    return contents
