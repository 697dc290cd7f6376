"""Registries for the registry-source tests, each the real `docker-registry` binary on loopback:
`registry` (anonymous) with images pushed by `docker push` (`pushed`) and over the API
(`multiplatform`, `oci_mixed`, `push_spec`), `basic_registry` (htpasswd) and `token_registry`
(Bearer tokens from a token server the test runs)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.conftest import DOCKER, fixture_tag
from tests.factory import ImageSpec
from tests.sources.registries import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    REGISTRY_BIN,
    Registry,
    TokenServer,
    bcrypt_line,
    copy_image,
    sha256,
    start_registry,
)

# fixture images pushed with `docker push`, as (name, builder); their bases go too
PUSHED = (("demo-bad", "classic"), ("demo-good", "buildkit"), ("secrets", "buildkit"),
          ("pip-root-cache", "classic"), ("pip-venv", "classic"))
BASES = ("imgaudit-fixture/busybox-base:1", "imgaudit-fixture/python-base:3.11")
USER, PASSWORD = "auditor", "pa55-Word-registry-7f3e"


@pytest.fixture(scope="session")
def registry_binary() -> Path:
    if not REGISTRY_BIN.exists():
        message = f"{REGISTRY_BIN} is missing (apt-get install docker-registry)"
        if os.environ.get("IMGAUDIT_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return REGISTRY_BIN


@pytest.fixture(scope="session")
def registry(registry_binary: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Registry]:
    server = start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture
def fresh_registry(registry_binary: Path, tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test's own, for tests that damage its storage."""
    server = start_registry(tmp_path / "registry")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pushed(registry: Registry, fixture_images: list[str]) -> dict[str, str]:
    """`docker push` of a few fixture images and their bases: engine tag -> docker:// target."""
    targets = {}
    for local in [*BASES, *(fixture_tag(name, builder) for name, builder in PUSHED)]:
        repo_tag = local.replace("imgaudit-fixture/", "fixtures/")
        remote = f"{registry.host}/{repo_tag}"
        subprocess.run([DOCKER, "tag", local, remote], check=True)
        try:
            subprocess.run([DOCKER, "push", remote], check=True, capture_output=True)
        finally:
            subprocess.run([DOCKER, "rmi", remote], check=True, capture_output=True)
        targets[local] = f"docker://{remote}"
    return targets


