"""Bounded work on any input: a document nested past reason, a header with a negative or absurd
size, a PAX record or GNU long name over 1 MiB are each one line and exit 2, read no further."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, imgaudit
from tests.support.hostile import (
    layout,
    pack,
    raw_header,
    replace_config,
    replace_last_layer,
    tar_of,
)

DEEP = 100_000


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "tar"])
def test_a_config_nested_100000_deep_is_one_line(
    tmp_path: Path, cli_env: dict[str, str], packed: bool
) -> None:
    folder = layout(tmp_path / "layout")
    replace_config(folder, b'{"rootfs":' + b"[" * DEEP + b"]" * DEEP + b"}")
    target = pack(folder, tmp_path / "layout.tar") if packed else folder
    done = imgaudit(f"oci:{target}", env=cli_env)
    assert_one_line_error(done, "too deeply")
    assert "RecursionError" not in done.stderr


def test_an_index_nested_100000_deep_is_one_line(tmp_path: Path, cli_env: dict[str, str]
                                                  ) -> None:
    folder = layout(tmp_path / "layout")
    (folder / "index.json").write_bytes(b'{"manifests":' + b"[" * DEEP + b"]" * DEEP + b"}")
    done = imgaudit(f"oci:{folder}", env=cli_env)
    assert_one_line_error(done, "too deeply")


NEGATIVE = b"\xff" * 12  # base-256: -1
HUGE = b"\x80" + b"\x00" * 4 + b"\x7f" + b"\xff" * 6  # base-256: about 2**55 bytes


@pytest.mark.parametrize("size", [NEGATIVE, HUGE], ids=["negative", "absurd"])
@pytest.mark.parametrize("first", [True, False], ids=["first-header", "later-header"])
def test_a_layer_header_with_a_negative_or_absurd_size_is_refused(
    tmp_path: Path, cli_env: dict[str, str], size: bytes, first: bool
) -> None:
    honest = raw_header("etc/hostname", b"00000000004\0") + b"web\n".ljust(512, b"\0")
    crafted = raw_header("root/.ssh/id_rsa", size)
    blocks = (crafted, honest) if first else (honest, crafted, b"\0" * 512)
    folder = layout(tmp_path / "layout")
    replace_last_layer(folder, tar_of(*blocks))
    done = imgaudit(f"oci:{folder}", env=cli_env)
    assert_one_line_error(done, "truncated or corrupt", "size")


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME],
                         ids=["pax-record", "gnu-long-name"])
def test_a_pax_record_or_long_name_over_1_mib_is_refused(
    tmp_path: Path, cli_env: dict[str, str], kind: bytes
) -> None:
    size = 2 << 20
    record = b"%d path=" % size
    record += b"a" * (size - len(record) - 1) + b"\n"
    assert len(record) == size
    layer = tar_of(raw_header("././@LongLink", b"%011o\0" % size, kind), record,
                   raw_header("etc/hostname", b"00000000000\0"))
    folder = layout(tmp_path / "layout")
    replace_last_layer(folder, layer)
    done = imgaudit(f"oci:{folder}", env=cli_env)
    assert_one_line_error(done, "over 1 MiB")
