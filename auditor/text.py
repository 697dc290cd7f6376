"""Untrusted text made safe to show: control characters escaped, so that a name or a media type
a registry (or an image) supplies cannot move the cursor, retitle the terminal or forge a line."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (ESC, BEL, CR, LF, CSI...), and the bidirectional overrides
# that make a terminal show text in another order than it is read.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control character written as `\\xNN` (`\\uNNNN` for the bidirectional
    ones); with `limit`, cut to that many characters first, ending in "...". Idempotent when
    no limit is given."""
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return _UNSAFE.sub(_escape, text)
