"""Registry images as a source, against the real registry containers of tests/registry_env.py:
the same conclusions as the engine for the same image, metadata-only audits that download no
layer, a warm cache that downloads none, a base shared by images downloaded once, platforms picked
from lists and indexes, gzip, zstd and plain layers, and a tampered blob or diff_id refused, never
reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from auditor import audit
from auditor.errors import DigestMismatch, PlatformUnavailable, UnsupportedManifest
from auditor.model.image import Image
from auditor.model.report import ImageReport
from auditor.rules import ALL_RULES, wanted_files
from auditor.sources import LayerCache, OpenRequest, Wanted, parse_target
from auditor.sources.documents import Platform, host_platform
from auditor.sources.registry import RegistryClient, RegistrySource
from auditor.sources.registry.source import RegistryOptions
from tests.support.engine import signature
from tests.support.factory import copy, file, good, report, run
from tests.support.registry_env import (
    OCI_MANIFEST,
    IndexImage,
    MultiPlatform,
    Registry,
    UploadedImage,
    canonical,
    descriptor,
    upload_spec,
)

pytestmark = pytest.mark.engine

WANTED = Wanted(wanted_files(ALL_RULES))


def conclusions(item: ImageReport) -> dict[str, object]:
    """signature() without where the base's name came from (an engine tag or a docker:// one)."""
    found = signature(item)
    found.pop("base")
    found["findings"] = [f[:2] + f[3:] for f in found["findings"]]  # type: ignore[attr-defined]
    return found


def only(targets: list[str], **options: object) -> ImageReport:
    done = audit(targets, **options)  # type: ignore[arg-type]
    assert not done.failures, done.failures
    assert len(done.images) == 1
    return done.images[0]


def open_images(source: RegistrySource, target: str, wanted: Wanted | None, cache: LayerCache,
                platform: str | None = None, *, all_platforms: bool = False) -> list[Image]:
    request = OpenRequest(wanted, cache, platform=Platform.parse(platform) if platform else None,
                          all_platforms=all_platforms)
    return source.open(parse_target(target), request)


def open_image(source: RegistrySource, target: str, wanted: Wanted | None, cache: LayerCache,
               platform: str | None = None) -> Image:
    (image,) = open_images(source, target, wanted, cache, platform)
    return image


# --------------------------------------------------------------------------- as the engine sees it


@pytest.mark.parametrize("local", ["imgaudit-fixture/demo-bad:classic",
                                   "imgaudit-fixture/demo-good:buildkit",
                                   "imgaudit-fixture/secrets:buildkit",
                                   "imgaudit-fixture/pip-root-cache:classic"])
@pytest.mark.parametrize("content", [True, False], ids=["content", "metadata"])
def test_same_conclusions_as_the_engine(pushed_sources: Mapping[str, str], local: str,
                                        content: bool, tmp_path: Path) -> None:
    pushed = pushed_sources
    base = ("imgaudit-fixture/python-base:3.11" if "pip" in local
            else "imgaudit-fixture/busybox-base:1")
    engine = only([local], content=content, base=base, cache_dir=tmp_path / "engine")
    remote = only([pushed[local]], content=content, base=pushed[base],
                  cache_dir=tmp_path / "registry")
    assert remote.image.reference == pushed[local]
    # as the engine names a pulled image: with the registry host
    assert remote.image.repo_tags == (pushed[local].removeprefix("docker://"),)
    assert remote.image.id == engine.image.id  # the config digest: the same image
    assert remote.image.digest.startswith("sha256:")
    assert remote.image.boundary.method == "option"
    assert remote.image.content_read is content
    if content:
        assert conclusions(remote) == conclusions(engine)
        assert remote.image.size == sum(layer.size for layer in engine.image.layers)
    else:
        # sizes are the registry's compressed ones: size findings may differ, nothing else
        assert remote.image.compressed_sizes and not engine.image.compressed_sizes
        assert remote.image.size < engine.image.size
        strip = {"IA101", "IA102"}
        ours, theirs = conclusions(remote), conclusions(engine)
        for found in (ours, theirs):
            found["findings"] = [f for f in found["findings"] if f[0] not in strip]  # type: ignore
            found["statuses"] = {k: v for k, v in found["statuses"].items()  # type: ignore
                                 if k not in strip}
        assert ours == theirs


def test_the_base_is_found_from_history_without_an_engine_image(
        pushed_sources: Mapping[str, str], tmp_path: Path) -> None:
    local = "imgaudit-fixture/demo-bad:classic"
    engine = only([local], cache_dir=tmp_path)
    remote = only([pushed_sources[local]], cache_dir=tmp_path)
    assert remote.image.boundary.method == "history"
    assert remote.image.boundary.own_from_layer == engine.image.boundary.own_from_layer
    assert (remote.score, remote.grade) == (engine.score, engine.grade)


