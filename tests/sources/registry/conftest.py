"""What the registry-source tests put into the test registries of tests/registry_env.py, all in
`scratch_registry` (the shared `registry` is only read): fixture images pushed with `docker push`
beside their bases, one with zstd, plain and gzip layers, and an index with an attestation."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import pytest

from tests.support.engine import fixture_tag
from tests.support.registry_env import (
    OCI_INDEX,
    IndexImage,
    Registry,
    RegistryAPI,
    UploadedImage,
    docker_push,
    upload_fixture,
    upload_index,
)

# Pushed with `docker push`: repository -> {tag: (fixture, builder)}, the bases too, so that a
# base can be named as docker://. Each chain is pushed in order, its base first, so that the
# images after it mount the base's layers instead of sending them again; chains go in parallel.
CHAINS: tuple[Mapping[str, Mapping[str, tuple[str, str]]], ...] = (
    {"fixtures/python-base": {"3.11": ("python-base", "3.11")},
     "fixtures/pip-root-cache": {"classic": ("pip-root-cache", "classic")},
     "fixtures/pip-venv": {"classic": ("pip-venv", "classic")}},
    {"fixtures/busybox-base": {"1": ("busybox-base", "1")},
     "fixtures/demo-bad": {"classic": ("demo-bad", "classic")},
     "fixtures/demo-good": {"buildkit": ("demo-good", "buildkit")},
     "fixtures/secrets": {"buildkit": ("secrets", "buildkit")}},
)


@pytest.fixture(scope="session")
def pushed_sources(scratch_registry: Registry, fixture_images: list[str]) -> Mapping[str, str]:
    """The CHAINS pushed to `scratch_registry`: engine tag -> docker:// target."""

    def push(chain: Mapping[str, Mapping[str, tuple[str, str]]]) -> dict[str, str]:
        api = RegistryAPI(scratch_registry.host)
        return {image.source: f"docker://{reference}"
                for repository, tags in chain.items()
                for reference, image in docker_push(api, repository, tags).items()}

    with ThreadPoolExecutor(max_workers=len(CHAINS)) as pool:
        jobs = [pool.submit(push, chain) for chain in CHAINS]
        return MappingProxyType({local: target for job in jobs
                                 for local, target in job.result().items()})


@pytest.fixture(scope="session")
def mixed_layers(scratch_registry: Registry, fixture_images: list[str]) -> UploadedImage:
    """demo-bad:classic as an OCI image whose layers are zstd, plain tar and gzip in turn (the
    config as built: the same image as the engine's)."""
    return upload_fixture(scratch_registry, "fixtures/demo-bad-oci", "mixed",
                          fixture_tag("demo-bad", "classic"), compressions=("zstd", "none", "gzip"))


@pytest.fixture(scope="session")
def attested_index(scratch_registry: Registry, fixture_images: list[str]) -> IndexImage:
    """An OCI index of the two platforms of `multiplatform_image` and a BuildKit-style
    attestation manifest, which is no platform."""
    return upload_index(scratch_registry, "multiarch/attested", "index", OCI_INDEX,
                        attestation=True)
