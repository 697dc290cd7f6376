"""Byte counts, changes and counted things, as people read and write them."""

from __future__ import annotations

import re
from collections.abc import Callable

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i)?)?b?\s*$", re.IGNORECASE)
_UNITS = " kmgt"
_DECIMAL = ("", "kB", "MB", "GB", "TB")
_BINARY = ("", "KiB", "MiB", "GiB", "TiB")


def human_size(size: int | float) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def plural(count: int, noun: str, many: str = "") -> str:
    """'1 layer', '3 layers', '0 findings'; `many` for a noun whose plural is not noun + s."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def signed(change: int, show: Callable[[int], str] = str) -> str:
    """A change with its sign: '+3', '-8', '±0'; `show` writes the magnitude ('+1.2 MB' with
    human_size)."""
    if change == 0:
        return "±" + show(0)
    return ("+" if change > 0 else "-") + show(abs(change))


def parse_size(text: str) -> int:
    """'400MB', '1.5G', '512MiB', '2kb' or a byte count; ValueError for anything else."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (try 400MB, 1.5GB or 512MiB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    power = _UNITS.index((unit or " ").lower())
    return int(float(number) * base**power)


def size_setting(size: int) -> str:
    """The shortest exact way to write a byte count for parse_size: '400MB', '512MiB', '1234'."""
    for power in range(len(_UNITS) - 1, 0, -1):
        for base, names in ((1000, _DECIMAL), (1024, _BINARY)):
            if size and size % base**power == 0:
                return f"{size // base**power}{names[power]}"
    return str(size)
