"""The table of every fixture image, with both builders, as a terminal shows it: no line wider
than COLUMNS, no 64-hex digest (cut to 12 hex; --verbose keeps them whole), findings worst
first, and the files one step copied in listed once."""

from __future__ import annotations

import re

import pytest

from auditor.model.findings import Severity
from tests.support.cli import imgaudit

pytestmark = [pytest.mark.engine]
DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
SEVERITIES = {s.label for s in Severity}


@pytest.fixture(scope="module")
def fixture_tags(fixture_images: list[str]) -> list[str]:
    return sorted(tag for tag in fixture_images if tag.startswith("imgaudit-fixture/"))


@pytest.mark.parametrize("columns", [80, 100])
def test_no_line_is_wider_than_the_terminal_and_no_digest_is_whole(
        fixture_tags: list[str], columns: int, cli_env: dict[str, str]) -> None:
    env = dict(cli_env, COLUMNS=str(columns))
    for tag in fixture_tags:
        ran = imgaudit(tag, env=env)
        assert ran.returncode == 0, ran.stderr
        wide = [line for line in ran.stdout.splitlines() if len(line) > columns]
        assert not wide, f"{tag}: {wide}"
        assert not DIGEST.search(ran.stdout), tag


def severities(table: str) -> list[int]:
    section = table.split("Findings (", 1)[1].split("\n\n", 1)[0]
    labels = [line.split()[0] for line in section.splitlines()[1:] if line.startswith("  ")
              and line.split() and line.split()[0] in SEVERITIES]
    return [Severity.parse(label) for label in labels]


def test_findings_come_worst_first(cli_env: dict[str, str]) -> None:
    ran = imgaudit("imgaudit-fixture/demo-bad:buildkit", env=cli_env)
    order = severities(ran.stdout)
    assert len(order) > 5 and order == sorted(order, reverse=True)


def test_files_one_copy_brought_in_are_grouped_under_it(cli_env: dict[str, str]) -> None:
    ran = imgaudit("imgaudit-fixture/context-copy:classic", env=dict(cli_env, COLUMNS="100"))
    causes = ran.stdout.split("Copied in by one step:\n", 1)[1].split("\nFixes:", 1)[0]
    assert causes.count("[A]") == 1 and "[B]" not in causes
    assert re.match(r"  \[A\] 9 paths copied by COPY dir:[0-9a-f]{12} in \. \(layer 5,", causes)
    assert "whole build context" in causes
    assert ran.stdout.count("[A]") == 10  # each of the nine findings points at it
    assert ran.stdout.count("likely cause") == 0
    assert ran.stdout.count("fix:") == 0 and ran.stdout.count("IA403   Add them") == 1


def test_verbose_keeps_every_finding_s_full_evidence(cli_env: dict[str, str]) -> None:
    ran = imgaudit("imgaudit-fixture/context-copy:classic", "--verbose",
                   env=dict(cli_env, COLUMNS="300"))
    assert ran.returncode == 0, ran.stderr
    assert DIGEST.search(ran.stdout)
    # nine findings on the COPY of the whole context, each with its cause; the tenth, the
    # HEALTHCHECK it lacks, is a config finding of no step: each of the ten has its fix
    assert ran.stdout.count("likely cause") == 9 and ran.stdout.count("fix: ") == 10
    assert "IA1301" in ran.stdout


def test_one_layer_is_one_layer(cli_env: dict[str, str]) -> None:
    ran = imgaudit("imgaudit-fixture/demo-bad:buildkit", env=cli_env)
    text = ran.stdout + ran.stderr
    assert not re.search(r"\b1 (layers|files|paths|findings)\b", text)
    assert "(s)" not in text
