"""Registry images as a source, against the real `docker-registry` binary: the same conclusions
as the engine for the same image, metadata-only audits that download no layer, a warm cache that
downloads none, a base shared by images downloaded once, platforms picked from lists and indexes,
gzip, zstd and plain layers, and a tampered blob or diff_id refused, never reported."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from auditor import audit
from auditor.errors import DigestMismatch, PlatformUnavailable, UnsupportedManifest
from auditor.model import ImageReport
from auditor.rules import ALL_RULES, wanted_files
from auditor.sources import LayerCache, Wanted
from auditor.sources.registry import Platform, RegistryClient, RegistrySource, host_platform
from auditor.sources.registry.source import RegistryOptions
from tests.engine import signature
from tests.factory import copy, file, good, report, run
from tests.sources.conftest import MultiPlatform, PushSpec, push_image
from tests.sources.registries import Registry

WANTED = Wanted(wanted_files(ALL_RULES))
needs_engine = pytest.mark.engine


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


# --------------------------------------------------------------------------- as the engine sees it


@needs_engine
@pytest.mark.parametrize("local", ["imgaudit-fixture/demo-bad:classic",
                                   "imgaudit-fixture/demo-good:buildkit",
                                   "imgaudit-fixture/secrets:buildkit",
                                   "imgaudit-fixture/pip-root-cache:classic"])
@pytest.mark.parametrize("content", [True, False], ids=["content", "metadata"])
def test_same_conclusions_as_the_engine(pushed: dict[str, str], local: str, content: bool,
                                        tmp_path: Path) -> None:
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


@needs_engine
def test_the_base_is_found_from_history_without_an_engine_image(pushed: dict[str, str],
                                                                tmp_path: Path) -> None:
    local = "imgaudit-fixture/demo-bad:classic"
    engine = only([local], cache_dir=tmp_path)
    remote = only([pushed[local]], cache_dir=tmp_path)
    assert remote.image.boundary.method == "history"
    assert remote.image.boundary.own_from_layer == engine.image.boundary.own_from_layer
    assert (remote.score, remote.grade) == (engine.score, engine.grade)


@needs_engine
def test_a_base_named_as_an_engine_image(pushed: dict[str, str], tmp_path: Path) -> None:
    local = "imgaudit-fixture/pip-venv:classic"
    engine = only([local], base="imgaudit-fixture/python-base:3.11", cache_dir=tmp_path)
    remote = only([pushed[local]], base="imgaudit-fixture/python-base:3.11", cache_dir=tmp_path)
    assert remote.image.boundary == engine.image.boundary
    assert conclusions(remote) == conclusions(engine)


@needs_engine
def test_a_base_that_is_not_a_base(pushed: dict[str, str], tmp_path: Path) -> None:
    done = audit([pushed["imgaudit-fixture/demo-bad:classic"]],
                 base=pushed["imgaudit-fixture/python-base:3.11"], cache_dir=tmp_path)
    assert not done.images
    assert "is not a base of this image" in done.failures[0].message


@needs_engine
def test_oci_layers_in_zstd_plain_and_gzip(oci_mixed: str, pushed: dict[str, str],
                                           registry: Registry, tmp_path: Path) -> None:
    document, _ = registry.get_manifest("fixtures/demo-bad-oci", "mixed")
    assert [layer["mediaType"].rsplit(".", 1)[-1] for layer in document["layers"][:3]] == [
        "tar+zstd", "tar", "tar+gzip"]
    engine = only(["imgaudit-fixture/demo-bad:classic"], cache_dir=tmp_path / "engine")
    remote = only([oci_mixed], cache_dir=tmp_path / "registry")
    assert conclusions(remote) == conclusions(engine)


# --------------------------------------------------------------------------- what is downloaded


@pytest.fixture(scope="module")
def two_images(registry: Registry) -> tuple[str, str, dict[str, int]]:
    """Two factory images on one base (two layers), and every blob's size by digest."""
    first = good()
    second = good().with_own(run("echo hi > /srv/hi", file("srv/hi", "hi\n")),
                             copy("main.py /myapp/", file("myapp/main.py", "print(2)\n")))
    push_image(registry, "shared/one", "1", first.config_document(), first.layer_tars())
    push_image(registry, "shared/two", "1", second.config_document(), second.layer_tars())
    sizes = {}
    for repo in ("shared/one", "shared/two"):
        document, _ = registry.get_manifest(repo, "1")
        for blob in [document["config"], *document["layers"]]:
            sizes[blob["digest"]] = blob["size"]
    return registry.ref("shared/one", "1"), registry.ref("shared/two", "1"), sizes


