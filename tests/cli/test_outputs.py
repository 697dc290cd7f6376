"""`--format FMT[=FILE]` end to end on the shipped archive: one audit writes every format, colour
only for a terminal (NO_COLOR, --color, --no-color), --quiet, and one-line errors for bad formats
and files that cannot be written (the others still written)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema

from auditor.formats import RENDERERS
from tests.support.cli import assert_one_line_error, imgaudit
from tests.support.demo import ARCHIVE, BAD, SECRETS

GOOD = f"docker-archive:{ARCHIVE}:@1"
SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "data" /
                     "sarif-schema-2.1.0.json").read_text())
ANSI = "\x1b["


def summary_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ": score " in line]


def test_one_run_writes_every_format(cli_env: dict[str, str], tmp_path: Path) -> None:
    files = {fmt: tmp_path / f"report.{fmt}" for fmt in RENDERERS if fmt != "table"}
    args = [item for fmt, path in files.items() for item in ("--format", f"{fmt}={path}")]
    done = imgaudit(BAD, "--format", "table", *args, "--fail-on", "high", env=cli_env)
    assert done.returncode == 1, done.stderr  # written, then the policy gate
    assert "score " in done.stdout and "Findings (" in done.stdout  # the table on stdout
    assert len(summary_lines(done.stderr)) == 1  # one audit, one summary line
    score = json.loads(files["json"].read_text())["images"][0]["score"]
    sarif = json.loads(files["sarif"].read_text())
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(sarif)
    assert sarif["runs"][0]["properties"]["images"][0]["score"] == score
    suite = ET.fromstring(files["junit"].read_text()).find("testsuite")
    assert suite is not None and suite.get("name") == BAD
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["score"] == str(score)
    assert f"{score}/100" in files["markdown"].read_text()
    assert files["github"].read_text().startswith("::")
    for text in (done.stdout, done.stderr, *(p.read_text() for p in files.values())):
        for secret in SECRETS:
            assert secret not in text
        assert ANSI not in text  # NO_COLOR in cli_env, and files are never coloured


def test_output_still_takes_the_single_format(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    done = imgaudit(GOOD, "-f", "markdown", "-o", str(out), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and out.read_text().startswith("## imgaudit")


def test_unknown_format_lists_the_known_ones(cli_env: dict[str, str]) -> None:
    done = imgaudit(GOOD, "--format", "xml", env=cli_env)
    assert_one_line_error(done, "unknown format 'xml'", *RENDERERS)


def test_two_formats_for_stdout_is_an_error(cli_env: dict[str, str]) -> None:
    done = imgaudit(GOOD, "--format", "table", "--format", "json", env=cli_env)
    assert_one_line_error(done, "more than one format without a file", "table, json")
    assert done.stdout == ""


def test_two_formats_into_one_file_is_an_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    same = tmp_path / "same.out"
    done = imgaudit(GOOD, "--format", f"json={same}", "--format", f"sarif={same}", env=cli_env)
    assert_one_line_error(done, "two formats would write", "same.out")
    assert not same.exists()


def test_a_file_that_cannot_be_written_leaves_the_others_written(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "no" / "such" / "dir" / "r.sarif"
    good = tmp_path / "r.json"
    done = imgaudit(GOOD, "--format", f"sarif={bad}", "--format", f"json={good}", env=cli_env)
    assert_one_line_error(done, "cannot write the sarif report", str(bad))
    assert json.loads(good.read_text())["images"][0]["score"] == 99  # no HEALTHCHECK (IA1301)
    assert done.stdout == ""


def test_quiet_drops_the_summary_but_not_errors(cli_env: dict[str, str], tmp_path: Path) -> None:
    loud = imgaudit(GOOD, env=cli_env)
    assert len(summary_lines(loud.stderr)) == 1
    quiet = imgaudit(GOOD, "-q", env=cli_env)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout
    missing = f"docker-archive:{tmp_path / 'gone.tar'}"
    failed = imgaudit(GOOD, missing, "--quiet", env=cli_env)
    assert failed.returncode == 2
    assert summary_lines(failed.stderr) == []
    assert "imgaudit: error: " in failed.stderr and "gone.tar" in failed.stderr


def on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """stdout of imgaudit run with a pseudo-terminal as its stdout."""
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = subprocess.run([sys.executable, "-m", "auditor.cli", *args], stdout=follower,
                              stderr=subprocess.PIPE, env=env, timeout=300)
    finally:
        os.close(follower)
        reader.join(timeout=30)
        os.close(leader)
    assert done.returncode == 0, done.stderr
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env.items() if k != "NO_COLOR"}
    coloured = on_a_terminal(GOOD, env=env)
    assert ANSI in coloured and "grade A" in coloured
    assert ANSI not in on_a_terminal(GOOD, env=dict(env, NO_COLOR="1"))
    assert ANSI in on_a_terminal(GOOD, env=dict(env, NO_COLOR=""))  # empty means unset
    assert ANSI not in on_a_terminal(GOOD, "--no-color", env=env)
    json_out = on_a_terminal(GOOD, "-f", "json", env=env)
    assert ANSI not in json_out and json.loads(json_out)["images"]


def test_color_forces_it_but_never_into_files(cli_env: dict[str, str], tmp_path: Path) -> None:
    forced = imgaudit(GOOD, "--color", env=cli_env)  # a pipe, and NO_COLOR set
    assert ANSI in forced.stdout
    out = tmp_path / "table.txt"
    done = imgaudit(GOOD, "--color", "--format", f"table={out}", env=cli_env)
    assert done.returncode == 0 and ANSI not in out.read_text()
