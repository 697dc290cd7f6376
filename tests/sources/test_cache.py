"""The layer cache: a scan survives a round trip, anything unreadable is a miss, and an audit of
an archive whose layers are cached does not scan those layers again (it hashes them)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import auditor.sources.archive
import auditor.sources.saved
from auditor import audit
from auditor.model.image import LayerContent
from auditor.sources.cache import ANALYSER_VERSION, LayerCache, default_cache_dir
from auditor.sources.layers import Wanted
from tests.support.factory import (
    WANTED,
    directory,
    file,
    good,
    hardlink,
    opaque,
    scan,
    symlink,
    whiteout,
    write_archive,
)

DIFF_ID = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")


def sample() -> LayerContent:
    return scan([
        directory("home/app", uid=1000, gid=1000),
        file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        file("bin/tool", b"\x00\xff\x7fELF", mode=0o4755),
        symlink("bin/sh", "/bin/busybox"),
        hardlink("bin/ash", "bin/busybox"),
        whiteout("root/.cache/pip"),
        opaque("var/lib/apt/lists"),
    ])


def test_a_scan_survives_a_round_trip(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    content = sample()
    assert cache.get(DIFF_ID, WANTED) is None
    assert not cache.has(DIFF_ID, WANTED)
    cache.put(DIFF_ID, WANTED, content)
    assert cache.has(DIFF_ID, WANTED)
    again = cache.get(DIFF_ID, WANTED)
    assert again == content
    assert again is not None and dict(again.captured) == dict(content.captured)
    stored = list(tmp_path.rglob("*.gz"))
    assert [p.name for p in stored] == ["ab" * 32 + ".gz"]
    assert f"layers-v{ANALYSER_VERSION}" in stored[0].parts


def test_the_key_includes_the_wanted_files(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    cache.put(DIFF_ID, WANTED, sample())
    assert cache.get(DIFF_ID, Wanted(("etc/passwd",))) is None
    assert cache.get(DIFF_ID, Wanted(("etc/passwd",), max_bytes=1)) is None
    assert Wanted(("b", "a", "a")).key == Wanted(("a", "b")).key


@pytest.mark.parametrize(
    "diff_id", ["", "sha256:short", "sha512:" + "ab" * 64, "sha256:" + "AB" * 32,
                "sha256:../../" + "a" * 58],
)
def test_odd_digests_are_not_cached(diff_id: str, tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    cache.put(diff_id, WANTED, sample())
    assert cache.get(diff_id, WANTED) is None
    assert list(tmp_path.iterdir()) == []


def _stored(tmp_path: Path) -> bytes:
    """The bytes a scan of sample() is stored as, uncompressed."""
    cache = LayerCache(tmp_path / "sample")
    cache.put(DIFF_ID, WANTED, sample())
    (path,) = (tmp_path / "sample").rglob("*.gz")
    return gzip.decompress(path.read_bytes())


def _recount(data: bytes, **counts: object) -> bytes:
    magic, header, rest = data.split(b"\n", 2)
    return b"\n".join((magic, json.dumps({**json.loads(header), **counts}).encode(), rest))


CORRUPT: dict[str, Callable[[bytes], bytes]] = {
    "not-gzip": lambda data: b"not gzip at all",
    "empty": lambda data: b"",
    "truncated-gzip": lambda data: gzip.compress(data)[:-4],
    "other-version": lambda data: gzip.compress(data.replace(b"scan 4", b"scan 3", 1)),
    "not-json": lambda data: gzip.compress(_recount(data).replace(b"{", b"[", 1)),
    "a-list": lambda data: gzip.compress(data.split(b"\n")[0] + b"\n[1, 2]\n"),
    "missing-count": lambda data: gzip.compress(_recount(data, links=None)),
    "negative-count": lambda data: gzip.compress(_recount(data, entries=-1)),
    "a-count-that-lies": lambda data: gzip.compress(_recount(data, entries=10**12)),
    "fewer-entries": lambda data: gzip.compress(_recount(data, entries=3)),
    "truncated-columns": lambda data: gzip.compress(data[:-40]),
    "bytes-past-the-end": lambda data: gzip.compress(data + b"\0"),
    "no-tar-size": lambda data: gzip.compress(_recount(data, tar_size="1")),
    "bad-kind": lambda data: gzip.compress(_with_kind(data, 9)),
}


def _with_kind(data: bytes, kind: int) -> bytes:
    """data with the first entry's kind (after the header and four columns of 8 bytes each)
    made `kind`."""
    magic, header, _ = data.split(b"\n", 2)
    at = len(magic) + len(header) + 2 + 4 * 8 * json.loads(header)["entries"]
    return data[:at] + bytes([kind]) + data[at + 1 :]


def test_the_kind_column_is_where_the_corrupt_tests_alter_it(tmp_path: Path) -> None:
    data = _stored(tmp_path)
    assert _with_kind(data, 1) == data  # the first entry of sample() is a directory (kind 1)
    assert _with_kind(data, 0) != data


@pytest.mark.parametrize("corrupt", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_cache_file_is_a_miss(corrupt: Callable[[bytes], bytes],
                                        tmp_path: Path) -> None:
    data = corrupt(_stored(tmp_path))
    cache = LayerCache(tmp_path / "cache")
    cache.put(DIFF_ID, WANTED, sample())
    (path,) = (tmp_path / "cache").rglob("*.gz")
    path.write_bytes(data)
    assert cache.get(DIFF_ID, WANTED) is None
    cache.put(DIFF_ID, WANTED, sample())  # and a later scan repairs it
    assert cache.get(DIFF_ID, WANTED) == sample()


def test_a_cache_that_cannot_be_written_is_silently_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    cache = LayerCache(blocker)
    cache.put(DIFF_ID, WANTED, sample())
    assert cache.get(DIFF_ID, WANTED) is None


def test_a_disabled_cache_stores_nothing() -> None:
    cache = LayerCache.disabled()
    cache.put(DIFF_ID, WANTED, sample())
    assert cache.get(DIFF_ID, WANTED) is None and not cache.has(DIFF_ID, WANTED)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("IMGAUDIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "imgaudit"


# ----------------------------------------------------------------------------- through audit()


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every scan_layer call the archive readers make, by label."""
    calls: list[str] = []
    real = auditor.sources.layers.scan_layer

    def spy(fileobj: Any, wanted: Wanted, label: str = "layer") -> LayerContent:
        calls.append(label)
        return real(fileobj, wanted, label)

    monkeypatch.setattr(auditor.sources.saved, "scan_layer", spy)
    return calls