def test_a_base_named_as_an_engine_image(pushed_sources: Mapping[str, str],
                                         tmp_path: Path) -> None:
    local = "imgaudit-fixture/pip-venv:classic"
    engine = only([local], base="imgaudit-fixture/python-base:3.11", cache_dir=tmp_path)
    remote = only([pushed_sources[local]], base="imgaudit-fixture/python-base:3.11",
                  cache_dir=tmp_path)
    assert remote.image.boundary == engine.image.boundary
    assert conclusions(remote) == conclusions(engine)


def test_a_base_that_is_not_a_base(pushed_sources: Mapping[str, str], tmp_path: Path) -> None:
    done = audit([pushed_sources["imgaudit-fixture/demo-bad:classic"]],
                 base=pushed_sources["imgaudit-fixture/python-base:3.11"], cache_dir=tmp_path)
    assert not done.images
    assert "is not a base of this image" in done.failures[0].message


def test_oci_layers_in_zstd_plain_and_gzip(scratch_registry: Registry, mixed_layers: UploadedImage,
                                           tmp_path: Path) -> None:
    body, _, _ = scratch_registry.api.manifest(mixed_layers.repository, "mixed")
    assert [layer["mediaType"].rsplit(".", 1)[-1] for layer in json.loads(body)["layers"][:3]] == [
        "tar+zstd", "tar", "tar+gzip"]
    engine = only([mixed_layers.source], cache_dir=tmp_path / "engine")
    remote = only([f"docker://{mixed_layers.reference}"], cache_dir=tmp_path / "registry")
    assert conclusions(remote) == conclusions(engine)


# --------------------------------------------------------------------------- what is downloaded


@pytest.fixture(scope="module")
def two_images(scratch_registry: Registry) -> tuple[UploadedImage, UploadedImage, dict[str, int]]:
    """Two factory images on one base (two layers), and every blob's size by digest."""
    first = good()
    second = good().with_own(run("echo hi > /srv/hi", file("srv/hi", "hi\n")),
                             copy("main.py /myapp/", file("myapp/main.py", "print(2)\n")))
    one = upload_spec(scratch_registry, "shared/one", "1", first)
    two = upload_spec(scratch_registry, "shared/two", "1", second)
    sizes = {}
    for image in (one, two):
        body, _, _ = scratch_registry.api.manifest(image.repository, "1")
        document = json.loads(body)
        for blob in [document["config"], *document["layers"]]:
            sizes[blob["digest"]] = blob["size"]
    return one, two, sizes


def test_metadata_only_downloads_the_config_alone(
        scratch_registry: Registry, two_images: tuple[UploadedImage, UploadedImage, dict[str, int]],
        tmp_path: Path) -> None:
    one = two_images[0]
    client = RegistryClient(scratch_registry.host)
    image = open_image(RegistrySource(client), f"docker://{one.reference}", None,
                       LayerCache(tmp_path))
    body, _, _ = scratch_registry.api.manifest("shared/one", "1")
    document = json.loads(body)
    assert client.blobs_downloaded == 1
    assert client.bytes_downloaded == document["config"]["size"]
    assert image.files is None and image.compressed_sizes
    assert [layer.size for layer in image.layers] == [d["size"] for d in document["layers"]]
    assert image.id == document["config"]["digest"]
    assert not any(LayerCache(tmp_path).has(layer.diff_id, WANTED) for layer in image.layers)


def test_a_warm_cache_downloads_no_layer_and_a_shared_base_is_fetched_once(
        scratch_registry: Registry, two_images: tuple[UploadedImage, UploadedImage, dict[str, int]],
        tmp_path: Path) -> None:
    one, two, sizes = two_images
    cache = LayerCache(tmp_path)
    client = RegistryClient(scratch_registry.host)
    source = RegistrySource(client)
    first = open_image(source, f"docker://{one.reference}", WANTED, cache)
    second = open_image(source, f"docker://{two.reference}", WANTED, cache)
    assert first.layers[0].diff_id == second.layers[0].diff_id  # the base
    assert first.layers[-1].diff_id != second.layers[-1].diff_id
    assert client.bytes_downloaded == sum(sizes.values())  # every unique blob, once
    assert client.blobs_downloaded == len(sizes)
    warm = RegistryClient(scratch_registry.host)
    again = open_image(RegistrySource(warm), f"docker://{one.reference}", WANTED, cache)
    assert warm.blobs_downloaded == 1  # the config only
    assert again.files == first.files
    assert report(again).score == report(first).score


