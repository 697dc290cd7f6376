"""Huge zero-filled files (IA404, practice 4): seen as a layer streams past, in any layer; the
faillog or lastlog useradd leaves for a large UID is named as such, with its own fix."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from auditor.model.findings import Status
from auditor.model.image import ZERO_FILE_MIN
from auditor.sources.cache import LayerCache
from auditor.sources.layers import scan_layer
from auditor.units import human_size
from tests.support.factory import WANTED, check, file, good, layer_tar, run, whiteout

ZEROS = ZERO_FILE_MIN


def test_the_good_image_passes() -> None:
    result = check(good(), "IA404")
    assert result.status is Status.PASS
    assert result.note == f"no file of {human_size(ZEROS)} or more holds only zeros"


def test_a_faillog_of_zeros_is_named_as_useradd_left_it() -> None:
    spec = good().adding(run("useradd -u 2000000 app", file("var/log/faillog", size=ZEROS)))
    result = check(spec, "IA404")
    assert result.status is Status.WARN  # medium
    (finding,) = result.findings
    assert finding.message.startswith("login log filled with zeros by useradd: /var/log/faillog")
    assert "--no-log-init" in finding.evidence
    assert f"({ZEROS} bytes, all zero)" in finding.evidence
    assert finding.path == "var/log/faillog" and finding.size == ZEROS
    assert finding.layer == len(spec.layer_tars())  # the RUN's layer, the last


def test_another_zero_file_is_flagged_without_the_useradd_fix() -> None:
    spec = good().adding(run("fallocate", file("srv/disk.img", size=ZEROS)))
    (finding,) = check(spec, "IA404").findings
    assert finding.message.startswith("zero-filled file in the image: /srv/disk.img")
    assert "useradd" not in finding.evidence


def test_a_zero_file_deleted_later_is_still_shipped() -> None:
    spec = good().adding(run("make log", file("var/log/lastlog", size=ZEROS)),
                         run("rm /var/log/lastlog", whiteout("var/log/lastlog")))
    (finding,) = check(spec, "IA404").findings
    assert "deleted by a later layer but still shipped" in finding.evidence


def test_one_byte_that_is_not_zero_or_a_byte_too_few_is_no_finding() -> None:
    tail = bytes(ZEROS - 1) + b"\x01"
    head = b"\x01" + bytes(ZEROS - 1)
    for member in (file("var/log/faillog", tail), file("var/log/faillog", head),
                   file("var/log/faillog", size=ZEROS - 1)):
        assert check(good().adding(run("x", member)), "IA404").status is Status.PASS


def test_zero_files_are_seen_in_a_compressed_layer_and_survive_the_cache(
    tmp_path: Path,
) -> None:
    data = layer_tar([file("var/log/faillog", size=ZEROS), file("app/x", "y")])
    content = scan_layer(io.BytesIO(gzip.compress(data, 1)), WANTED)
    assert content.zero_files == ("var/log/faillog",)
    cache = LayerCache(tmp_path)
    digest = "sha256:" + "a" * 64
    cache.put(digest, WANTED, content)
    assert cache.get(digest, WANTED) == content
