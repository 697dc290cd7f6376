"""ARG and ENV expansion as BuildKit's shell lexer does it, with unknown values kept as holes that
a recorded step fills in."""

from __future__ import annotations

import pytest

from auditor.dockerfile import DockerfileError
from auditor.dockerfile.words import (
    ANYTHING,
    Hole,
    Word,
    expand,
    expand_fields,
    literal,
    pattern,
)

ENV: dict[str, Word | None] = {
    "NAME": ("app",),
    "EMPTY": ("",),
    "UNSET": None,
    "PATHS": ("/usr/bin:/bin",),
    "FILE": ("archive.tar.gz",),
}


def text(source: str, escape: str = "\\") -> str | None:
    return literal(expand(source, ENV.get, escape))


@pytest.mark.parametrize(("source", "expected"), [
    ("$NAME", "app"),
    ("${NAME}", "app"),
    ("/home/$NAME/.cache", "/home/app/.cache"),
    ("${NAME}_x", "app_x"),
    ("$NAME_x", ""),  # the name runs on: NAME_x is unset
    ("$NOPE", ""),
    ("${UNSET:-fallback}", "fallback"),
    ("${EMPTY:-fallback}", "fallback"),
    ("${EMPTY-fallback}", ""),  # set, though empty
    ("${UNSET-fallback}", "fallback"),
    ("${NAME:-fallback}", "app"),
    ("${NAME:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET:+alt}", ""),
    ("${NAME:-$PATHS}", "app"),
    ("${UNSET:-${NAME}-x}", "app-x"),
    ("${FILE%.gz}", "archive.tar"),
    ("${FILE%%.*}", "archive"),
    ("${FILE#*.}", "tar.gz"),
    ("${FILE##*.}", "gz"),
    ("'$NAME'", "$NAME"),  # single quotes keep it literal
    ('"$NAME and more"', "app and more"),
    ('"a \\"quoted\\" word"', 'a "quoted" word'),
    ("\\$NAME", "$NAME"),
    ("a\\ b", "a b"),
    ("$", "$"),
    ("cost: 5$", "cost: 5$"),
])
def test_expands_as_buildkit_does(source: str, expected: str) -> None:
    assert text(source) == expected


def test_the_escape_directive_changes_the_escape_character() -> None:
    assert text("`$NAME", escape="`") == "$NAME"
    assert text("C:\\$NAME", escape="`") == "C:\\app"


@pytest.mark.parametrize("source", ["${}", "${NAME", "${:-x}", '"open', "'open", "${UNSET:?}",
                                    "${EMPTY:?must be set}", "${NAME!x}"])
def test_a_bad_reference_is_an_error(source: str) -> None:
    with pytest.raises(DockerfileError):
        expand(source, ENV.get)


def test_fields_split_on_unquoted_whitespace() -> None:
    fields = expand_fields('80 "8080 tcp" $PORTS', {"PORTS": ("443/tcp 53/udp",)}.get)
    assert [literal(field) for field in fields] == ["80", "8080 tcp", "443/tcp", "53/udp"]


def test_an_unknown_value_stays_a_hole_that_a_recorded_step_fills() -> None:
    user = Hole("arg:APP_USER", default="app")
    word = expand("/home/${APP_USER}/bin:$APP_USER", {"APP_USER": (user,)}.get)
    assert word == ("/home/", user, "/bin:", user)
    assert pattern(word).match_values("/home/app/bin:app") == {"arg:APP_USER": "app"}
    assert pattern(word).match_values("/home/web/bin:web") == {"arg:APP_USER": "web"}
    assert pattern(word).match_values("/home/web/bin:app") is None  # one value, both places


def test_a_modifier_on_an_unknown_value_matches_anything() -> None:
    word = expand("x${V:-d}y", {"V": (Hole("arg:V"),)}.get)
    assert word == ("x", *ANYTHING, "y")
    assert pattern(word).match_values("x-whatever-y") == {}


def test_patterns_ignore_how_whitespace_was_joined() -> None:
    expected = pattern("echo a &&", " ", "echo b")
    assert expected.match_values("echo a &&     echo b") == {}
    assert expected.match_values("echo a && echo c") is None


def test_a_lead_pattern_captures_what_comes_before() -> None:
    found = pattern("/bin/sh -c make").match("|1 V=1 /bin/sh -c make",
                                             lead=r"(?:\|\d+\s+(?P<lead>.*?)\s+)?")
    assert found == ({}, "V=1")
