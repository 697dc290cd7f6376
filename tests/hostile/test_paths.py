"""Digests are parsed, never pasted, and paths never leave an archive or layout: each crafted
input is refused with one line and exit 2, and nothing outside is read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, imgaudit
from tests.support.hostile import (
    edit_json,
    layout,
    legacy_folder,
    manifest_of,
    pack,
    store_blob,
)


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")


def _elsewhere(tmp_path: Path) -> Path:
    """A valid layout outside the one audited, which a pasted digest would reach."""
    outside = layout(tmp_path / "elsewhere")
    blob, _ = manifest_of(outside)
    (outside / "manifest.json").write_bytes(blob.read_bytes())
    return outside


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "tar"])
def test_an_index_digest_that_climbs_out_is_refused(
    tmp_path: Path, cli_env: dict[str, str], packed: bool
) -> None:
    _elsewhere(tmp_path)
    folder = layout(tmp_path / "a" / "b" / "layout")

    def climb(index: dict) -> None:
        index["manifests"][0]["digest"] = "sha256:../../../../elsewhere/manifest.json"

    edit_json(folder / "index.json", climb)
    target = pack(folder, tmp_path / "layout.tar") if packed else folder
    done = imgaudit(f"oci:{target}", env=cli_env)
    assert_one_line_error(done, "not a digest", "sha256:../../../../elsewhere")


@pytest.mark.parametrize("bad", ["sha256:ABC", "md5:" + "0" * 32, "sha256:" + "A" * 64, 7])
def test_a_config_or_layer_digest_that_is_no_digest_is_refused(
    tmp_path: Path, cli_env: dict[str, str], bad: object
) -> None:
    for place in ("config", "layer"):
        folder = layout(tmp_path / place)
        blob, manifest = manifest_of(folder)
        if place == "config":
            manifest["config"]["digest"] = bad
        else:
            manifest["layers"][0]["digest"] = bad
        # the index names the altered manifest by its (honest) new digest
        blob.unlink()
        digest = store_blob(folder, _dump(manifest))
        edit_json(folder / "index.json",
                  lambda index, d=digest: index["manifests"][0].update(digest=d))
        done = imgaudit(f"oci:{folder}", env=cli_env)
        assert_one_line_error(done, "not a digest")


def _dump(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("entry", ["../x/layer.tar", "/etc/passwd", "a/../../layer.tar", ""])
def test_a_manifest_json_layer_that_leaves_the_archive_is_refused(
    tmp_path: Path, cli_env: dict[str, str], entry: str
) -> None:
    folder = legacy_folder(tmp_path / "saved")
    edit_json(folder / "manifest.json", lambda m: m[0]["Layers"].__setitem__(0, entry))
    for target in (folder, pack(folder, tmp_path / "saved.tar")):
        done = imgaudit(f"docker-archive:{target}", env=cli_env)
        assert_one_line_error(done, "leaves the archive")


def test_a_manifest_json_config_that_leaves_the_archive_is_refused(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    folder = legacy_folder(tmp_path / "saved")
    edit_json(folder / "manifest.json", lambda m: m[0].update(Config="../../config.json"))
    done = imgaudit(f"docker-archive:{folder}", env=cli_env)
    assert_one_line_error(done, "leaves the archive")


def test_a_blob_symlinked_out_of_the_layout_is_refused(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    outside = layout(tmp_path / "outside")
    folder = layout(tmp_path / "layout")
    blob, _ = manifest_of(folder)
    twin = outside / blob.relative_to(folder)
    assert twin.read_bytes() == blob.read_bytes()
    blob.unlink()
    os.symlink(twin, blob)
    done = imgaudit(f"oci:{folder}", env=cli_env)
    assert_one_line_error(done, "resolves outside the folder")


def test_a_blobs_folder_symlinked_out_of_the_layout_is_refused(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    outside = layout(tmp_path / "outside")
    folder = layout(tmp_path / "layout")
    (folder / "blobs" / "sha256").rename(tmp_path / "moved")
    os.symlink(outside / "blobs" / "sha256", folder / "blobs" / "sha256")
    done = imgaudit(f"oci:{folder}", env=cli_env)
    assert_one_line_error(done, "resolves outside the folder")


def test_a_symlink_that_stays_inside_the_layout_is_followed(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    folder = layout(tmp_path / "layout")
    blob, _ = manifest_of(folder)
    (folder / "moved").write_bytes(blob.read_bytes())
    blob.unlink()
    os.symlink("../../moved", blob)
    done = imgaudit(f"oci:{folder}", "--format", "json", env=cli_env)
    assert done.returncode in (0, 1), done.stderr
