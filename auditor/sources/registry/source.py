"""A registry as a source: the manifest (a platform's, from a list or index) and config for
metadata, each layer blob streamed through its decompressor into the layer scanner for contents,
both digests verified, skipped when the layer's scan is cached."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import (
    ArchiveError,
    BaseImageError,
    DigestMismatch,
    ImgauditError,
    NotAnImage,
    PlatformUnavailable,
    RegistryError,
    UnsupportedManifest,
)
from auditor.model.image import Image, LayerContent
from auditor.sources.assemble import KnownBase, assemble, image_config
from auditor.sources.base import BaseFinder, BaseImage
from auditor.sources.cache import LayerCache
from auditor.sources.documents import (
    CONFIG_TYPES,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    IMAGE_TYPES,
    LAYER_TYPE_PREFIXES,
    Digest,
    Platform,
    best_match,
    check_digests,
    host_platform,
    image_entries,
    json_list,
    tolerant_config,
)
from auditor.sources.interface import OpenRequest, Target
from auditor.sources.layers import Wanted, scan_layer
from auditor.sources.registry.auth import Credentials
from auditor.sources.registry.client import Manifest, RegistryClient
from auditor.sources.registry.reference import PREFIX, RegistryReference, parse_reference
from auditor.sources.streams import HashingReader, decompressed
from auditor.text import printable

# the most characters of a registry-supplied string (a media type, a platform) an error quotes
_SHOWN = 100


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """How `auditor.audit()` reads `docker://` targets."""

    platform: str | None = None  # OS/ARCH[/VARIANT] from a list or index; None: this machine's
    all_platforms: bool = False  # audit every platform of a list or index
    credentials: Credentials | None = None  # None: the Docker config's (else anonymous)
    insecure: bool = False  # plain HTTP for hosts that are not loopback


class ClientPool:
    """One RegistryClient per host, made on first use with the same settings; thread safe."""

    def __init__(self, *, credentials: Credentials | None = None, insecure: bool = False,
                 timeout: float = 30.0, retries: int = 4, backoff: float = 0.5) -> None:
        self._settings: dict[str, Any] = {
            "credentials": credentials, "insecure": insecure, "timeout": timeout,
            "retries": retries, "backoff": backoff,
        }
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def __call__(self, host_name: str) -> RegistryClient:
        with self._lock:
            client = self._clients.get(host_name)
            if client is None:
                client = self._clients[host_name] = RegistryClient(host_name, **self._settings)
            return client

    def add(self, client: RegistryClient) -> None:
        with self._lock:
            self._clients[client.host] = client

    @property
    def clients(self) -> tuple[RegistryClient, ...]:
        with self._lock:
            return tuple(self._clients.values())

    def close(self) -> None:
        for client in self.clients:
            client.close()


@dataclass(frozen=True, slots=True)
class _Chosen:
    manifest: Manifest
    platform: Platform | None  # from the list or index entry; None for a lone manifest


class RegistrySource:
    """Images in registries. `clients` is one RegistryClient (its host, and a client with its
    settings for any other host), a callable host -> RegistryClient, or None (a ClientPool with
    default settings); `bases` finds a --base that is no docker:// reference in the engine.
    Safe to share between threads: a layer wanted by several at once is downloaded and scanned
    by one, the others read its scan from the cache."""

    def __init__(
        self, clients: RegistryClient | Callable[[str], RegistryClient] | None = None,
        *, bases: BaseFinder | None = None,
    ) -> None:
        if isinstance(clients, RegistryClient):
            settings = clients.http
            pool = ClientPool(insecure=settings.insecure, timeout=settings.timeout,
                              retries=settings.retries, backoff=settings.backoff)
            pool.add(clients)
            clients = pool
        self.clients: Callable[[str], RegistryClient] = clients or ClientPool()
        self.bases = bases or BaseFinder()
        self._lock = threading.Lock()
        self._layer_locks: dict[str, threading.Lock] = {}
        self._bases: dict[tuple[str, str], BaseImage] = {}

    def open(
        self, target: Target, request: OpenRequest, manifest: Manifest | None = None,
    ) -> list[Image]:
        """The image `target` (docker://HOST/REPO[:TAG|@DIGEST]) names; from a list or index, the
        image for request.platform (default: this machine's), or with all_platforms every image
        (attestations left out), each with its platform after the reference:
        `docker://reg/app:1 (linux/arm64)`. wanted=None reads the manifest and config only. An
        Image's reference is the target as written, its id the config digest, its digest the
        manifest's, its repo_tags (HOST/REPO:TAG,). `manifest`: what `target` names, already
        fetched (by a sweep, which resolved the tag to it): used instead of fetching it again
        when its digest is the one `target` pins."""
        parsed = parse_reference(target.text)
        client = self.clients(parsed.host)
        if manifest is not None and parsed.digest and manifest.digest == parsed.digest:
            top = manifest
        else:
            top = client.manifest(parsed.repository, parsed.reference)
        chosen = self._choose(client, parsed, top, request.platform, request.all_platforms)
        images = []
        for item in chosen:
            reference = target.text
            if request.all_platforms and item.platform is not None:
                reference = f"{target.text} ({item.platform})"
            images.append(self._image(client, parsed, reference, item, request.wanted,
                                      request.cache, request.base, request.platform))
        return images

    # ------------------------------------------------------------------------- manifests

    def _choose(
        self, client: RegistryClient, parsed: RegistryReference, top: Manifest,
        wanted: Platform | None, all_platforms: bool, depth: int = 0,
    ) -> list[_Chosen]:
        shown = f"{parsed.host}/{parsed.name}"
        if top.media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
            raise NotAnImage(f"{shown} is a Docker schema 1 image, which imgaudit does not read",
                             hint=UnsupportedManifest.default_hint)
        if not top.is_index:
            if top.media_type in IMAGE_TYPES or "layers" in top.document:
                return [_Chosen(top, None)]
            raise NotAnImage(f"{shown} is not a container image (its manifest is "
                             f"{printable(top.media_type, _SHOWN) or 'untyped'})")
        entries = image_entries(top.document)
        if not entries:
            raise NotAnImage(f"{shown} is an index that lists no image")
        if all_platforms:
            picked = entries
        else:
            picked = best_match(entries, wanted)
            if not picked:
                have = printable(
                    ", ".join(sorted({str(e.platform) or "unknown" for e in entries})), _SHOWN)
                target = wanted or host_platform()
                raise PlatformUnavailable(f"{shown} has no image for {target} (it has: {have})")
        chosen = []
        for entry in picked:
            (digest,) = check_digests(shown, "its manifest", [entry.digest])
            manifest = client.manifest(parsed.repository, digest)
            if manifest.is_index:
                if depth > 2:
                    raise UnsupportedManifest(f"{shown} nests indexes too deep")
                nested = self._choose(client, parsed, manifest, wanted or entry.platform,
                                      all_platforms, depth + 1)
                chosen.extend(nested)
                continue
            chosen.append(_Chosen(manifest, entry.platform))
        return chosen

    # ------------------------------------------------------------------------- images

    def _image(
        self, client: RegistryClient, parsed: RegistryReference, reference: str, chosen: _Chosen,
        wanted: Wanted | None, cache: LayerCache, base: str | None, explicit: Platform | None,
    ) -> Image:
        manifest = chosen.manifest
        shown = f"{parsed.host}/{parsed.repository}@{manifest.digest[:19]}"
        document = manifest.document
        descriptor = document.get("config") or {}
        config_type = str(descriptor.get("mediaType") or "")
        if config_type and config_type not in CONFIG_TYPES:
            raise NotAnImage(f"{shown} is not a container image (its config is "
                             f"{printable(config_type, _SHOWN)})")
        layers = [d for d in document.get("layers") or () if isinstance(d, dict)]
        for number, layer in enumerate(layers, 1):
            # a signature or an attestation has an image config, but its layers are no tars
            layer_type = str(layer.get("mediaType") or "")
            if layer_type and not layer_type.startswith(LAYER_TYPE_PREFIXES):
                raise NotAnImage(f"{shown} is not a container image (its layer {number} is "
                                 f"{printable(layer_type, _SHOWN)})")
        if not descriptor.get("digest"):
            raise RegistryError(f"manifest of {shown} names no config")
        (config_digest,) = check_digests(shown, "its config", [descriptor.get("digest")])
        blobs = check_digests(shown, "layer {n}", [layer.get("digest") for layer in layers])
        config = _config(client.blob(parsed.repository, config_digest), shown)
        actual = Platform.of(config)
        if explicit is not None and chosen.platform is None and not explicit.matches(actual):
            raise PlatformUnavailable(
                f"{parsed.host}/{parsed.name} is a single image for "
                f"{printable(str(actual), _SHOWN)}, not {explicit}",
                hint="leave out --platform, or name a tag built for that platform")
        rootfs = config.get("rootfs") or {}
        diff_ids = [str(d) for d in check_digests(f"the config of {shown}",
                                                  "the diff_id of layer {n}",
                                                  json_list(rootfs.get("diff_ids")))]
        if len(layers) != len(diff_ids):
            raise RegistryError(f"{shown} lists {len(layers)} layers for {len(diff_ids)} in its "
                                "config", hint="push the image again")
        contents = None
        if wanted is not None:
            contents = self._contents(client, parsed.repository, list(zip(layers, blobs,
                                                                          strict=True)),
                                      diff_ids, wanted, cache)
        known = self._known_base(base, diff_ids, actual) if base else None
        image = assemble(
            reference=reference,
            image_id=str(config_digest),
            config=image_config(config.get("config")),
            history=list(config.get("history") or ()),
            diff_ids=diff_ids,
            layer_sizes=[int(layer.get("size") or 0) for layer in layers],
            contents=contents,
            known_base=known,
            os_name=actual.os or "linux",
            architecture="/".join(p for p in (actual.architecture, actual.variant) if p),
            # as the engine names a pulled image: with the registry host
            repo_tags=(f"{parsed.host}/{parsed.name}",) if parsed.tag else (),
        )
        return dataclasses.replace(image, digest=manifest.digest,
                                   compressed_sizes=contents is None)

    def _contents(
        self, client: RegistryClient, repo: str,
        layers: Sequence[tuple[Mapping[str, Any], Digest]], diff_ids: Sequence[str],
        wanted: Wanted, cache: LayerCache,
    ) -> list[LayerContent]:
        contents: list[LayerContent] = []
        seen: dict[str, LayerContent] = {}
        for number, ((descriptor, blob), diff_id) in enumerate(zip(layers, diff_ids,
                                                                    strict=True), 1):
            content = seen.get(diff_id) or cache.get(diff_id, wanted)
            if content is None:
                with self._layer_lock(diff_id):
                    # another thread may have scanned it while this one waited
                    content = cache.get(diff_id, wanted)
                    if content is None:
                        content = self._scan(client, repo, number, descriptor, blob, diff_id,
                                             wanted)
                        cache.put(diff_id, wanted, content)
            seen[diff_id] = content
            contents.append(content)
        return contents

    def _layer_lock(self, diff_id: str) -> threading.Lock:
        with self._lock:
            return self._layer_locks.setdefault(diff_id, threading.Lock())

    def _scan(
        self, client: RegistryClient, repo: str, number: int, descriptor: Mapping[str, Any],
        digest: Digest, diff_id: str, wanted: Wanted,
    ) -> LayerContent:
        """One layer blob streamed once: decompressed, hashed (diff_id) and scanned as it
        arrives; returned only when both its digest and its diff_id check out."""
        size = descriptor.get("size")
        label = f"layer {number} ({str(digest)[:19]}) of {client.host}/{repo}"
        with client.open_blob(repo, digest, int(size) if size is not None else None) as blob:
            try:
                tar = decompressed(blob, label)
                unpacked = HashingReader(tar, diff_id)
                content = scan_layer(unpacked, wanted, label)
                unpacked.drain()
            except ArchiveError:
                # a corrupt stream is most often altered bytes: the blob's digest tells
                blob.finish()
                raise
        if unpacked.digest != diff_id:
            raise DigestMismatch(
                f"{label} unpacks to {unpacked.digest}, not the diff_id {diff_id} its config names"
            )
        return content

    # ------------------------------------------------------------------------- the base

    def _known_base(self, base: str, diff_ids: Sequence[str], image_platform: Platform
                    ) -> KnownBase:
        """--base as a docker:// reference (the image's platform of it) or an engine image."""
        if base.startswith(PREFIX):
            found = self._registry_base(base, image_platform)
        else:
            try:
                found = self.bases.named(base)
            except ImgauditError as exc:
                raise BaseImageError(
                    f"--base {base} is not a docker:// reference and the engine cannot give it "
                    f"({exc.message})",
                    hint="name the base as docker://HOST/REPO:TAG, or load it into the engine",
                ) from exc
        return found.as_base_of(diff_ids)

    def _registry_base(self, base: str, image_platform: Platform) -> BaseImage:
        """Read once per source, since a sweep names the same base for every image."""
        key = (base, str(image_platform))
        with self._lock:
            known = self._bases.get(key)
        if known is not None:
            return known
        parsed = parse_reference(base)
        client = self.clients(parsed.host)
        try:
            top = client.manifest(parsed.repository, parsed.reference)
            chosen = self._choose(client, parsed, top, image_platform, False)[0]
            descriptor = chosen.manifest.document.get("config") or {}
            (digest,) = check_digests(base, "its config", [descriptor.get("digest")])
            config = _config(client.blob(parsed.repository, digest), base)
        except ImgauditError as exc:
            raise BaseImageError(f"--base {base}: {exc.message}", exc.hint) from exc
        rootfs = config.get("rootfs") or {}
        known = BaseImage(base, tuple(str(d) for d in rootfs.get("diff_ids") or ()),
                          len(config.get("history") or ()))
        with self._lock:
            self._bases[key] = known
        return known


def _config(data: bytes, shown: str) -> dict[str, Any]:
    """An image config, with the one shape its readers rely on."""
    try:
        config = tolerant_config(json.loads(data))
    except (ValueError, UnicodeDecodeError, RecursionError):  # (nested past all reason)
        config = None
    if config is None:
        raise RegistryError(f"the config of {shown} is not a JSON object",
                            hint="push the image again")
    return config
