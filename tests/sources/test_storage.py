"""Layers read from the engine's overlay2 storage: every fixture's JSON report equals the one read
by export, the cache still spares layers already seen, and whatever does not line up (a remote
engine, a path outside the root, a missing or altered layer entry) falls back to the export."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor import audit
from auditor.formats import render
from auditor.model.policy import Policy, ReadPath
from auditor.rules import prepare
from auditor.sources import LayerCache, OpenRequest, Wanted, parse_target
from auditor.sources.base import BaseFinder
from auditor.sources.daemon import DaemonSource
from auditor.sources.documents import Digest
from auditor.sources.layers import scan_layer
from auditor.sources.storage import (
    OverlayStore,
    StorageUnreadable,
    StoredLayer,
    chain_ids,
    local_store,
    scan_stored_layer,
)
from tests.support.engine import BUILDERS, FIXTURES, base_of, fixture_tag, inspect, layer_count

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
SOCKET = "/var/run/docker.sock"
SMALL = "imgaudit-fixture/busybox-base:1"
WANTED = Wanted(prepare(Policy())[2])


def engine_info() -> dict[str, Any]:
    done = subprocess.run(["docker", "info", "--format", "{{json .}}"], capture_output=True,
                          text=True, check=True)
    info: dict[str, Any] = json.loads(done.stdout)
    return info


@pytest.fixture(scope="module")
def store() -> OverlayStore:
    """The real engine's storage; the tests that need it skip where it is not overlay2."""
    try:
        return local_store(engine_info(), "unix://" + SOCKET)
    except StorageUnreadable as exc:
        pytest.skip(f"the engine's storage cannot be read here: {exc}")


def report_json(ref: str, read: ReadPath, cache: Path | None = None) -> tuple[Any, str]:
    """The JSON report of ref read one way (no layer cache unless given), and how it was read."""
    report = audit([ref], policy=Policy(read=read), use_cache=cache is not None,
                   cache_dir=cache)
    assert not report.failures, report.failures
    return json.loads(render(report, "json")), report.images[0].image.read_note


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", FIXTURES)
def test_storage_read_reports_what_the_export_reports(name: str, builder: str,
                                                      store: OverlayStore) -> None:
    ref = fixture_tag(name, builder)
    by_storage, storage_note = report_json(ref, ReadPath.STORAGE)
    by_export, export_note = report_json(ref, ReadPath.EXPORT)
    count = layer_count(ref)
    assert storage_note == f"{count} of {count} layers read from the engine's storage, 0 cached"
    assert export_note == "layers read by the engine's export (--read export)"
    assert by_storage == by_export


def test_each_layer_scans_as_its_exported_tar(store: OverlayStore, tmp_path: Path) -> None:
    ref = fixture_tag("secrets", "buildkit")
    facts = inspect(ref)
    diff_ids = facts["RootFS"]["Layers"]  # type: ignore[index]
    archive = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "-o", str(archive), ref], check=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(tmp_path)], check=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())[0]
    layers = store.locate(diff_ids, facts["GraphDriver"])  # type: ignore[arg-type]
    for layer, member in zip(layers, manifest["Layers"], strict=True):
        with (tmp_path / member).open("rb") as tar:
            exported = scan_layer(tar, WANTED)
        assert scan_stored_layer(layer, WANTED) == exported
    assert any(scan_stored_layer(layer, WANTED).captured for layer in layers)


def test_an_image_on_an_audited_base_reads_only_its_own_layers(
        store: OverlayStore, tmp_path: Path) -> None:
    ref = fixture_tag("pip-root-cache", "classic")
    base = base_of("pip-root-cache")
    base_layers, own = layer_count(base), layer_count(ref) - layer_count(base)
    _, first = report_json(base, ReadPath.AUTO, tmp_path)
    _, second = report_json(ref, ReadPath.AUTO, tmp_path)
    _, third = report_json(ref, ReadPath.AUTO, tmp_path)
    assert first == (f"{base_layers} of {base_layers} layers read from the engine's storage, "
                     "0 cached")
    assert second == (f"{own} of {base_layers + own} layers read from the engine's storage, "
                      f"{base_layers} cached")
    assert third == "every layer cached"


