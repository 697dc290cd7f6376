"""Untrusted text made safe to show: control characters escaped, so that a name, a label or a
media type an image or a registry supplies cannot move the cursor, retitle the terminal, write
the clipboard or forge a line; and names that are not UTF-8 made valid Unicode for JSON."""

from __future__ import annotations

import re
from typing import Any

# C0 controls, DEL and C1 controls (ESC, BEL, CR, LF, CSI...), the bidirectional overrides that
# make a terminal show text in another order than it is read, and lone surrogates: a name that
# is not UTF-8 holds its bytes as U+DC80-U+DCFF (surrogateescape), which no terminal may get raw
# (0x9b is CSI on an 8-bit terminal) and no UTF-8 encoder can write.
_OTHERS = "\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHERS}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8: shown as the byte it was
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None, *, lines: bool = False) -> str:
    """`text` with every control character written as `\\xNN` (`\\uNNNN` for the bidirectional
    ones, `\\xNN` of the byte for one that was not UTF-8); with `lines`, newlines kept (a
    rendered report); with `limit`, cut to that many characters first, ending in "...".
    Idempotent when no limit is given. The one escaping function for anything a terminal shows."""
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return (_UNSAFE_BUT_NEWLINE if lines else _UNSAFE).sub(_escape, text)


def valid_unicode(document: Any) -> Any:
    """A JSON document (dicts, lists, strings, numbers) whose strings hold no lone surrogate:
    a byte of a name that was not UTF-8 is written `\\xNN`, so json.dumps gives valid UTF-8."""
    if isinstance(document, str):
        return _SURROGATE.sub(_escape, document) if _SURROGATE.search(document) else document
    if isinstance(document, dict):
        return {valid_unicode(k): valid_unicode(v) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return [valid_unicode(v) for v in document]
    return document