def test_threads_share_one_download_of_a_common_layer(
        scratch_registry: Registry, two_images: tuple[UploadedImage, UploadedImage, dict[str, int]],
        tmp_path: Path) -> None:
    one, two, sizes = two_images
    cache = LayerCache(tmp_path)
    client = RegistryClient(scratch_registry.host)
    source = RegistrySource(client)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(target: str) -> None:
        try:
            start.wait()
            open_image(source, target, WANTED, cache)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"docker://{image.reference}",))
               for image in (one, two, one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    configs = {one.config_digest, two.config_digest}
    layers = {digest: size for digest, size in sizes.items() if digest not in configs}
    # each thread reads its image's config; every layer comes once, the base's included
    assert client.blobs_downloaded == 4 + len(layers)
    assert client.bytes_downloaded == 2 * sum(sizes[c] for c in configs) + sum(layers.values())


def test_factory_image_in_every_compression_audits_as_built(
        scratch_registry: Registry, tmp_path: Path) -> None:
    spec = good()
    expected = report(spec)
    for kind in ("gzip", "zstd", "none"):
        uploaded = upload_spec(scratch_registry, f"factory/{kind}", "1", spec,
                               compressions=(kind,))
        image = open_image(RegistrySource(RegistryClient(scratch_registry.host)),
                           f"docker://{uploaded.reference}", WANTED, LayerCache.disabled())
        assert image.files == expected.image.files
        assert report(image).score == expected.score


# --------------------------------------------------------------------------- platforms


@pytest.fixture(params=["oci", "docker", "attested"])
def index(request: pytest.FixtureRequest) -> IndexImage:
    """The OCI index and the Docker manifest list of `multiplatform_image`, and an OCI index
    that also names an attestation manifest."""
    if request.param == "attested":
        found: IndexImage = request.getfixturevalue("attested_index")
        return found
    multiplatform: MultiPlatform = request.getfixturevalue("multiplatform_image")
    return getattr(multiplatform, request.param)  # type: ignore[no-any-return]


def test_platforms_from_an_index_and_a_manifest_list(index: IndexImage, tmp_path: Path) -> None:
    source = RegistrySource()
    cache = LayerCache(tmp_path)
    amd64, arm64 = (index.platforms[p].digest for p in ("linux/amd64", "linux/arm64"))
    native = {"amd64": amd64, "arm64": arm64}.get(host_platform().architecture)
    target = f"docker://{index.reference}"
    if native is None:
        with pytest.raises(PlatformUnavailable):
            open_image(source, target, None, cache)
    else:  # no --platform: this machine's
        assert open_image(source, target, None, cache).digest == native
    amd = open_image(source, target, None, cache, "linux/amd64")
    assert amd.digest == amd64
    assert amd.architecture == "amd64" and amd.reference == target
    for wanted in ("linux/arm64", "linux/arm64/v8", "LINUX/ARM64"):
        arm = open_image(source, target, None, cache, wanted)
        assert arm.digest == arm64
        assert arm.architecture == "arm64/v8"
    with pytest.raises(PlatformUnavailable) as caught:
        open_image(source, target, None, cache, "linux/s390x")
    assert "has no image for linux/s390x" in caught.value.message
    assert "(it has: linux/amd64, linux/arm64/v8)" in caught.value.message
    assert "--all-platforms" in caught.value.hint
    every = open_images(source, target, None, cache, all_platforms=True)
    assert [i.digest for i in every] == [amd64, arm64]
    assert [i.reference for i in every] == [f"{target} (linux/amd64)",
                                            f"{target} (linux/arm64/v8)"]


def test_all_platforms_through_audit(attested_index: IndexImage, tmp_path: Path) -> None:
    target = f"docker://{attested_index.reference}"
    amd64, arm64 = (attested_index.platforms[p] for p in ("linux/amd64", "linux/arm64"))
    done = audit([target], registry=RegistryOptions(all_platforms=True), cache_dir=tmp_path)
    assert not done.failures
    first, second = done.images
    assert first.score == only([amd64.source], cache_dir=tmp_path).score
    assert second.score == only([arm64.source], cache_dir=tmp_path).score
    arm = only([target], registry=RegistryOptions(platform="linux/arm64"), cache_dir=tmp_path)
    assert arm.image.digest == arm64.digest


def test_a_single_image_of_another_platform(pushed_sources: Mapping[str, str],
                                            tmp_path: Path) -> None:
    target = pushed_sources["imgaudit-fixture/demo-good:buildkit"]
    with pytest.raises(PlatformUnavailable) as caught:
        open_image(RegistrySource(), target, None, LayerCache(tmp_path), "linux/mips64le")
    native = host_platform()  # the fixtures were built here
    assert f"single image for {native}, not linux/mips64le" in caught.value.message
    assert open_image(RegistrySource(), target, None, LayerCache(tmp_path),
                      str(native)).architecture == native.architecture


# --------------------------------------------------------------------------- what is refused


def test_a_tampered_layer_is_refused_and_never_cached(fresh_registry: Registry,
                                                      tmp_path: Path) -> None:
    image = upload_spec(fresh_registry, "app", "1", good())
    target = f"docker://{image.reference}"
    number, layer = max(enumerate(image.layers), key=lambda item: item[1].size)
    path = fresh_registry.blob_file(layer.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    cache = LayerCache(tmp_path)
    source = RegistrySource(RegistryClient(fresh_registry.host))
    with pytest.raises(DigestMismatch) as caught:
        open_image(source, target, WANTED, cache)
    assert layer.digest[:19] in caught.value.message
    assert not cache.has(layer.diff_id, WANTED)
    # metadata reads no layer, so it is not refused
    assert open_image(source, target, None, cache).layers[number].size == layer.size


def test_a_diff_id_that_lies_is_refused(registry: Registry, corrupt_image: UploadedImage,
                                        tmp_path: Path) -> None:
    lie, honest = corrupt_image.diff_ids[-1], corrupt_image.layers[-1].diff_id
    assert lie != honest
    cache = LayerCache(tmp_path)
    with pytest.raises(DigestMismatch) as caught:
        open_image(RegistrySource(RegistryClient(registry.host)),
                   f"docker://{corrupt_image.reference}", WANTED, cache)
    assert f"not the diff_id {lie}" in caught.value.message
    assert honest in caught.value.message
    assert not cache.has(lie, WANTED) and not cache.has(honest, WANTED)


def test_an_artifact_is_not_an_image(scratch_registry: Registry) -> None:
    api = scratch_registry.api
    config = b"{}"
    api.upload_blob("charts/app", config)
    body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor("application/vnd.cncf.helm.config.v1+json", config),
                      "layers": []})
    api.put_manifest("charts/app", "1", body, OCI_MANIFEST)
    with pytest.raises(UnsupportedManifest) as caught:
        open_image(RegistrySource(RegistryClient(scratch_registry.host)),
                   scratch_registry.target("charts/app", "1"), None, LayerCache.disabled())
    assert "not a container image" in caught.value.message
    assert "helm" in caught.value.message