def test_metadata_only_downloads_the_config_alone(registry: Registry,
                                                  two_images: tuple[str, str, dict[str, int]],
                                                  tmp_path: Path) -> None:
    target = two_images[0]
    client = RegistryClient(registry.host)
    image = RegistrySource(client).open(target, None, LayerCache(tmp_path))
    document, _ = registry.get_manifest("shared/one", "1")
    assert client.blobs_downloaded == 1
    assert client.bytes_downloaded == document["config"]["size"]
    assert image.files is None and image.compressed_sizes
    assert [layer.size for layer in image.layers] == [d["size"] for d in document["layers"]]
    assert image.id == document["config"]["digest"]
    assert not any(LayerCache(tmp_path).has(layer.diff_id, WANTED) for layer in image.layers)


def test_a_warm_cache_downloads_no_layer_and_a_shared_base_is_fetched_once(
        registry: Registry, two_images: tuple[str, str, dict[str, int]], tmp_path: Path) -> None:
    one, two, sizes = two_images
    cache = LayerCache(tmp_path)
    client = RegistryClient(registry.host)
    source = RegistrySource(client)
    first = source.open(one, WANTED, cache)
    second = source.open(two, WANTED, cache)
    assert first.layers[0].diff_id == second.layers[0].diff_id  # the base
    assert first.layers[-1].diff_id != second.layers[-1].diff_id
    assert client.bytes_downloaded == sum(sizes.values())  # every unique blob, once
    assert client.blobs_downloaded == len(sizes)
    warm = RegistryClient(registry.host)
    again = RegistrySource(warm).open(one, WANTED, cache)
    assert warm.blobs_downloaded == 1  # the config only
    assert again.files == first.files
    assert report(again).score == report(first).score