def recompress(tar: bytes, kind: str) -> tuple[bytes, str]:
    """A layer tar as `kind` ("gzip", "zstd", "none") and its OCI media type."""
    if kind == "gzip":
        return gzip.compress(tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if kind == "zstd":
        return (zstandard.ZstdCompressor().compress(tar),
                "application/vnd.oci.image.layer.v1.tar+zstd")
    return tar, "application/vnd.oci.image.layer.v1.tar"


def push_image(registry: Registry, repo: str, tag: str, config: dict[str, Any],
               tars: list[bytes], kinds: list[str] | None = None, oci: bool = True) -> str:
    """An image (config document, uncompressed layer tars) pushed as an OCI (or Docker) manifest
    with each layer compressed as `kinds` says (default gzip); returns the manifest digest."""
    kinds = kinds or ["gzip"] * len(tars)
    raw_config = json.dumps(config).encode()
    layers = []
    for tar, kind in zip(tars, kinds, strict=True):
        blob, media_type = recompress(tar, kind)
        if not oci:
            media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip"
        layers.append({"mediaType": media_type, "digest": registry.push_blob(repo, blob),
                       "size": len(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json" if oci else
                   "application/vnd.docker.container.image.v1+json",
                   "digest": registry.push_blob(repo, raw_config), "size": len(raw_config)},
        "layers": layers,
    }
    return registry.push_manifest(repo, tag, manifest)


PushSpec = Callable[..., str]


@pytest.fixture
def push_spec() -> PushSpec:
    """push_spec(registry, repo, tag, spec, kinds=None) -> docker:// target of a factory image."""

    def push(registry: Registry, repo: str, tag: str, spec: ImageSpec,
             kinds: list[str] | None = None) -> str:
        push_image(registry, repo, tag, spec.config_document(), spec.layer_tars(), kinds)
        return registry.ref(repo, tag)

    return push


def layers_of(registry: Registry, repo: str, tag: str) -> tuple[dict[str, Any], list[bytes]]:
    """An image's config document and its layers, uncompressed."""
    document, _ = registry.get_manifest(repo, tag)
    config = json.loads(registry.get_blob(repo, document["config"]["digest"]))
    tars = [gzip.decompress(registry.get_blob(repo, layer["digest"]))
            for layer in document["layers"]]
    return config, tars


@pytest.fixture(scope="session")
def oci_mixed(registry: Registry, pushed: dict[str, str]) -> str:
    """demo-bad:classic as an OCI image whose first layer is zstd, second plain tar, rest gzip
    (the same diff_ids and config, so the same audit)."""
    config, tars = layers_of(registry, "fixtures/demo-bad", "classic")
    kinds = ["zstd", "none", *["gzip"] * (len(tars) - 2)]
    push_image(registry, "fixtures/demo-bad-oci", "mixed", config, tars, kinds)
    return registry.ref("fixtures/demo-bad-oci", "mixed")


@dataclass(frozen=True)
class MultiPlatform:
    index: str  # docker:// target of an OCI index: linux/amd64, linux/arm64/v8, an attestation
    manifest_list: str  # docker:// target of a Docker manifest list: the same two platforms
    amd64: str  # manifest digests
    arm64: str


@pytest.fixture(scope="session")
def multiplatform(registry: Registry, pushed: dict[str, str]) -> MultiPlatform:
    """demo-good:buildkit as linux/amd64 and demo-bad:classic relabelled linux/arm64/v8, in one
    OCI index (with a BuildKit-style attestation) and one Docker manifest list."""
    repo = "fixtures/multi"
    good = copy_image(registry, "fixtures/demo-good", "buildkit", registry, repo, "amd64")
    config, tars = layers_of(registry, "fixtures/demo-bad", "classic")
    config = {**config, "architecture": "arm64", "variant": "v8"}
    bad = push_image(registry, repo, "arm64", config, tars, oci=False)
    entries = []
    for digest, tag, platform in ((good, "amd64", {"os": "linux", "architecture": "amd64"}),
                                  (bad, "arm64", {"os": "linux", "architecture": "arm64",
                                                  "variant": "v8"})):
        _, raw = registry.get_manifest(repo, tag)
        entries.append({"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(raw),
                        "platform": platform})
    registry.push_manifest(repo, "list", {"schemaVersion": 2, "mediaType": DOCKER_LIST,
                                          "manifests": entries})
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1"}).encode()
    attestation_config = json.dumps({"architecture": "unknown", "os": "unknown"}).encode()
    attestation = registry.push_manifest(repo, "attestation", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": registry.push_blob(repo, attestation_config),
                   "size": len(attestation_config)},
        "layers": [{"mediaType": "application/vnd.in-toto+json",
                    "digest": registry.push_blob(repo, statement), "size": len(statement)}],
    })
    _, raw = registry.get_manifest(repo, "attestation")
    registry.push_manifest(repo, "index", {
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [*entries, {
            "mediaType": OCI_MANIFEST, "digest": attestation, "size": len(raw),
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": good},
        }],
    })
    assert sha256(raw) == attestation
    return MultiPlatform(registry.ref(repo, "index"), registry.ref(repo, "list"), good, bad)


@pytest.fixture(scope="session")
def basic_registry(registry_binary: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Registry]:
    """A registry behind htpasswd Basic auth (USER, PASSWORD)."""
    folder = tmp_path_factory.mktemp("basic-registry")
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(bcrypt_line(USER, PASSWORD) + "\n", encoding="utf-8")
    server = start_registry(
        folder, f"auth:\n  htpasswd:\n    realm: imgaudit-test\n    path: {htpasswd}\n")
    import base64

    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    server.auth_header = lambda scope: {"Authorization": basic}
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(tmp_path_factory.mktemp("token"), USER, PASSWORD,
                         service="imgaudit-test-registry", issuer="imgaudit-test-issuer")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(registry_binary: Path, token_server: TokenServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry that takes only Bearer tokens signed by token_server (which wants USER and
    PASSWORD for any access)."""
    server = start_registry(tmp_path_factory.mktemp("token-registry"), token_server.auth_section())

    def bearer(scope: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + token_server.sign(scope, token_server.service)}

    server.auth_header = bearer
    yield server
    server.stop()