# A remote engine, for real: the engine's socket forwarded on loopback only, for this test.
class _Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with socket.socket(socket.AF_UNIX) as engine:
            engine.connect(SOCKET)
            pump = threading.Thread(target=_pump, args=(engine, self.request), daemon=True)
            pump.start()
            _pump(self.request, engine)
            pump.join(timeout=30)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(1 << 16):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def tcp_engine() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Forward)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def imgaudit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_a_remote_engine_is_read_by_export(store: OverlayStore, tcp_engine: str,
                                           tmp_path: Path) -> None:
    ref = fixture_tag("multistage", "classic")
    env = dict(os.environ, DOCKER_HOST=tcp_engine, IMGAUDIT_CACHE_DIR=str(tmp_path / "c"))
    remote = imgaudit(ref, "--format", "json", "-v", "--no-cache", env=env)
    assert remote.returncode in (0, 1), remote.stderr
    assert "layers read by the engine's export (the engine is reached over tcp://" in remote.stderr
    local, _ = report_json(ref, ReadPath.STORAGE)
    assert json.loads(remote.stdout) == local
    quiet = imgaudit(ref, "--format", "json", "--no-cache", env=env)
    assert "export" not in quiet.stderr  # silent unless asked with --verbose

    forced = imgaudit(ref, "--read", "storage", "--no-cache", env=env)
    assert forced.returncode == 2
    assert forced.stdout == ""
    (line,) = forced.stderr.splitlines()
    assert line.startswith(f"imgaudit: error: {ref}: the engine is reached over tcp://")
    assert "(hint: use --read auto or --read export" in line


