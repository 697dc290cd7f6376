"""Terminal-safe: an image built on the engine whose file names, labels, env keys, user,
workdir, command and history hold ESC, OSC 52, BEL, CR, a bidi override and a byte that is not
UTF-8 is audited in every format; no control byte reaches stdout or stderr, what the image said
is still readable (escaped), and JSON, SARIF and JUnit stay valid."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Ran, imgaudit

DOCKER = "/usr/bin/docker"
TAG = "ia-hostile/terminal:classic"
ESC, BEL = "\x1b", "\x07"
OSC52 = f"{ESC}]52;c;aGk={BEL}"  # would write "hi" to the user's clipboard
# What a terminal would act on: C0 but newline, DEL, C1, bidi overrides, lone surrogates.
ACTIVE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                    "\ud800-\udfff]")
# Directory names, made by printf in the image (octal escapes: the Dockerfile stays printable
# there); each holds a .env so that IA401 names it.
NAMES = (r"esc\033[31mred", r"osc\033]52;c;aGk=\007", r"bel\007", r"cr\rline", r"bad\377byte",
         r"bidi\342\200\256txt")
PRINTED = [f"\"$(printf '{name}')\"" for name in NAMES]
DOCKERFILE = f"""\
FROM imgaudit-fixture/busybox-base:1
LABEL "k{ESC}[31mred"="v{OSC52}" io.imgaudit.waive="IA4O1{OSC52}: {ESC}[2J gone"
ENV "API_TOKEN{ESC}[2J"=x
RUN for d in {" ".join(PRINTED)}; do \\
      mkdir -p "/srv/$d" && echo TOKEN=x > "/srv/$d/.env"; done; echo "{OSC52}" > /dev/null
WORKDIR /w{ESC}[31m
CMD ["{OSC52}"]
USER "{ESC}[31mroot"
"""


@pytest.fixture(scope="module")
def hostile_image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    context = tmp_path_factory.mktemp("ia-hostile-terminal")
    (context / "Dockerfile").write_text(DOCKERFILE)
    done = subprocess.run(
        [DOCKER, "build", "--quiet", "--network", "none", "--tag", TAG,
         "--label", f"cli{ESC}[1mlabel=x", str(context)],
        env=dict(os.environ, DOCKER_BUILDKIT="0"), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield TAG
    finally:
        subprocess.run([DOCKER, "rmi", TAG], capture_output=True)


def _audit(tag: str, env: dict[str, str], *options: str) -> Ran:
    done = imgaudit(tag, "--no-dockerfile", *options, env=env)
    assert done.returncode in (0, 1), done.stderr  # audited: a verdict, not an error
    # with --color the table's own SGR codes are the only escape sequences
    stdout = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout) if "--color" in options else done.stdout
    for stream in (stdout, done.stderr):
        active = ACTIVE.search(stream)
        assert active is None, (repr(active.group()), stream[max(0, active.start() - 80):][:160])
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    return done


def _visible(text: str, cr: str = "\\x0d") -> None:
    """Every hostile name shown, escaped: the reader sees what the image tried."""
    for shown in ("esc\\x1b[31mred", "osc\\x1b]52;c;aGk=\\x07", "bel\\x07", f"cr{cr}line",
                  "bad\\xffbyte", "bidi\\u202etxt"):
        assert shown in text, shown


@pytest.mark.parametrize("options", [(), ("--verbose",), ("--color",), ("--color", "-v")],
                         ids=["table", "verbose", "color", "color-verbose"])
def test_the_table_escapes_what_the_image_says(
    hostile_image: str, cli_env: dict[str, str], options: tuple[str, ...]
) -> None:
    done = _audit(hostile_image, cli_env, *options)
    # colour is the table's own SGR codes only; the image's [31m is shown, not obeyed
    painted = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert ("--color" in options) == (painted != done.stdout)
    assert ESC not in painted
    _visible(painted)
    assert "USER \\x1b[31mroot" in painted
    assert '"["\\x1b]52;c;aGk=\\x07"]"' in painted  # config.Cmd
    # the notice about the waiver label, and the summary line, on stderr
    assert "notice:" in done.stderr and "\\x1b]52" in done.stderr


def test_markdown_escapes_what_the_image_says(hostile_image: str,
                                               cli_env: dict[str, str]) -> None:
    done = _audit(hostile_image, cli_env, "--format", "markdown")
    # Markdown escapes its own specials too: `\x1b[31m` is written `\\x1b\[31m`
    unescaped = re.sub(r"\\([\\`*_\[\]<>|~#!&])", r"\1", done.stdout)
    _visible(unescaped)
    assert "\\x1b]52;c;aGk=\\x07" in unescaped


def test_github_annotations_escape_what_the_image_says(hostile_image: str,
                                                        cli_env: dict[str, str]) -> None:
    done = _audit(hostile_image, cli_env, "--format", "github")
    _visible(done.stdout, cr="%0D")  # GitHub's own escape for a line break in a message
    # every line is one workflow command: a CR or LF in a name cannot start another
    assert all(line.startswith("::") for line in done.stdout.splitlines())


@pytest.mark.parametrize("fmt", ["json", "sarif", "gitlab"])
def test_json_reports_keep_the_names_and_stay_valid_utf8(
    hostile_image: str, cli_env: dict[str, str], fmt: str
) -> None:
    done = _audit(hostile_image, cli_env, "--format", fmt)
    document = json.loads(done.stdout.encode("utf-8"))  # strict: no lone surrogate
    text = "\n".join(_strings(document))
    text.encode("utf-8")
    # JSON keeps what the image says (escaped the JSON way); a byte that is not UTF-8 is \xNN
    assert f"srv/esc{ESC}[31mred/.env" in text
    assert f"srv/osc{OSC52}/.env" in text
    assert "srv/bad\\xffbyte/.env" in text


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_junit_stays_valid_xml(hostile_image: str, cli_env: dict[str, str],
                               tmp_path: Path) -> None:
    """JUnit is for CI tools, not a terminal: what XML cannot hold is dropped, and it parses."""
    out = tmp_path / "junit.xml"
    _audit(hostile_image, cli_env, "--format", f"junit={out}")
    root = ET.fromstring(out.read_bytes())
    assert "srv/bad" in ET.tostring(root, encoding="unicode")


def test_a_file_gets_the_same_escaped_table(hostile_image: str, cli_env: dict[str, str],
                                            tmp_path: Path) -> None:
    out = tmp_path / "report.txt"
    done = _audit(hostile_image, cli_env, "--format", f"table={out}")
    written = out.read_text(encoding="utf-8")
    assert not ACTIVE.search(written)
    _visible(written)
    assert done.stdout == ""
