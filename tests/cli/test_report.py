"""`imgaudit report DB...` end to end: every format from a real sweep database, shards merged,
and one error line with a hint (exit 2) for what is not a sweep database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.cli import imgaudit
from tests.support.demo import SECRETS
from tests.support.sweeps import fill


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.db"
    fill(path)
    return path


def test_table_is_the_default(db: Path, cli_env: dict[str, str]) -> None:
    done = imgaudit("report", str(db), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "6 tag(s), 5 image(s) in 5 repositories; 2 error(s)" in done.stdout
    assert "apps/bad" in done.stdout and "error: manifest unknown" in done.stdout


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_every_format_to_a_file(db: Path, cli_env: dict[str, str], tmp_path: Path,
                                fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    done = imgaudit("report", str(db), "--format", fmt, "--output", str(out), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "6 tag(s)" in done.stderr
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        assert len(json.loads(text)["tags"]) == 6
    elif fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(text)))) == 6
    else:
        assert text.startswith("<!DOCTYPE html>")
    for secret in SECRETS:
        assert secret not in text and secret not in done.stderr


def test_shards_are_merged(tmp_path: Path, cli_env: dict[str, str]) -> None:
    one, two = tmp_path / "1.db", tmp_path / "2.db"
    fill(one)
    fill(two)
    done = imgaudit("report", str(one), str(two), "-f", "json", env=cli_env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert len(document["tags"]) == 6 and len(document["sweeps"]) == 2
    assert document["databases"] == [str(one), str(two)]


@pytest.mark.parametrize(("content", "words"), [
    (None, "no sweep database"),
    (b"PK\x03\x04 not sqlite" * 200, "not an imgaudit sweep database"),
    (b"", "holds no sweep results"),
])
def test_what_is_not_a_sweep_database_is_one_error_line(
        tmp_path: Path, db: Path, cli_env: dict[str, str], content: bytes | None,
        words: str) -> None:
    bad = tmp_path / "bad.db"
    if content is not None:
        bad.write_bytes(content)
    done = imgaudit("report", str(db), str(bad), "-f", "html", "-o", str(tmp_path / "r.html"),
                    env=cli_env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("imgaudit: error:")]
    assert len(lines) == 1 and words in lines[0] and "hint:" in lines[0], done.stderr
    assert not (tmp_path / "r.html").exists()
