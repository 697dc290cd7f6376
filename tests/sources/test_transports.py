"""The transport table (auditor/sources/__init__.py): which source reads a target, by its
prefix, and Sources, one of each for a run, sharing one BaseFinder."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import ArchiveError, ImageNotFound, RegistryUnavailable
from auditor.sources import (
    TRANSPORTS,
    LayerCache,
    OpenRequest,
    Sources,
    Target,
    parse_target,
)
from auditor.sources.archive import ArchiveSource
from auditor.sources.base import BaseFinder
from auditor.sources.daemon import DaemonSource, PodmanSource
from auditor.sources.registry import ClientPool, RegistrySource
from tests.support.engine import CountingEngine, fixture_tag


@pytest.mark.parametrize(("text", "transport", "rest"), [
    ("docker-archive:x.tar:app:1", "docker-archive", "x.tar:app:1"),
    ("oci-archive:x.tar", "oci-archive", "x.tar"),
    ("oci:dir", "oci", "dir"),
    ("docker-daemon:app:1", "docker-daemon", "app:1"),
    ("podman:localhost/app:1", "podman", "localhost/app:1"),
    ("docker-daemon:podman:4", "docker-daemon", "podman:4"),  # an image named podman
    ("docker://reg.io/app:1", "docker", "reg.io/app:1"),
    ("app:1", "", "app:1"),
    ("app", "", "app"),
    ("docker:app", "", "docker:app"),  # only docker:// names a registry
    (":app", "", ":app"),
    ("sha256:abc", "", "sha256:abc"),
])
def test_parse_target(text: str, transport: str, rest: str) -> None:
    target = parse_target(text)
    assert target == Target(transport, rest)
    assert target.text == text


def test_every_transport_has_its_source() -> None:
    assert dict(TRANSPORTS) == {
        "docker-archive": ArchiveSource, "oci-archive": ArchiveSource, "oci": ArchiveSource,
        "docker-daemon": DaemonSource, "podman": PodmanSource, "docker": RegistrySource,
        "": DaemonSource,
    }


def test_each_transport_goes_to_its_source(tmp_path: Path) -> None:
    sources = Sources(ClientPool(retries=0))
    request = OpenRequest(None, LayerCache.disabled())
    for prefix in ("docker-archive", "oci-archive", "oci"):
        with pytest.raises(ArchiveError, match="no archive at"):
            sources.open(f"{prefix}:{tmp_path}/none.tar", request)
    with pytest.raises(RegistryUnavailable):
        sources.open("docker://127.0.0.1:9/app:1", request)


@pytest.mark.engine
@pytest.mark.usefixtures("fixture_images")
def test_a_run_shares_one_base_finder() -> None:
    """Sources' sources share one BaseFinder: auditing several engine images lists the local
    images once, and a docker-daemon: target reads what the bare name reads."""
    engine = CountingEngine()
    sources = Sources(bases=BaseFinder(engine))
    request = OpenRequest(None, LayerCache.disabled())
    (seed,) = sources.open(fixture_tag("seed", "buildkit"), request)
    (venv,) = sources.open(f"docker-daemon:{fixture_tag('pip-venv', 'buildkit')}", request)
    assert seed.boundary.method == venv.boundary.method == "local-image"
    assert venv.reference == fixture_tag("pip-venv", "buildkit")
    assert engine.calls["image_ids", ""] == 1
    with pytest.raises(ImageNotFound):
        sources.open("docker-daemon:imgaudit-fixture/no-such-fixture:1", request)