def test_schema_1_is_named_not_read() -> None:
    from auditor.sources.documents import DOCKER_SCHEMA1_SIGNED
    from auditor.sources.registry.client import Manifest
    from auditor.sources.registry.reference import parse_reference

    old = Manifest("sha256:" + "1" * 64, DOCKER_SCHEMA1_SIGNED, b"{}",
                   {"schemaVersion": 1, "fsLayers": [], "signatures": []})
    source = RegistrySource(RegistryClient("127.0.0.1:9"))
    with pytest.raises(UnsupportedManifest) as caught:
        source._choose(source.clients("127.0.0.1:9"), parse_reference("docker://127.0.0.1:9/a:1"),
                       old, None, False)
    assert "Docker schema 1" in caught.value.message and "push the image again" in caught.value.hint


def test_digests_imgaudit_cannot_check_are_refused_before_any_read() -> None:
    """Layer and config digests of another algorithm, or malformed, and index entries named so:
    UnsupportedManifest, before a request is sent (the registry here does not exist)."""
    from auditor.sources.documents import image_entries
    from auditor.sources.registry.client import Manifest
    from auditor.sources.registry.reference import parse_reference
    from auditor.sources.registry.source import _Chosen

    good_digest = "sha256:" + "a" * 64
    source = RegistrySource(RegistryClient("127.0.0.1:9", retries=0))
    client = source.clients("127.0.0.1:9")
    parsed = parse_reference("docker://127.0.0.1:9/a:1")
    for config, layer, words in (
            ("md5:0123", good_digest, "its config by 'md5:0123'"),
            (good_digest, "sha256:0123", "layer 2 by 'sha256:0123'"),
            (good_digest, "sha384:" + "b" * 96, "layer 2 by 'sha384:"),
            ("sha256:" + "A" * 64, good_digest, "its config by 'sha256:AAAA")):
        document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": config, "size": 2},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": digest, "size": 1}
                               for digest in (good_digest, layer)]}
        manifest = Manifest("sha256:" + "1" * 64, OCI_MANIFEST, b"{}", document)
        with pytest.raises(UnsupportedManifest) as caught:
            source._image(client, parsed, "x", _Chosen(manifest, None), WANTED,
                          LayerCache.disabled(), None, None)
        assert words in caught.value.message and "sha256" in caught.value.hint
    assert client.requests_sent == 0
    with pytest.raises(UnsupportedManifest, match="its manifest 2 by 'md5:1'"):
        image_entries({"manifests": [
            {"digest": good_digest, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "md5:1", "platform": {"os": "linux", "architecture": "arm64"}}]})
