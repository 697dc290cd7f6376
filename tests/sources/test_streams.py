"""The one decompressor every layer blob passes through: the format is sniffed from the bytes
(gzip, zstd, bzip2, xz, lzma or none), the tar inside comes out whole, and a layer read hashes
what it unpacks to, so that its diff_id is that of the tar whatever the compression."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
from collections.abc import Callable

import pytest
import zstandard

from auditor.errors import ArchiveError
from auditor.sources.layers import Wanted
from auditor.sources.saved import read_layer
from auditor.sources.streams import decompressed, is_plain
from tests.support.factory import file, layer_tar

TAR = layer_tar([file("app/main.py", "print('hi')\n"), file("BZh91AY&SY", "a name like bzip2")])
CODECS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda data: data,
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "gzip-two-members": lambda data: gzip.compress(data[:700]) + gzip.compress(data[700:]),
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "bzip2-1": lambda data: bz2.compress(data, 1),
    "bzip2-9": lambda data: bz2.compress(data, 9),
    "xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ),
    "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE),
}


@pytest.mark.parametrize("codec", CODECS)
def test_every_compression_unpacks_to_the_tar(codec: str) -> None:
    stream = decompressed(io.BytesIO(CODECS[codec](TAR)), "layer 1")
    assert stream.read() == TAR
    assert is_plain(stream) == (codec == "plain")


@pytest.mark.parametrize("codec", CODECS)
def test_a_layer_read_gives_the_diff_id_of_its_tar(codec: str) -> None:
    blob = CODECS[codec](TAR)
    content, diff_id = read_layer(io.BytesIO(blob), Wanted(()), "layer 1", None)
    assert diff_id == "sha256:" + hashlib.sha256(TAR).hexdigest()
    assert content is not None
    assert "app/main.py" in {entry.path for entry in content.entries}


@pytest.mark.parametrize("codec", ["bzip2-9", "xz", "gzip"])
def test_a_truncated_stream_is_one_archive_error(codec: str) -> None:
    blob = CODECS[codec](TAR)
    with pytest.raises(ArchiveError, match="layer 1"):
        decompressed(io.BytesIO(blob[: len(blob) // 2]), "layer 1").read()
