"""What is read is verified: a blob whose bytes do not match its digest, and a layer that
unpacks to another diff_id than its config names, refuse the image (one line, exit 2); a cached
scan is never taken on an archive's word."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, imgaudit
from tests.support.factory import file, layer_tar, write_archive
from tests.support.hostile import (
    edit_json,
    layout,
    legacy_folder,
    manifest_of,
    pack,
    read_json,
    store_blob,
)

KEY = file("root/.ssh/id_ed25519",
           "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
           "-----END OPENSSH PRIVATE KEY-----\n", mode=0o600)


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")


def _targets(folder: Path, tmp_path: Path) -> list[Path]:
    """The layout as a folder, as a tar (read at random) and as a .tar.gz (read as a stream)."""
    tmp_path.mkdir(exist_ok=True)
    tar = pack(folder, tmp_path / "layout.tar")
    compressed = tmp_path / "layout.tar.gz"
    compressed.write_bytes(gzip.compress(tar.read_bytes(), mtime=0))
    return [folder, tar, compressed]


@pytest.mark.parametrize("blob", ["manifest", "config", "layer"])
def test_a_blob_whose_bytes_do_not_match_its_digest_is_refused(
    tmp_path: Path, cli_env: dict[str, str], blob: str
) -> None:
    folder = layout(tmp_path / "layout")
    path, manifest = manifest_of(folder)
    if blob == "config":
        path = folder / "blobs" / "sha256" / manifest["config"]["digest"][7:]
        edit_json(path, lambda config: config["config"].update(User="root"))
    elif blob == "layer":
        path = folder / "blobs" / "sha256" / manifest["layers"][-1]["digest"][7:]
        path.write_bytes(layer_tar([KEY]))
    else:
        edit_json(path, lambda document: document.update(annotations={"x": "y"}))
    for target in _targets(folder, tmp_path):
        done = imgaudit(f"oci:{target}", env=cli_env)
        assert_one_line_error(done, "holds bytes whose digest is", "altered")


def _lying_layout(clean: Path, folder: Path) -> None:
    """The clean layout with its last layer replaced by one holding a private key: the blob is
    named by its true digest (the manifest and index are honest about it), but the config still
    claims the clean layer's diff_id."""
    shutil.copytree(clean, folder)
    path, manifest = manifest_of(folder)
    manifest["layers"][-1]["digest"] = store_blob(folder, layer_tar([KEY]))
    path.unlink()
    digest = store_blob(folder, json.dumps(manifest, separators=(",", ":")).encode())
    edit_json(folder / "index.json", lambda index: index["manifests"][0].update(digest=digest))


def _lying_legacy(clean: Path, folder: Path) -> None:
    """The clean legacy folder with its last layer.tar replaced by one holding a private key."""
    shutil.copytree(clean, folder, symlinks=True)
    last = read_json(folder / "manifest.json")[0]["Layers"][-1]
    (folder / last).unlink()
    (folder / last).write_bytes(layer_tar([KEY]))


@pytest.mark.parametrize("kind", ["layout", "legacy"])
@pytest.mark.parametrize("cached", [True, False], ids=["clean-audited-first", "cold"])
def test_a_layer_claiming_a_clean_diff_id_is_refused(
    tmp_path: Path, cli_env: dict[str, str], kind: str, cached: bool
) -> None:
    clean = (layout if kind == "layout" else legacy_folder)(tmp_path / "clean")
    transport = "oci" if kind == "layout" else "docker-archive"
    if cached:  # the clean image's layers are in the cache, under the diff_ids the liar claims
        first = imgaudit(f"{transport}:{clean}", env=cli_env)
        assert first.returncode == 0, first.stderr
        assert list((tmp_path / "cache").rglob("*.gz"))
    lying = tmp_path / "lying"
    (_lying_layout if kind == "layout" else _lying_legacy)(clean, lying)
    for target in _targets(lying, tmp_path / "packed"):
        done = imgaudit(f"{transport}:{target}", env=cli_env)
        assert_one_line_error(done, "unpacks to", "not the diff_id", "altered")
    again = imgaudit(f"{transport}:{clean}", env=cli_env)
    assert again.returncode == 0, again.stderr


def test_a_docker_save_archive_whose_layer_tar_was_swapped_is_refused(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = write_archive(tmp_path / "app.tar", layout="legacy")
    assert imgaudit(f"docker-archive:{path}", env=cli_env).returncode == 0
    folder = legacy_folder(tmp_path / "saved")
    _lying_legacy(folder, tmp_path / "swapped")
    done = imgaudit(f"docker-archive:{pack(tmp_path / 'swapped', tmp_path / 's.tar')}",
                    env=cli_env)
    assert_one_line_error(done, "unpacks to")
