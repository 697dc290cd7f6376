"""Edits applied to a file's text, and the unified diff between two texts: pure text in, text
out. Line endings (LF or CRLF) and the presence of a final newline are kept as they were."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.fix.model import Edit


@dataclass(frozen=True, slots=True)
class Lines:
    lines: tuple[str, ...]  # without line endings
    newline: str  # "\n" or "\r\n"
    final_newline: bool  # whether the text ends with one (an empty text counts as ending so)

    def text(self) -> str:
        body = self.newline.join(self.lines)
        return body + self.newline if self.lines and self.final_newline else body


def split_lines(text: str) -> Lines:
    """The text's lines as a builder counts them (on LF), each without its line ending."""
    newline = "\r\n" if "\r\n" in text else "\n"
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n") if text else []
    if newline == "\r\n":
        lines = [line.removesuffix("\r") for line in lines]
    return Lines(tuple(lines), newline, text.endswith("\n") or not text)


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """The text with every edit made; edits may not overlap (ValueError)."""
    source = split_lines(text)
    out: list[str] = []
    position = 1  # the next original line to copy
    for edit in sorted(edits, key=lambda e: (e.start, not e.inserts)):
        if edit.start < position or edit.end > len(source.lines):
            raise ValueError(f"edit of lines {edit.start}-{edit.end} overlaps another or runs "
                             f"past line {len(source.lines)}")
        out.extend(source.lines[position - 1 : edit.start - 1])
        out.extend(edit.lines)
        position = edit.start if edit.inserts else edit.end + 1
    out.extend(source.lines[position - 1 :])
    return Lines(tuple(out), source.newline, source.final_newline).text()


def unified_diff(old: str | None, new: str, name: str) -> str:
    """A unified diff from old to new (None: the file does not exist yet, `/dev/null`), with
    `a/NAME` and `b/NAME` as paths (an absolute NAME without its leading slash); "" when nothing
    changed."""
    if old == new:
        return ""
    name = name.lstrip("/")
    before = split_lines(old or "").lines if old is not None else ()
    after = split_lines(new).lines
    lines = difflib.unified_diff(
        before, after, fromfile="/dev/null" if old is None else f"a/{name}",
        tofile=f"b/{name}", lineterm="",
    )
    return "".join(line + "\n" for line in lines)