def test_threads_share_one_download_of_a_common_layer(
        registry: Registry, two_images: tuple[str, str, dict[str, int]], tmp_path: Path) -> None:
    one, two, sizes = two_images
    cache = LayerCache(tmp_path)
    client = RegistryClient(registry.host)
    source = RegistrySource(client)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(target: str) -> None:
        try:
            start.wait()
            source.open(target, WANTED, cache)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in (one, two, one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    configs = {registry.get_manifest(repo, "1")[0]["config"]["digest"]
               for repo in ("shared/one", "shared/two")}
    layers = {digest: size for digest, size in sizes.items() if digest not in configs}
    # each thread reads its image's config; every layer comes once, the base's included
    assert client.blobs_downloaded == 4 + len(layers)
    assert client.bytes_downloaded == 2 * sum(sizes[c] for c in configs) + sum(layers.values())


def test_factory_image_in_every_compression_audits_as_built(
        registry: Registry, push_spec: PushSpec, tmp_path: Path) -> None:
    spec = good()
    expected = report(spec)
    for kind in ("gzip", "zstd", "none"):
        target = push_spec(registry, f"factory/{kind}", "1", spec,
                           [kind] * len(spec.layer_tars()))
        image = RegistrySource(RegistryClient(registry.host)).open(
            target, WANTED, LayerCache.disabled())
        assert image.files == expected.image.files
        assert report(image).score == expected.score


# --------------------------------------------------------------------------- platforms


@needs_engine
def test_platforms_from_an_index_and_a_manifest_list(multiplatform: MultiPlatform,
                                                     registry: Registry, tmp_path: Path) -> None:
    source = RegistrySource(RegistryClient(registry.host))
    cache = LayerCache(tmp_path)
    native = {"amd64": multiplatform.amd64, "arm64": multiplatform.arm64}.get(
        host_platform().architecture)
    for target in (multiplatform.index, multiplatform.manifest_list):
        if native is None:
            with pytest.raises(PlatformUnavailable):
                source.open(target, None, cache)
        else:  # no --platform: this machine's
            assert source.open(target, None, cache).digest == native
        amd = source.open(target, None, cache, platform="linux/amd64")
        assert amd.digest == multiplatform.amd64
        assert amd.architecture == "amd64" and amd.reference == target
        for wanted in ("linux/arm64", "linux/arm64/v8", "LINUX/ARM64"):
            arm = source.open(target, None, cache, platform=wanted)
            assert arm.digest == multiplatform.arm64
            assert arm.architecture == "arm64/v8"
        with pytest.raises(PlatformUnavailable) as caught:
            source.open(target, None, cache, platform="linux/s390x")
        assert "has no image for linux/s390x" in caught.value.message
        assert "(it has: linux/amd64, linux/arm64/v8)" in caught.value.message
        assert "--all-platforms" in caught.value.hint
        every = source.open_all(target, None, cache, all_platforms=True)
        assert [i.digest for i in every] == [multiplatform.amd64, multiplatform.arm64]
        assert [i.reference for i in every] == [f"{target} (linux/amd64)",
                                                f"{target} (linux/arm64/v8)"]


@needs_engine
def test_all_platforms_through_audit(multiplatform: MultiPlatform, tmp_path: Path) -> None:
    done = audit([multiplatform.index], registry=RegistryOptions(all_platforms=True),
                 cache_dir=tmp_path)
    assert not done.failures
    good_one, bad_one = done.images
    assert good_one.score == only(["imgaudit-fixture/demo-good:buildkit"],
                                  cache_dir=tmp_path).score
    assert bad_one.score == only(["imgaudit-fixture/demo-bad:classic"], cache_dir=tmp_path).score
    arm = only([multiplatform.index], registry=RegistryOptions(platform="linux/arm64"),
               cache_dir=tmp_path)
    assert arm.image.digest == multiplatform.arm64


@needs_engine
def test_a_single_image_of_another_platform(pushed: dict[str, str], tmp_path: Path) -> None:
    target = pushed["imgaudit-fixture/demo-good:buildkit"]
    with pytest.raises(PlatformUnavailable) as caught:
        RegistrySource().open(target, None, LayerCache(tmp_path), platform="linux/mips64le")
    native = host_platform()  # the fixtures were built here
    assert f"single image for {native}, not linux/mips64le" in caught.value.message
    assert RegistrySource().open(target, None, LayerCache(tmp_path),
                                 platform=native).architecture == native.architecture


def test_platform_parsing() -> None:
    assert Platform.parse("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert str(Platform("linux", "arm64", "v8")) == "linux/arm64/v8"
    assert Platform("linux", "arm64").matches(Platform("linux", "arm64", "v8"))
    assert Platform("linux", "arm64", "v8").matches(Platform("linux", "arm64"))
    assert not Platform("linux", "arm", "v7").matches(Platform("linux", "arm", "v6"))
    for bad in ("linux", "linux/", "a/b/c/d"):
        with pytest.raises(Exception, match="not a platform"):
            Platform.parse(bad)


# --------------------------------------------------------------------------- what is refused


def test_a_tampered_layer_is_refused_and_never_cached(fresh_registry: Registry,
                                                      push_spec: PushSpec,
                                                      tmp_path: Path) -> None:
    target = push_spec(fresh_registry, "app", "1", good())
    document, _ = fresh_registry.get_manifest("app", "1")
    layer = max(document["layers"], key=lambda item: item["size"])
    path = fresh_registry.blob_file(layer["digest"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    cache = LayerCache(tmp_path)
    source = RegistrySource(RegistryClient(fresh_registry.host))
    with pytest.raises(DigestMismatch) as caught:
        source.open(target, WANTED, cache)
    assert layer["digest"][:19] in caught.value.message
    config = json.loads(fresh_registry.get_blob("app", document["config"]["digest"]))
    number = document["layers"].index(layer)
    assert not cache.has(config["rootfs"]["diff_ids"][number], WANTED)
    # metadata reads no layer, so it is not refused
    assert source.open(target, None, cache).layers[number].size == layer["size"]


def test_a_diff_id_that_lies_is_refused(registry: Registry, tmp_path: Path) -> None:
    spec = good()
    config = spec.config_document()
    tars = spec.layer_tars()
    honest = config["rootfs"]["diff_ids"][-1]
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
    push_image(registry, "liar/app", "1", config, tars)
    cache = LayerCache(tmp_path)
    with pytest.raises(DigestMismatch) as caught:
        RegistrySource(RegistryClient(registry.host)).open(
            registry.ref("liar/app", "1"), WANTED, cache)
    assert "not the diff_id sha256:0000" in caught.value.message
    assert honest in caught.value.message
    assert not cache.has("sha256:" + "0" * 64, WANTED) and not cache.has(honest, WANTED)


def test_an_artifact_is_not_an_image(registry: Registry) -> None:
    blob = registry.push_blob("charts/app", b"{}")
    registry.push_manifest("charts/app", "1", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": blob,
                   "size": 2},
        "layers": []})
    with pytest.raises(UnsupportedManifest) as caught:
        RegistrySource(RegistryClient(registry.host)).open(
            registry.ref("charts/app", "1"), None, LayerCache.disabled())
    assert "not a container image" in caught.value.message
    assert "helm" in caught.value.message



def test_schema_1_is_named_not_read() -> None:
    from auditor.sources.registry.client import DOCKER_SCHEMA1_SIGNED, Manifest
    from auditor.sources.registry.reference import parse_reference

    old = Manifest("sha256:" + "1" * 64, DOCKER_SCHEMA1_SIGNED, b"{}",
                   {"schemaVersion": 1, "fsLayers": [], "signatures": []})
    source = RegistrySource(RegistryClient("127.0.0.1:9"))
    with pytest.raises(UnsupportedManifest) as caught:
        source._choose(source.clients("127.0.0.1:9"), parse_reference("docker://127.0.0.1:9/a:1"),
                       old, None, False)
    assert "Docker schema 1" in caught.value.message and "push the image again" in caught.value.hint
