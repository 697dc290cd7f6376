"""A registry's digests are parsed before they become a URL: a manifest or index (served through
a proxy in front of the real test registry, since the registry itself would not store one) that
names its manifest, config or a layer by what is not a digest is one line with exit 2, or a
recorded failure in a sweep, and nothing is fetched by it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.sources.documents import OCI_INDEX, OCI_MANIFEST, host_platform
from tests.support.cli import assert_one_line_error, imgaudit
from tests.support.dockerconfig import docker_config
from tests.support.factory import good
from tests.support.faultproxy import FaultKind, FaultProxy
from tests.support.registry_env import Registry, canonical, upload_spec

REPOSITORY = "ia-hostile/digests"
CLIMB = "sha256:../../../../v2/ia-hostile/digests/blobs/x"


@pytest.fixture(scope="module")
def uploaded(scratch_registry: Registry) -> dict[str, Any]:
    """A valid image in the registry: its manifest, which each test alters in the proxy."""
    upload_spec(scratch_registry, REPOSITORY, "1", good())
    body, _, _ = scratch_registry.api.manifest(REPOSITORY, "1")
    document: dict[str, Any] = json.loads(body)
    return document


@pytest.fixture
def proxy(scratch_registry: Registry) -> Iterator[FaultProxy]:
    with FaultProxy(scratch_registry.host) as running:
        yield running


@pytest.fixture
def env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cli_env, "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {}))}


def _index(digest: str) -> dict[str, Any]:
    here = host_platform()
    platform = {"os": here.os, "architecture": here.architecture}
    if here.variant:
        platform["variant"] = here.variant
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": 100, "platform": platform}]}


def _altered(manifest: dict[str, Any], place: str, bad: str) -> dict[str, Any]:
    if place == "index":
        return _index(bad)
    altered: dict[str, Any] = json.loads(json.dumps(manifest))
    if place == "config":
        altered["config"]["digest"] = bad
    else:
        altered["layers"][-1]["digest"] = bad
    return altered


CASES = [("index", CLIMB), ("config", "sha256:" + "A" * 64), ("layer", "sha512:abc"),
         ("layer", "md5:" + "0" * 32), ("config", CLIMB)]


def _serve(proxy: FaultProxy, document: dict[str, Any]) -> None:
    body = canonical(document)
    proxy.add(FaultKind.FLOOD, rf"/v2/{REPOSITORY}/manifests/1$", method="GET", status=200,
              body=body, size=len(body))


def _fetched_by(proxy: FaultProxy, bad: str) -> list[str]:
    hexpart = bad.partition(":")[2]
    return [e.path for e in proxy.exchanges if ".." in e.path or hexpart in e.path]


@pytest.mark.parametrize(("place", "bad"), CASES)
def test_a_bad_digest_from_a_registry_is_one_line(
    uploaded: dict[str, Any], proxy: FaultProxy, env: dict[str, str], place: str, bad: str
) -> None:
    _serve(proxy, _altered(uploaded, place, bad))
    done = imgaudit(f"docker://{proxy.host}/{REPOSITORY}:1", "--format", "json", env=env)
    assert_one_line_error(done, "not a digest imgaudit can check", bad[:20])
    assert "internal error" not in done.stderr
    assert _fetched_by(proxy, bad) == []


@pytest.mark.parametrize(("place", "bad"), [CASES[0], CASES[2]])
def test_a_bad_digest_in_a_sweep_is_a_recorded_failure(
    uploaded: dict[str, Any], proxy: FaultProxy, env: dict[str, str], tmp_path: Path,
    place: str, bad: str
) -> None:
    _serve(proxy, _altered(uploaded, place, bad))
    db = tmp_path / "sweep.db"
    done = imgaudit("sweep", proxy.host, "--repo", REPOSITORY, "--db", str(db), "--quiet",
                    env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "not a digest imgaudit can check" in done.stderr
    assert _fetched_by(proxy, bad) == []
    report = imgaudit("report", str(db), "--format", "json", env=env)
    assert report.returncode == 0, report.stderr
    assert "not a digest imgaudit can check" in report.stdout


@pytest.mark.parametrize("bad", ["../../v2/_catalog", "ia-hostile/x?n=1", "ia-hostile/%2e%2e",
                                 "IA-HOSTILE/UPPER", "ia-hostile/" + "a" * 300])
def test_a_catalog_name_that_is_no_repository_is_refused_and_the_rest_swept(
    uploaded: dict[str, Any], proxy: FaultProxy, env: dict[str, str], tmp_path: Path, bad: str
) -> None:
    body = canonical({"repositories": [REPOSITORY, bad]})
    proxy.add(FaultKind.FLOOD, r"/v2/_catalog", method="GET", status=200, body=body,
              size=len(body))
    db = tmp_path / "sweep.db"
    done = imgaudit("sweep", proxy.host, "--db", str(db), "--quiet", env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "is not a repository name" in done.stderr
    asked = [e.path for e in proxy.exchanges if not e.path.startswith("/v2/_catalog")]
    assert asked and all(p.startswith((f"/v2/{REPOSITORY}/", "/v2/token", "/v2/?", "/v2/"))
                         for p in asked)
    assert not any(bad.split("/")[-1][:20] in p for p in asked), asked
    report = imgaudit("report", str(db), "--format", "json", env=env)
    assert report.returncode == 0, report.stderr
    assert f'"{REPOSITORY}"' in report.stdout  # the good repository was still audited