CACHED_LAYOUTS = [
    pytest.param({"layout": "legacy"}, id="legacy"),
    pytest.param({"layout": "oci"}, id="oci"),
    pytest.param({"layout": "oci", "compress": True}, id="oci-gz"),
    pytest.param({"layout": "oci", "as_directory": True}, id="oci-dir"),
]


@pytest.mark.parametrize("options", CACHED_LAYOUTS)
def test_a_cached_audit_scans_no_layer_again(options: dict[str, bool], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / ("app" if options.get("as_directory") else "app.tar")
    path = write_archive(target, good(), **options)  # type: ignore[arg-type]
    calls = counting(monkeypatch)
    first = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert len(calls) == 6
    calls.clear()
    second = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert calls == []
    assert second.failures == () and first.failures == ()
    (one,), (two,) = first.images, second.images
    assert two.image.files == one.image.files
    assert [r.status for r in two.results] == [r.status for r in one.results]


def test_a_cached_audit_hashes_the_layer_members_but_scans_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached scan is taken for a layer only once its bytes, hashed here, match its diff_id:
    the archive's word for it is no proof (tests/hostile has the archive that lies)."""
    path = write_archive(tmp_path / "app.tar", good(), layout="legacy")
    audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    calls = counting(monkeypatch)
    opened: list[str] = []
    real: Callable[..., Any] = auditor.sources.saved.Members.open

    def spy(self: auditor.sources.saved.Members, name: str) -> Any:
        opened.append(name)
        return real(self, name)

    monkeypatch.setattr(auditor.sources.saved.Members, "open", spy)
    audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert len([name for name in opened if name.endswith("layer.tar")]) == 6
    assert calls == []


@pytest.mark.parametrize("options", CACHED_LAYOUTS)
def test_a_corrupt_cache_file_means_a_rescan_not_a_failure(
    options: dict[str, bool], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / ("app" if options.get("as_directory") else "app.tar")
    path = write_archive(target, good(), **options)  # type: ignore[arg-type]
    first = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    for stored in (tmp_path / "cache").rglob("*.gz"):
        stored.write_bytes(b"garbage")
    calls = counting(monkeypatch)
    second = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert second.failures == ()
    assert len(calls) == 6
    assert second.images[0].image.files == first.images[0].image.files
    calls.clear()
    audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert calls == []  # the rescan repaired the cache


def test_without_the_cache_every_audit_scans(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_archive(tmp_path / "app.tar", good(), layout="oci")
    calls = counting(monkeypatch)
    for _ in range(2):
        audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache", use_cache=False)
    assert len(calls) == 12
    assert not (tmp_path / "cache").exists()
