"""`imgaudit config`: each setting's value and source as a table and as JSON, where it searched,
a bad policy file as one error line, and its TOML output read back as a policy file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.config import COMMAND_LINE, DEFAULT
from tests.support.cli import assert_one_line_error
from tests.support.demo import ARCHIVE
from tests.support.policy_files import imgaudit, load, make_repo, write

BAD = f"docker-archive:{ARCHIVE}:@2"  # imgaudit-fixture/demo-bad:buildkit


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def test_imgaudit_config_shows_each_source(repo: Path, cli_env: dict[str, str]) -> None:
    policy_file = write(repo / ".imgaudit.toml", """
fail-under = 70
fail-on = "high"
[weights]
11 = 30
[[waivers]]
rule = "IA201"
reason = "legacy base, ticket OPS-7"
expires = 2020-01-01
[[waivers]]
rule = "IA401"
reason = "template"
""")
    nested = repo / "deploy"
    nested.mkdir()
    done = imgaudit("config", "--fail-on", "critical", "--max-layers", "3", "-f", "json",
                    cwd=nested, env=cli_env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["file"] == str(policy_file)
    settings = document["settings"]
    assert settings["fail-under"] == {"value": 70, "source": str(policy_file)}
    assert settings["fail-on"] == {"value": "critical", "source": COMMAND_LINE}
    assert settings["max-layers"] == {"value": 3, "source": COMMAND_LINE}
    assert settings["max-size"] == {"value": 400_000_000, "source": DEFAULT}
    assert settings["read"] == {"value": "auto", "source": DEFAULT}
    assert settings["weights.11"] == {"value": 30, "source": str(policy_file)}
    assert settings["weights.2"] == {"value": 15, "source": DEFAULT}
    assert settings["severity.IA201"] == {"value": "high", "source": DEFAULT}
    assert [(w["rule"], w["expired"], w["source"]) for w in document["waivers"]] == [
        ("IA201", True, f"{policy_file} waivers[1]"),
        ("IA401", False, f"{policy_file} waivers[2]"),
    ]
    table = imgaudit("config", "--fail-on", "critical", cwd=nested, env=cli_env).stdout
    assert f"policy file: {policy_file}" in table
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}
    assert rows["fail-on"][1:4] == ["critical", "command", "line"]
    assert rows["fail-under"][1:3] == ["70", str(policy_file)]
    assert rows["max-size"][1:3] == ["400MB", DEFAULT]
    assert "EXPIRED on 2020-01-01" in table and "legacy base, ticket OPS-7" in table
    assert imgaudit("config", "--no-config", cwd=nested, env=cli_env).stdout.startswith(
        "policy file: none read (--no-config)")


def test_imgaudit_config_says_where_it_searched(repo: Path, cli_env: dict[str, str]) -> None:
    nested = repo / "a" / "b"
    nested.mkdir(parents=True)
    done = imgaudit("config", cwd=nested, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        f"no policy file found; searched from {nested} upward to {repo}")


def test_imgaudit_config_toml_round_trips_through_the_cli(repo: Path, cli_env: dict[str, str]
                                                         ) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n[severity]\nIA703 = 'low'\n")
    done = imgaudit("config", "--format", "toml", "--ignore", "IA201", "--fail-on", "low",
                    cwd=repo, env=cli_env)
    assert done.returncode == 0, done.stderr
    started = write(repo / "started" / ".imgaudit.toml", done.stdout)
    expected = load(repo, overrides={"rules.disable": ["IA201"], "fail-on": "low"}).policy
    assert load(started.parent).policy == expected


def test_bad_policy_file_is_a_one_line_error_through_the_cli(
    repo: Path, cli_env: dict[str, str]
) -> None:
    policy_file = write(repo / ".imgaudit.toml",
                        "[[waivers]]\nrule = 'IA401'\nreason = 'r'\nexpires = 'soon'\n")
    for command in ((BAD,), ("config",)):
        done = imgaudit(*command, cwd=repo, env=cli_env)
        assert_one_line_error(done, str(policy_file), "waivers[1].expires")
        assert not done.stdout
