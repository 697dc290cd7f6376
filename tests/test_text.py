"""Untrusted text made printable: every control character escaped wherever it could reach a
terminal (error messages, the one-line errors of the CLI), and nothing else changed."""

from __future__ import annotations

import re

import pytest

from auditor.cli.common import fail
from auditor.errors import ImgauditError, RegistryError
from auditor.text import printable

# What a hostile registry could send as a media type: retitle the terminal, then overwrite the
# line with a reassuring one.
HOSTILE = "x\x1b]0;PWNED\x07\rimgaudit: all good"
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_characters_are_escaped() -> None:
    assert printable(HOSTILE) == "x\\x1b]0;PWNED\\x07\\rimgaudit: all good".replace(
        "\\r", "\\x0d")
    for char in ("\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\u202e", "\u2066"):
        shown = printable(f"a{char}b")
        assert not UNSAFE.search(shown), repr(shown)
        assert shown.startswith("a\\") and shown.endswith("b")
    # Text that is safe stays as it is: letters of any script, punctuation, emoji.
    for safe in ("application/vnd.oci.image.manifest.v1+json", "café ünïcode 日本語 🐳", ""):
        assert printable(safe) == safe


def test_printable_is_idempotent_and_cuts_long_text() -> None:
    once = printable(HOSTILE)
    assert printable(once) == once
    assert printable("a" * 500, 100) == "a" * 97 + "..."
    assert printable("short", 100) == "short"


def test_errors_escape_their_message_and_hint() -> None:
    error = RegistryError(f"its config is {HOSTILE}", hint=f"hint {HOSTILE}")
    assert not UNSAFE.search(error.message) and not UNSAFE.search(error.hint)
    assert "PWNED" in error.message and str(error) == error.message
    assert not UNSAFE.search(ImgauditError("a\x1b[2Jb").message)


def test_fail_writes_one_printable_line(capsys: pytest.CaptureFixture[str]) -> None:
    fail(f"manifest is {HOSTILE}", "do \x9b31m this")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    assert not UNSAFE.search(err.rstrip("\n"))
    assert err.startswith("imgaudit: error: manifest is x\\x1b]0;PWNED") and "(hint: do " in err
