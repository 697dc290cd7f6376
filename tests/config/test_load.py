"""The policy's layers: defaults < the policy file < the command line, where each setting came
from, bad option values named by their option, and weights that leave nothing to score."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import COMMAND_LINE, DEFAULT
from auditor.errors import ConfigError
from auditor.model.findings import Severity
from auditor.model.policy import Limits, Policy
from auditor.rules import PRACTICES
from tests.support.cli import assert_one_line_error
from tests.support.demo import ARCHIVE
from tests.support.policy_files import imgaudit, load, write

BAD = f"docker-archive:{ARCHIVE}:@2"  # imgaudit-fixture/demo-bad:buildkit


def test_file_overrides_defaults_and_command_line_overrides_file(repo: Path) -> None:
    policy_file = write(repo / ".imgaudit.toml", """
fail-under = 70
fail-on = "high"
score-base = true
max-size = "1GB"
max-own-size = 150000000
max-layers = 12
[rules]
disable = ["ia7*"]
""")
    effective = load(repo, overrides={
        "fail-on": "critical", "max-size": "2GB", "rules.disable": ["IA201,IA302"],
        "fail-under": None, "score-base": None, "max-layers": None,  # None: not given
    })
    policy = effective.policy
    assert policy.fail_under == 70 and policy.score_base is True
    assert policy.fail_on is Severity.CRITICAL
    assert policy.limits == Limits(max_size=2_000_000_000, max_own_size=150_000_000,
                                   max_own_layers=12)
    assert policy.ignore == {"IA7*", "IA201", "IA302"}  # --ignore adds to the file's list
    sources = effective.sources
    assert sources["fail-under"] == sources["max-own-size"] == str(policy_file)
    assert sources["fail-on"] == sources["max-size"] == COMMAND_LINE
    assert sources["rules.disable"] == f"{policy_file} + {COMMAND_LINE}"
    assert sources["max-base-size"] == sources["weights.3"] == DEFAULT
    # "none" on the command line switches the file's fail-on off.
    assert load(repo, overrides={"fail-on": "none"}).policy.fail_on is None
    assert load(repo, overrides={"score-base": False}).policy.score_base is False


def test_without_a_file_the_command_line_alone_sets_the_policy(repo: Path) -> None:
    effective = load(repo, overrides={"fail-under": 80, "rules.disable": ["IA201"]})
    assert effective.policy == Policy(fail_under=80, ignore=frozenset({"IA201"}))
    assert effective.sources["rules.disable"] == COMMAND_LINE


@pytest.mark.parametrize(("key", "value", "option"), [
    ("fail-on", "severe", "--fail-on"),
    ("max-size", "lots", "--max-size"),
    ("rules.disable", ["IA999"], "--ignore"),
])
def test_bad_command_line_values_name_the_option(repo: Path, key: str, value: object,
                                                 option: str) -> None:
    with pytest.raises(ConfigError, match=f"^{option}: ") as caught:
        load(repo, overrides={key: value})
    assert caught.value.hint


def test_weights_that_all_are_zero_are_refused(repo: Path, cli_env: dict[str, str]) -> None:
    # every score would be 100: a critical finding would pass --fail-under
    zeros = "".join(f"{p.id} = 0\n" for p in PRACTICES)
    policy_file = write(repo / ".imgaudit.toml", "[weights]\n" + zeros)
    done = imgaudit(BAD, "--fail-under", "90", cwd=repo, env=cli_env)
    assert_one_line_error(done, f"{policy_file}: weights: every practice weighs 0")
    write(repo / ".imgaudit.toml", "[weights]\n" + zeros.replace("2 = 0", "2 = 1", 1))
    assert load(repo).policy.weights[2] == 1  # one practice left is enough
