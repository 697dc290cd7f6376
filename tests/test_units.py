"""Sizes as people write them: parsed, and written back exactly."""

from __future__ import annotations

import pytest

from auditor.units import human_size, parse_size, signed, size_setting


@pytest.mark.parametrize(("text", "size"), [
    ("400MB", 400_000_000), ("400 mb", 400_000_000), ("1.5GB", 1_500_000_000),
    ("1.5G", 1_500_000_000), ("512MiB", 512 * 1024**2), ("2kb", 2000), ("1KiB", 1024),
    ("3TB", 3 * 10**12), ("1234", 1234), ("7B", 7),
])
def test_sizes_parse_and_write_back(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(size_setting(size)) == size


@pytest.mark.parametrize("text", ["", "MB", "lots", "4x", "1iB", "-3MB", "1,5GB"])
def test_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_sizes_are_written_in_the_largest_exact_unit() -> None:
    assert [size_setting(n) for n in (400_000_000, 512 * 1024**2, 1_500_000_000, 1001, 0)] == [
        "400MB", "512MiB", "1500MB", "1001", "0"]


def test_changes_carry_their_sign() -> None:
    assert [signed(n) for n in (3, -8, 0)] == ["+3", "-8", "±0"]
    assert signed(1_200_000, human_size) == "+1.2 MB"
    assert signed(-1_200_000, human_size) == "-1.2 MB"
    assert signed(0, human_size) == "±0 B"