def test_the_policy_file_chooses_the_read_path(tmp_path: Path) -> None:
    (tmp_path / ".imgaudit.toml").write_text('read = "export"\n')
    env = dict(os.environ, IMGAUDIT_CACHE_DIR=str(tmp_path / "c"))
    ref = fixture_tag("no-cmd", "classic")
    done = subprocess.run([sys.executable, "-m", "auditor.cli", ref, "-v", "-f", "json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert "layers read by the engine's export (--read export)" in done.stderr
    shown = subprocess.run([sys.executable, "-m", "auditor.cli", "config", "--read", "storage"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert re.search(r"^read +storage +command line ", shown.stdout, re.MULTILINE)


# Storage that does not line up, made for real: a copy of a small image's storage, then altered.
def copy_storage(ref: str, real: OverlayStore, root: Path) -> tuple[list[str], dict[str, Any]]:
    """The image's layer entries, files and config copied under root; its diff IDs and the
    GraphDriver the engine would report for the copy."""
    facts = inspect(ref)
    diff_ids: list[str] = facts["RootFS"]["Layers"]  # type: ignore[index]
    layerdb = Path("image/overlay2/layerdb/sha256")
    dirs = []
    for chain in chain_ids(diff_ids):
        entry = layerdb / chain.removeprefix("sha256:")
        (root / entry).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(real.root / entry, root / entry)
        cache_id = (root / entry / "cache-id").read_text()
        (root / "overlay2" / cache_id).mkdir(parents=True)
        subprocess.run(["cp", "-a", str(real.root / "overlay2" / cache_id / "diff"),
                        str(root / "overlay2" / cache_id / "diff")], check=True)
        dirs.append(str(root / "overlay2" / cache_id / "diff"))
    config = Path("image/overlay2/imagedb/content/sha256") / str(facts["Id"]).removeprefix(
        "sha256:")
    (root / config).parent.mkdir(parents=True)
    shutil.copy(real.root / config, root / config)
    data = {"UpperDir": dirs[-1], "LowerDir": ":".join(reversed(dirs[:-1]))}
    return diff_ids, {"Name": "overlay2", "Data": data}


@pytest.fixture
def copied(store: OverlayStore, tmp_path: Path) -> tuple[Path, list[str], dict[str, Any]]:
    root = tmp_path / "docker"
    diff_ids, driver = copy_storage(SMALL, store, root)
    return root, diff_ids, driver


def scan_all(root: Path, diff_ids: list[str], driver: dict[str, Any]) -> list[Any]:
    return [scan_stored_layer(layer, WANTED)
            for layer in OverlayStore(str(root)).locate(diff_ids, driver)]


def passwd_layer(root: Path, diff_ids: list[str], driver: dict[str, Any]) -> StoredLayer:
    layers = OverlayStore(str(root)).locate(diff_ids, driver)
    return next(layer for layer in layers if (layer.files / "etc" / "passwd").is_file())


def test_a_copied_storage_reads_as_the_engine_s(
        copied: tuple[Path, list[str], dict[str, Any]], store: OverlayStore) -> None:
    root, diff_ids, driver = copied
    real = store.locate(diff_ids, inspect(SMALL)["GraphDriver"])  # type: ignore[arg-type]
    assert scan_all(root, diff_ids, driver) == [scan_stored_layer(x, WANTED) for x in real]


def test_a_layer_outside_the_root_is_refused(
        copied: tuple[Path, list[str], dict[str, Any]], tmp_path: Path) -> None:
    root, diff_ids, driver = copied
    layer = passwd_layer(root, diff_ids, driver)
    outside = tmp_path / "elsewhere"
    layer.files.parent.rename(outside)
    layer.files.parent.symlink_to(outside)
    with pytest.raises(StorageUnreadable, match="outside the engine's root"):
        scan_all(root, diff_ids, driver)


def test_a_missing_or_altered_layer_entry_is_refused(
        copied: tuple[Path, list[str], dict[str, Any]]) -> None:
    root, diff_ids, driver = copied
    entry = root / "image/overlay2/layerdb/sha256" / chain_ids(diff_ids)[-1].removeprefix(
        "sha256:")
    (entry / "diff").write_text(diff_ids[0] if len(diff_ids) > 1 else "sha256:" + "0" * 64)
    with pytest.raises(StorageUnreadable, match="another layer"):
        scan_all(root, diff_ids, driver)
    shutil.rmtree(entry)
    with pytest.raises(StorageUnreadable, match=r"layer database entry .* cannot be read"):
        scan_all(root, diff_ids, driver)


def test_a_damaged_tar_split_is_refused(
        copied: tuple[Path, list[str], dict[str, Any]]) -> None:
    root, diff_ids, driver = copied
    layer = passwd_layer(root, diff_ids, driver)
    with gzip.open(layer.tar_split, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    # a header in the middle whose bytes no longer match its checksum
    index = [i for i, line in enumerate(lines) if json.loads(line)["type"] == 2][2]
    segment = bytearray(base64.b64decode(json.loads(lines[index])["payload"]))
    segment[-512] ^= 0x20
    bad = json.dumps({"type": 2, "payload": base64.b64encode(segment).decode(),
                      "position": index}).encode() + b"\n"
    for damaged, reason in (([*lines[:index], bad, *lines[index + 1:]], "does not replay"),
                            ([b'{"type":2,"payload":"not base64!"}\n', *lines],
                             "not what the engine writes"),
                            ([b"x" * (5 << 20) + b"\n", *lines], "line over 4 MiB")):
        with gzip.open(layer.tar_split, "wb") as handle:
            handle.write(b"".join(damaged))
        with pytest.raises(StorageUnreadable, match=reason):
            scan_stored_layer(layer, WANTED)


def test_paths_the_engine_does_not_report_are_refused(
        copied: tuple[Path, list[str], dict[str, Any]]) -> None:
    root, diff_ids, driver = copied
    swapped = {"Name": "overlay2", "Data": {"UpperDir": driver["Data"]["UpperDir"]}}
    with pytest.raises(StorageUnreadable, match="disagree"):
        OverlayStore(str(root)).locate(diff_ids, swapped)
    with pytest.raises(StorageUnreadable, match="not overlay2"):
        OverlayStore(str(root)).locate(diff_ids, {"Name": "btrfs", "Data": {}})


def test_a_wanted_file_is_never_read_through_a_symlink(
        copied: tuple[Path, list[str], dict[str, Any]], tmp_path: Path) -> None:
    root, diff_ids, driver = copied
    layer = passwd_layer(root, diff_ids, driver)
    secret = tmp_path / "secret"
    secret.write_bytes((layer.files / "etc" / "passwd").read_bytes())
    (layer.files / "etc" / "passwd").unlink()
    (layer.files / "etc" / "passwd").symlink_to(secret)
    with pytest.raises(StorageUnreadable, match="etc/passwd of a layer cannot be read"):
        scan_stored_layer(layer, WANTED)
    (layer.files / "etc" / "passwd").unlink()
    (layer.files / "etc" / "passwd").write_bytes(secret.read_bytes() + b"x")
    with pytest.raises(StorageUnreadable, match=r"is not the .*-byte file"):
        scan_stored_layer(layer, WANTED)


def test_an_altered_storage_falls_back_to_the_export(
        copied: tuple[Path, list[str], dict[str, Any]]) -> None:
    root, _, _ = copied  # the engine reports its own paths, outside this root
    cache = LayerCache.disabled()
    target = parse_target(SMALL)
    source = DaemonSource(BaseFinder(), store=OverlayStore(str(root)))
    (image,) = source.open(target, OpenRequest(WANTED, cache, read=ReadPath.AUTO))
    assert image.read_note.startswith("layers read by the engine's export (a directory the "
                                      "engine reports lies outside the engine's root")
    (exported,) = DaemonSource(BaseFinder()).open(
        target, OpenRequest(WANTED, cache, read=ReadPath.EXPORT))
    assert image.files == exported.files
    with pytest.raises(StorageUnreadable, match="lies outside the engine's root"):
        source.open(target, OpenRequest(WANTED, cache, read=ReadPath.STORAGE))


@pytest.mark.parametrize(("change", "reason"), [
    ({"SecurityOptions": ["name=seccomp", "name=rootless"]}, "rootless"),
    ({"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}, "containerd"),
    ({"Driver": "btrfs"}, "btrfs, not overlay2"),
    ({"DockerRootDir": ""}, "no DockerRootDir"),
])
def test_engines_whose_storage_is_not_ours_to_read(change: dict[str, Any], reason: str) -> None:
    info = {"Driver": "overlay2", "DockerRootDir": "/var/lib/docker", "SecurityOptions": [],
            "DriverStatus": [["Backing Filesystem", "extfs"]], **change}
    with pytest.raises(StorageUnreadable, match=reason):
        local_store(info, "unix:///var/run/docker.sock")
    with pytest.raises(StorageUnreadable, match="ssh://"):
        local_store(info, "ssh://me@host")


def test_chain_ids_follow_the_layer_store() -> None:
    diff_ids = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    first, second = chain_ids(diff_ids)
    assert first == diff_ids[0]
    assert second == "sha256:" + hashlib.sha256(
        f"{diff_ids[0]} {diff_ids[1]}".encode()).hexdigest()


def test_an_ambiguous_history_is_read_from_the_image_database(
        store: OverlayStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = LayerCache(tmp_path)
    ref = fixture_tag("secrets", "classic")  # a RUN that changed nothing: history is ambiguous
    (exported,) = DaemonSource(BaseFinder()).open(
        parse_target(ref), OpenRequest(WANTED, cache, read=ReadPath.EXPORT))  # fills the cache
    exports: list[str] = []
    monkeypatch.setattr(DaemonSource, "_export", lambda self, image_id, *a: exports.append(
        image_id))
    (stored,) = DaemonSource(BaseFinder()).open(parse_target(ref), OpenRequest(WANTED, cache))
    assert exports == []
    count = layer_count(ref)
    assert stored.read_note == f"0 of {count} layers read from the engine's storage, {count} cached"
    assert stored.history == exported.history and stored.files == exported.files


@pytest.mark.parametrize(("data", "reason"), [
    (b"[" * 5000 + b"]" * 5000, "nests its JSON too deeply"),  # Docker's Go reader takes it
    (b"{not json", "is not JSON"),
    (b"[]", "is not a JSON object"),
])
def test_an_image_database_config_that_is_no_config_is_refused(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    store = OverlayStore(str(tmp_path))
    image_id = "sha256:" + hashlib.sha256(data).hexdigest()
    path = store.config_path(Digest.of(data))
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    with pytest.raises(StorageUnreadable, match=reason):
        store.config(image_id)
