"""Layers read from podman's containers/storage overlay store, against a real podman service: each
fixture's JSON report by storage read equals the one by podman's export, each layer scans as its
exported tar, and whatever does not line up (another driver, a remote or rootless podman, a path
outside the graph root, layers that unpack to other diff IDs) is refused, for the export."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import pytest

from auditor import audit
from auditor.formats import render
from auditor.model.policy import Policy, ReadPath
from auditor.rules import prepare
from auditor.sources import Wanted
from auditor.sources.layers import scan_layer
from auditor.sources.podman_storage import ContainersStore, podman_store
from auditor.sources.storage import StorageUnreadable, scan_stored_layer
from tests.support.engine import BUILDERS, fixture_tag, layer_count
from tests.support.podman import COMPARED, PodmanService

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
WANTED = Wanted(prepare(Policy())[2])


def podman_info(service: PodmanService) -> dict[str, Any]:
    info: dict[str, Any] = docker.DockerClient(base_url=service.url).info()
    return info


@pytest.fixture
def store(podman_loaded: PodmanService) -> ContainersStore:
    """Podman's store; the tests that need it skip where it cannot be read."""
    try:
        return podman_store(podman_info(podman_loaded), podman_loaded.url)
    except StorageUnreadable as exc:
        pytest.skip(f"podman's storage cannot be read here: {exc}")


def inspect_in_podman(service: PodmanService, name: str) -> dict[str, Any]:
    facts: dict[str, Any] = docker.DockerClient(base_url=service.url).api.inspect_image(name)
    return facts


def report_json(target: str, read: ReadPath) -> tuple[Any, str]:
    """The JSON report read one way, with no layer cache, and how it was read."""
    report = audit([target], policy=Policy(read=read), use_cache=False)
    assert not report.failures, report.failures
    return json.loads(render(report, "json")), report.images[0].image.read_note


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", COMPARED)
def test_storage_read_reports_what_podmans_export_reports(
        podman_loaded: PodmanService, store: ContainersStore, monkeypatch: pytest.MonkeyPatch,
        name: str, builder: str) -> None:
    tag = fixture_tag(name, builder)
    target = f"podman:{podman_loaded.load(tag)}"
    monkeypatch.setenv("CONTAINER_HOST", podman_loaded.url)
    by_storage, storage_note = report_json(target, ReadPath.STORAGE)
    by_export, export_note = report_json(target, ReadPath.EXPORT)
    count = layer_count(tag)
    assert storage_note == f"{count} of {count} layers read from the engine's storage, 0 cached"
    assert export_note == "layers read by the engine's export (--read export)"
    assert by_storage == by_export


def test_each_layer_scans_as_its_exported_tar(podman_loaded: PodmanService,
                                              store: ContainersStore, tmp_path: Path) -> None:
    name = podman_loaded.load(fixture_tag("pip-cache-deleted", "classic"))
    facts = inspect_in_podman(podman_loaded, name)
    archive = tmp_path / "image.tar"
    with archive.open("wb") as out:
        for chunk in docker.DockerClient(base_url=podman_loaded.url).api.get_image(name):
            out.write(chunk)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(tmp_path)], check=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())[0]
    layers = store.locate(facts["RootFS"]["Layers"], facts["GraphDriver"])
    assert [layer.diff_id for layer in layers] == facts["RootFS"]["Layers"]
    for layer, member in zip(layers, manifest["Layers"], strict=True):
        with (tmp_path / member).open("rb") as tar:
            assert scan_stored_layer(layer, WANTED) == scan_layer(tar, WANTED)
    assert store.config(facts["Id"])["rootfs"]["diff_ids"] == facts["RootFS"]["Layers"]


def test_what_does_not_line_up_is_refused(podman_loaded: PodmanService, store: ContainersStore,
                                          tmp_path: Path) -> None:
    facts = inspect_in_podman(podman_loaded,
                              podman_loaded.load(fixture_tag("many-layers", "buildkit")))
    diff_ids, driver = facts["RootFS"]["Layers"], facts["GraphDriver"]
    assert len(store.locate(diff_ids, driver)) == len(diff_ids)

    def refused(ids: list[str], graph: Mapping[str, Any], why: str) -> None:
        with pytest.raises(StorageUnreadable, match=why):
            store.locate(ids, graph)

    data = driver["Data"]
    lower = data["LowerDir"].split(":")
    swapped = dict(driver, Data=dict(data, LowerDir=":".join([lower[1], lower[0], *lower[2:]])))
    refused(diff_ids, swapped, "disagree")
    outside = tmp_path / "diff"
    outside.mkdir()
    refused(diff_ids, dict(driver, Data=dict(data, UpperDir=str(outside))), "outside")
    other = [*diff_ids[:-1], "sha256:" + "0" * 64]
    refused(other, driver, "do not unpack to the image's diff IDs")
    refused(diff_ids[1:], driver, "does not hold the layers")  # one layer more than the image
    refused(diff_ids, dict(driver, Name="vfs"), "not overlay")
    with pytest.raises(StorageUnreadable, match="config cannot be read"):
        store.config("sha256:" + "0" * 64)


def test_a_store_podman_does_not_keep_so_is_refused(podman_loaded: PodmanService,
                                                    tmp_path: Path) -> None:
    info = podman_info(podman_loaded)
    with pytest.raises(StorageUnreadable, match="tcp://"):
        podman_store(info, "tcp://127.0.0.1:8080")
    with pytest.raises(StorageUnreadable, match="rootless"):
        podman_store(dict(info, SecurityOptions=["name=rootless"]), podman_loaded.url)
    with pytest.raises(StorageUnreadable, match="vfs"):
        podman_store(dict(info, Driver="vfs"), podman_loaded.url)
    with pytest.raises(StorageUnreadable, match="metacopy"):
        podman_store(dict(info, DriverStatus=[["Using metacopy", "true"]]), podman_loaded.url)
    # a layer database that is no list of layers
    (tmp_path / "overlay-layers").mkdir()
    (tmp_path / "overlay-layers" / "layers.json").write_text('{"id": "x"}')
    (tmp_path / "overlay" / ("a" * 64) / "diff").mkdir(parents=True)
    graph = {"Name": "overlay", "Data": {"UpperDir": str(tmp_path / "overlay" / ("a" * 64) /
                                                         "diff")}}
    with pytest.raises(StorageUnreadable, match="not a list of layers"):
        ContainersStore(str(tmp_path)).locate(["sha256:" + "a" * 64], graph)
