"""The layer scanner and the merge of scanned layers into the final filesystem."""

from __future__ import annotations

import io

import pytest

from auditor.errors import ArchiveError
from auditor.model.image import FileKind
from auditor.sources.layers import Wanted, merge, normalize, scan_layer
from tests.support.factory import (
    WANTED,
    directory,
    file,
    hardlink,
    layer_tar,
    opaque,
    scan,
    symlink,
    whiteout,
)


def test_every_header_is_kept_with_kind_size_mode_and_owner() -> None:
    members = [
        directory("app", uid=1000, gid=1000),
        file("app/main.py", b"print(1)\n", mode=0o755, uid=1000, gid=1001),
        symlink("app/current", "/app/main.py"),
        hardlink("app/again.py", "app/main.py"),
    ]
    content = scan(members)
    entries = {e.path: e for e in content.entries}
    assert list(entries) == ["app", "app/main.py", "app/current", "app/again.py"]
    assert entries["app"].kind is FileKind.DIR and entries["app"].uid == 1000
    main = entries["app/main.py"]
    assert (main.kind, main.size, main.mode, main.uid, main.gid) == (
        FileKind.FILE, 9, 0o755, 1000, 1001)
    assert entries["app/current"].kind is FileKind.SYMLINK
    assert entries["app/current"].linkname == "app/main.py"
    assert entries["app/again.py"].kind is FileKind.HARDLINK
    assert entries["app/again.py"].size == 0  # a link's bytes belong to its target
    assert content.tar_size == len(layer_tar(members))


def test_member_names_are_normalised() -> None:
    assert normalize("./etc/passwd") == "etc/passwd"
    assert normalize("/usr/bin/") == "usr/bin"
    assert normalize("./") == ""
    content = scan([file("./etc/hosts", "x"), directory("./")])
    assert [e.path for e in content.entries] == ["etc/hosts"]


def test_only_wanted_small_files_are_captured() -> None:
    wanted = Wanted(("etc/passwd", "etc/*-release"), max_bytes=10)
    content = scan(
        [
            file("etc/passwd", b"root:x:0:0"),  # exactly the cap: kept
            file("etc/os-release", b"x" * 11),  # one byte over: headers only
            file("etc/lsb-release", b"DISTRIB=1"),
            file("etc/group", b"root:x:0:"),  # not asked for
            directory("etc/passwd.d"),
        ],
        wanted=wanted,
    )
    assert dict(content.captured) == {"etc/passwd": b"root:x:0:0", "etc/lsb-release": b"DISTRIB=1"}
    assert {e.path for e in content.entries} >= {"etc/os-release", "etc/group"}


def test_nothing_is_captured_when_no_rule_wants_bytes() -> None:
    content = scan([file("etc/passwd", "root:x:0:0:::\n")], wanted=Wanted())
    assert dict(content.captured) == {}
    assert [e.path for e in content.entries] == ["etc/passwd"]


def test_whiteouts_and_opaque_markers_are_recorded_not_listed() -> None:
    content = scan([
        whiteout("root/.cache/pip"),
        opaque("var/lib/apt/lists"),
        file("var/lib/apt/lists/new", "x"),
    ])
    assert content.whiteouts == ("root/.cache/pip",)
    assert content.opaque_dirs == ("var/lib/apt/lists",)
    assert [e.path for e in content.entries] == ["var/lib/apt/lists/new"]


def test_gzip_layers_read_like_plain_ones() -> None:
    members = [file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), file("app/x", size=3000)]
    plain = scan(members)
    packed = scan(members, compress=True)
    assert packed.entries == plain.entries
    assert dict(packed.captured) == dict(plain.captured)
    assert packed.tar_size < plain.tar_size  # bytes read from the stream, compressed


def test_scan_reads_a_stream_that_cannot_seek() -> None:
    data = layer_tar([file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")], compress=True)

    class OneWay:
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def read(self, size: int = -1, /) -> bytes:
            return self.inner.read(size)

    content = scan_layer(OneWay(), WANTED)
    assert "etc/passwd" in content.captured


def _merged(*layers: list) -> dict[str, int]:  # type: ignore[type-arg]
    contents = [(n, scan(members)) for n, members in enumerate(layers, start=1)]
    return {path: placed.layer for path, placed in merge(contents).items()}


def test_merge_keeps_the_layer_that_last_wrote_each_path() -> None:
    files = _merged(
        [file("etc/passwd", "a"), file("app/a.py")],
        [file("etc/passwd", "b")],
    )
    assert files == {"etc/passwd": 2, "app/a.py": 1}


def test_merge_applies_whiteouts_to_lower_layers_and_below() -> None:
    files = _merged(
        [directory("root/.cache/pip"), file("root/.cache/pip/http/a", size=10), file("keep")],
        [whiteout("root/.cache/pip"), file("root/.cache/other")],
    )
    assert files == {"keep": 1, "root/.cache/other": 2}


def test_merge_applies_opaque_dirs_to_lower_layers_only() -> None:
    files = _merged(
        [directory("data"), file("data/old"), directory("data/sub"), file("data/sub/x"),
         file("database")],
        [directory("data"), opaque("data"), file("data/new")],
    )
    assert files == {"data": 2, "data/new": 2, "database": 1}


def test_a_path_deleted_then_written_again_in_one_layer_survives() -> None:
    files = _merged([file("app/config")], [whiteout("app/config"), file("app/config", "new")])
    assert files == {"app/config": 2}


@pytest.mark.parametrize("cut", [100, 700, 1500])
def test_a_truncated_layer_is_an_archive_error_of_one_line(cut: int) -> None:
    data = layer_tar([file("app/big", size=4000), file("app/small", "x")])
    with pytest.raises(ArchiveError) as caught:
        scan_layer(io.BytesIO(data[:cut]), WANTED, "layer 3")
    message = str(caught.value)
    assert message.startswith("layer 3 is truncated or corrupt (")
    assert "\n" not in message


def test_a_truncated_gzip_layer_is_an_archive_error() -> None:
    data = layer_tar([file("app/big", bytes(range(256)) * 40)], compress=True)
    with pytest.raises(ArchiveError, match="layer 1 is truncated or corrupt"):
        scan_layer(io.BytesIO(data[: len(data) // 2]), WANTED, "layer 1")


@pytest.mark.parametrize(
    "data",
    [b"", b"this is not a tar file at all" * 40, b"\x1f\x8b\x08\x00garbage-after-gzip-magic" * 8],
    ids=["empty", "text", "bad-gzip"],
)
def test_a_corrupt_layer_is_an_archive_error(data: bytes) -> None:
    with pytest.raises(ArchiveError) as caught:
        scan_layer(io.BytesIO(data), WANTED, "layer 2")
    assert str(caught.value).startswith("layer 2 ")
    assert "\n" not in str(caught.value)
    assert caught.value.hint


def test_a_zstd_layer_is_named_as_such() -> None:
    with pytest.raises(ArchiveError, match="zstd"):
        scan_layer(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 100), WANTED, "layer 4")
