"""The policy file: discovery from the working directory upward, --config and --no-config,
precedence (defaults < file < command line) and where `imgaudit config` says each value came
from, one-line errors naming key and file, the TOML round trip, and waivers, severities and
weights from a file applied end to end on the shipped archive."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from auditor import assess
from auditor.config import (
    COMMAND_LINE,
    DEFAULT,
    EffectivePolicy,
    dump_policy,
    find_policy_file,
    load_policy,
)
from auditor.errors import ConfigError, UsageError
from auditor.model import Limits, Policy, Severity, Status, Waiver
from auditor.rules import ALL_RULES, PRACTICES
from tests.support.cli import assert_one_line_error
from tests.support.demo import ARCHIVE
from tests.support.factory import build, copy, file, good

BAD = f"docker-archive:{ARCHIVE}:@2"  # imgaudit-fixture/demo-bad:buildkit


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository root (it holds .git), so discovery never wanders above the test's folder."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(cwd: Path, **kwargs: object) -> EffectivePolicy:
    return load_policy(cwd=cwd, **kwargs)  # type: ignore[arg-type]


def imgaudit(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )


# ----------------------------------------------------------------------------- discovery


def test_a_policy_file_is_found_from_a_nested_folder(repo: Path) -> None:
    policy_file = write(repo / ".imgaudit.toml", "fail-under = 70\n")
    nested = repo / "services" / "api"
    nested.mkdir(parents=True)
    found, searched = find_policy_file(nested)
    assert found is not None and found.path == policy_file and not found.in_pyproject
    assert searched == (nested, nested.parent, repo)
    effective = load(nested)
    assert effective.policy.fail_under == 70
    assert effective.sources["fail-under"] == str(policy_file)
    assert effective.sources["fail-on"] == DEFAULT


def test_a_nearer_pyproject_with_the_table_wins_and_one_without_is_skipped(repo: Path) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    write(repo / "a" / "pyproject.toml", '[project]\nname = "a"\n')
    deeper = repo / "a" / "b"
    write(deeper / "pyproject.toml",
          '[project]\nname = "b"\n\n[tool.imgaudit]\nfail-under = 55\n'
          '[tool.imgaudit.severity]\nIA703 = "low"\n')
    start = deeper / "src"
    start.mkdir()
    effective = load(start)
    assert effective.file is not None and effective.file.in_pyproject
    assert effective.policy.fail_under == 55
    assert effective.policy.severities == {"IA703": Severity.LOW}
    assert effective.sources["fail-under"] == f"{deeper / 'pyproject.toml'} [tool.imgaudit]"
    # Without the table, that pyproject.toml is passed over and the walk goes on upward.
    write(deeper / "pyproject.toml", '[project]\nname = "b"\n')
    assert load(start).policy.fail_under == 70
    assert load(start).file.path == repo / ".imgaudit.toml"  # type: ignore[union-attr]


def test_imgaudit_toml_comes_before_pyproject_in_one_folder(repo: Path) -> None:
    write(repo / "pyproject.toml", "[tool.imgaudit]\nfail-under = 55\n")
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    assert load(repo).policy.fail_under == 70


def test_the_search_stops_at_the_repository_root(repo: Path) -> None:
    write(repo.parent / ".imgaudit.toml", "fail-under = 99\n")  # above the repository
    nested = repo / "x"
    nested.mkdir()
    effective = load(nested)
    assert effective.file is None and effective.policy == Policy()
    assert effective.searched == (nested, repo)
    assert set(effective.sources.values()) == {DEFAULT}
    # Outside any repository the walk goes on to the filesystem root, so that file is found.
    outside = repo.parent / "scratch"
    outside.mkdir()
    assert load(outside).policy.fail_under == 99


def test_a_broken_pyproject_that_never_mentions_imgaudit_is_passed_over(repo: Path) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    write(repo / "sub" / "pyproject.toml", "[project\nname = 'x'\n")
    assert load(repo / "sub").policy.fail_under == 70
    write(repo / "sub" / "pyproject.toml", "[tool.imgaudit]\nfail-under = = 3\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: not valid TOML: .*line 2"):
        load(repo / "sub")


def test_config_names_the_file_and_no_config_reads_none(repo: Path, tmp_path: Path) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    elsewhere = write(tmp_path / "policies" / "strict.toml", "fail-under = 90\n")
    named = load(repo, config=elsewhere)
    assert named.policy.fail_under == 90 and named.sources["fail-under"] == str(elsewhere)
    assert named.searched == ()
    relative = load(tmp_path, config=Path("policies/strict.toml"))
    assert relative.policy.fail_under == 90
    pyproject = write(tmp_path / "other" / "pyproject.toml", "[tool.imgaudit]\nfail-on = 'low'\n")
    assert load(repo, config=pyproject).policy.fail_on is Severity.LOW
    none = load(repo, no_config=True)
    assert none.file is None and none.policy == Policy() and none.searched == ()


@pytest.mark.parametrize(("setup", "words"), [
    ({"config": "missing.toml"}, ("missing.toml", "does not exist")),
    ({"config": "other/pyproject.toml"}, ("pyproject.toml", "no [tool.imgaudit] table")),
    ({"config": "p.toml", "no_config": True}, ("--config and --no-config",)),
])
def test_config_option_errors(repo: Path, setup: dict[str, object], words: tuple[str, ...]
                              ) -> None:
    write(repo / "other" / "pyproject.toml", "[project]\nname = 'x'\n")
    write(repo / "p.toml", "")
    config = Path(str(setup["config"]))
    with pytest.raises(ConfigError) as caught:
        load(repo, config=config, no_config=bool(setup.get("no_config")))
    assert isinstance(caught.value, UsageError) and caught.value.hint
    for word in words:
        assert word in caught.value.message


# ----------------------------------------------------------------------------- precedence


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


# ----------------------------------------------------------------------------- validation

# (file text, the key the error must name)
BAD_FILES = [
    ("fail_under = 80\n", "fail_under"),
    ("fail-under = 101\n", "fail-under"),
    ("fail-under = -1\n", "fail-under"),
    ("fail-under = '80'\n", "fail-under"),
    ("fail-under = true\n", "fail-under"),
    ("fail-under = 80.5\n", "fail-under"),
    ("fail-on = 'severe'\n", "fail-on"),
    ("fail-on = 3\n", "fail-on"),
    ("score-base = 'yes'\n", "score-base"),
    ("image-waivers = 1\n", "image-waivers"),
    ("fail-on-new = 'false'\n", "fail-on-new"),
    ("max-size = 'big'\n", "max-size"),
    ("max-size = 0\n", "max-size"),
    ("max-own-size = 1.5\n", "max-own-size"),
    ("max-base-size = '-3MB'\n", "max-base-size"),
    ("max-layers = 0\n", "max-layers"),
    ("max-layers = '10'\n", "max-layers"),
    ("max-consecutive-runs = 0\n", "max-consecutive-runs"),
    ("min-cache-size = 'x'\n", "min-cache-size"),
    ("verbose = true\n", "verbose"),
    ("rules = ['IA201']\n", "rules"),
    ("[rules]\nenable = 'IA201'\n", "rules.enable"),
    ("[rules]\ndisable = ['IA999']\n", "rules.disable"),
    ("[rules]\ndisable = [201]\n", "rules.disable"),
    ("[rules]\nskip = ['IA201']\n", "rules.skip"),
    ("[severity]\nIA999 = 'low'\n", "severity.IA999"),
    ("[severity]\n'IA7*' = 'low'\n", "severity.IA7*"),
    ("[severity]\nIA201 = 'urgent'\n", "severity.IA201"),
    ("[weights]\n12 = 5\n", "weights.12"),
    ("[weights]\nsecrets = 5\n", "weights.secrets"),
    ("[weights]\n2 = -1\n", "weights.2"),
    ("[weights]\n2 = 'ten'\n", "weights.2"),
    ("[weights]\n2 = 5\n02 = 6\n", "weights.02"),
    ("[weights]\n" + "".join(f"{n} = 0\n" for n in range(1, 12)), "weights"),
    ("[severity]\nia201 = 'low'\nIA201 = 'high'\n", "severity.IA201"),
    ("waivers = 'IA201'\n", "waivers"),
    ("waivers = ['IA201']\n", "waivers[1]"),
    ("[[waivers]]\nreason = 'r'\n", "waivers[1].rule"),
    ("[[waivers]]\nrule = 'IA201'\n", "waivers[1].reason"),
    ("[[waivers]]\nrule = 'IA201'\nreason = '  '\n", "waivers[1].reason"),
    ("[[waivers]]\nrule = 'IA999'\nreason = 'r'\n", "waivers[1].rule"),
    ("[[waivers]]\nrule = 201\nreason = 'r'\n", "waivers[1].rule"),
    ("[[waivers]]\nrule = 'IA201'\nreason = 'r'\nimage = 'a'\n", "waivers[1].image"),
    ("[[waivers]]\nrule = 'IA201'\nreason = 'r'\npaths = ['a']\n", "waivers[1].paths"),
    ("[[waivers]]\nrule = 'IA201'\nreason = 'r'\n\n[[waivers]]\nrule = 'IA401'\nreason = 'r'\n"
     "expires = 'next year'\n", "waivers[2].expires (line 5)"),
    ("[[waivers]]\nrule = 'IA201'\nreason = 'r'\nexpires = '2027-02-30'\n",
     "waivers[1].expires"),
    ("[[waivers]]\nrule = 'IA201'\nreason = 'r'\nexpires = 2027-01-31T10:00:00\n",
     "waivers[1].expires"),
    ("[[waivers]]\nrule = 'IA201'\nreason = 'r'\nexpires = 20270131\n", "waivers[1].expires"),
]


@pytest.mark.parametrize(("text", "key"), BAD_FILES, ids=[key for _, key in BAD_FILES])
def test_every_bad_value_names_its_key_and_the_file(repo: Path, text: str, key: str) -> None:
    policy_file = write(repo / ".imgaudit.toml", text)
    with pytest.raises(ConfigError) as caught:
        load(repo)
    message = caught.value.message
    assert re.match(rf"{re.escape(f'{policy_file}: {key}')}( \(line \d+\))?: ", message), message
    assert "\n" not in message and caught.value.hint


def test_weights_that_all_are_zero_are_refused(repo: Path, cli_env: dict[str, str]) -> None:
    # every score would be 100: a critical finding would pass --fail-under
    zeros = "".join(f"{p.id} = 0\n" for p in PRACTICES)
    policy_file = write(repo / ".imgaudit.toml", "[weights]\n" + zeros)
    done = imgaudit(BAD, "--fail-under", "90", cwd=repo, env=cli_env)
    assert_one_line_error(done, f"{policy_file}: weights: every practice weighs 0")
    write(repo / ".imgaudit.toml", "[weights]\n" + zeros.replace("2 = 0", "2 = 1", 1))
    assert load(repo).policy.weights[2] == 1  # one practice left is enough


def test_one_key_written_two_ways_is_an_error_naming_both(repo: Path) -> None:
    # TOML keeps both; taking the last one would silently drop the other
    policy_file = write(repo / ".imgaudit.toml", "[severity]\nia201 = 'low'\nIA201 = 'high'\n")
    with pytest.raises(ConfigError) as caught:
        load(repo)
    assert caught.value.message == (f"{policy_file}: severity.IA201: names the same rule "
                                    "(IA201) as severity.ia201")
    assert "severity.ia201" in caught.value.hint and "severity.IA201" in caught.value.hint


def test_the_same_errors_in_pyproject_name_the_table(repo: Path) -> None:
    write(repo / "pyproject.toml", "[tool.imgaudit]\n[[tool.imgaudit.waivers]]\nrule = 'IA201'\n"
          "reason = 'r'\n[[tool.imgaudit.waivers]]\nrule = 'IA201'\n")
    with pytest.raises(ConfigError) as caught:
        load(repo)
    assert caught.value.message == (f"{repo / 'pyproject.toml'} [tool.imgaudit]: "
                                    "waivers[2].reason (line 5): required but missing")
    write(repo / "pyproject.toml", "[tool]\nimgaudit = 3\n")
    with pytest.raises(ConfigError, match=r"tool\.imgaudit: 3 is not a table"):
        load(repo)


def test_an_unknown_key_suggests_the_known_one(repo: Path) -> None:
    write(repo / ".imgaudit.toml", "fail_on = 'high'\n")
    with pytest.raises(ConfigError) as caught:
        load(repo)
    assert "did you mean fail-on?" in caught.value.hint


def test_malformed_toml_names_the_file_and_line(repo: Path) -> None:
    policy_file = write(repo / ".imgaudit.toml", "fail-under = 70\nfail-on = high\n")
    with pytest.raises(ConfigError) as caught:
        load(repo)
    assert caught.value.message.startswith(f"{policy_file}: not valid TOML")
    assert "line 2" in caught.value.message


def test_bad_policy_file_is_a_one_line_error_through_the_cli(
    repo: Path, cli_env: dict[str, str]
) -> None:
    policy_file = write(repo / ".imgaudit.toml",
                        "[[waivers]]\nrule = 'IA401'\nreason = 'r'\nexpires = 'soon'\n")
    for command in ((BAD,), ("config",)):
        done = imgaudit(*command, cwd=repo, env=cli_env)
        assert_one_line_error(done, str(policy_file), "waivers[1].expires")
        assert not done.stdout


# ----------------------------------------------------------------------------- reading values


def test_every_setting_is_read(repo: Path) -> None:
    write(repo / ".imgaudit.toml", """
fail-under = 75
fail-on = "MEDIUM"
score-base = true
image-waivers = false
fail-on-new = true
max-size = "1.5GB"
max-own-size = "512MiB"
max-base-size = 300000000
max-layers = 4
max-consecutive-runs = 2
min-cache-size = "1MB"

[rules]
enable = ["IA2*", "IA4*", "ia1101"]
disable = ["IA403"]

[severity]
ia703 = "low"
IA1101 = "critical"
IA201 = "high"  # its declared severity: kept out of the overrides

[weights]
2 = 30
"11" = 25
4 = 12  # its default

[[waivers]]
rule = "ia4*"
images = "myorg/app:*"
paths = "/app/.env.example"
reason = "  template without secrets "
expires = 2027-01-31

[[waivers]]
rule = "IA201"
reason = "runs as root by design"
expires = "2026-06-30"
""")
    effective = load(repo)
    source = str(repo / ".imgaudit.toml")
    assert effective.policy == Policy(
        fail_under=75, fail_on=Severity.MEDIUM, score_base=True, image_waivers=False,
        fail_on_new=True,
        limits=Limits(max_size=1_500_000_000, max_own_size=512 * 1024**2,
                      max_base_size=300_000_000, max_own_layers=4, max_consecutive_runs=2,
                      min_cache_bytes=1_000_000),
        enable=frozenset({"IA2*", "IA4*", "IA1101"}), ignore=frozenset({"IA403"}),
        severities={"IA703": Severity.LOW, "IA1101": Severity.CRITICAL},
        weights={2: 30, 11: 25},
        waivers=(
            Waiver(rule="IA4*", reason="template without secrets", images="myorg/app:*",
                   paths="app/.env.example", expires=datetime.date(2027, 1, 31),
                   source=f"{source} waivers[1]"),
            Waiver(rule="IA201", reason="runs as root by design",
                   expires=datetime.date(2026, 6, 30), source=f"{source} waivers[2]"),
        ),
    )
    assert effective.sources["severity.IA703"] == source
    assert effective.sources["severity.IA702"] == DEFAULT
    assert effective.sources["weights.11"] == source
    assert effective.sources["waivers"] == source


def test_an_empty_file_is_the_default_policy(repo: Path) -> None:
    write(repo / ".imgaudit.toml", "# nothing yet\n")
    effective = load(repo)
    assert effective.file is not None and effective.policy == Policy()


def test_the_written_toml_reads_back_as_the_same_policy(repo: Path) -> None:
    policy_file = write(repo / ".imgaudit.toml", """
fail-on = "high"
max-own-size = "123456789"
[rules]
disable = ["IA7*", "IA302"]
[severity]
IA1002 = "low"
[weights]
11 = 30
[[waivers]]
rule = "IA401"
paths = "app/.env.example"
reason = 'say "why" \\ with\tescapes, ünïcode'
expires = 2027-01-31
""")
    policy = load(repo).policy
    written = dump_policy(policy)
    policy_file.write_text(written, encoding="utf-8")
    assert load(repo).policy == policy
    # The defaults, written out in full, read back as the defaults.
    policy_file.write_text(dump_policy(Policy()), encoding="utf-8")
    back = load(repo)
    assert back.policy == Policy()
    assert all(back.sources[f"weights.{p.id}"] == str(policy_file) for p in PRACTICES)


# ----------------------------------------------------------------------------- the CLI


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


# ----------------------------------------------------------------------------- end to end


def audit_json(repo: Path, env: dict[str, str], *args: str
               ) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    done = imgaudit(BAD, "-f", "json", *args, cwd=repo, env=env)
    assert done.returncode in (0, 1), done.stderr
    return done, json.loads(done.stdout)["images"][0]


def rule_of(image: dict[str, object], rule: str) -> dict[str, object]:
    rules = image["rules"]
    assert isinstance(rules, list)
    return next(r for r in rules if r["id"] == rule)


def test_an_active_waiver_ignores_a_rule_and_passes_the_gate(
    repo: Path, cli_env: dict[str, str]
) -> None:
    # demo-bad carries a GitHub token in ENV (IA1101, critical): it fails --fail-on critical.
    plain, before = audit_json(repo, cli_env, "--fail-on", "critical")
    assert plain.returncode == 1 and rule_of(before, "IA1101")["status"] == "fail"
    later = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    write(repo / ".imgaudit.toml", f"""
[[waivers]]
rule = "IA1101"
images = "imgaudit-fixture/demo-bad:*"
reason = "demo token, revoked"
expires = {later}
""")
    done, after = audit_json(repo, cli_env, "--fail-on", "critical")
    assert done.returncode == 0, done.stderr
    result = rule_of(after, "IA1101")
    assert result["status"] == "ignored"
    assert "demo token, revoked" in str(result["note"])
    assert str(repo / ".imgaudit.toml") in str(result["note"])
    findings = after["findings"]
    assert isinstance(findings, list)
    kept = [f for f in findings if f["rule"] == "IA1101"]
    assert kept and all(f["points"] == 0 for f in kept)  # still shown, no longer scored
    assert isinstance(after["score"], int) and isinstance(before["score"], int)
    assert after["score"] > before["score"]
    assert "notice" not in done.stderr
    # The same waiver for another image pattern does not apply.
    write(repo / ".imgaudit.toml", "[[waivers]]\nrule = 'IA1101'\nimages = 'other/*'\n"
          "reason = 'r'\n")
    other, _ = audit_json(repo, cli_env, "--fail-on", "critical")
    assert other.returncode == 1
    assert "matched no finding" not in other.stderr


def test_an_expired_waiver_stops_applying_and_says_so(repo: Path, cli_env: dict[str, str]
                                                      ) -> None:
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    write(repo / ".imgaudit.toml", f"""
[[waivers]]
rule = "IA1101"
reason = "demo token, revoked"
expires = "{yesterday}"
""")
    done, image = audit_json(repo, cli_env, "--fail-on", "critical")
    assert done.returncode == 1
    assert rule_of(image, "IA1101")["status"] == "fail"
    notices = [line for line in done.stderr.splitlines() if line.startswith("imgaudit: notice:")]
    assert len(notices) == 1, done.stderr
    assert f"expired on {yesterday}" in notices[0] and "demo token, revoked" in notices[0]
    assert str(repo / ".imgaudit.toml") in notices[0]
    # --no-config reads no file: no waiver, no notice.
    ignored = imgaudit(BAD, "--no-config", "--fail-on", "critical", cwd=repo, env=cli_env)
    assert ignored.returncode == 1 and "notice" not in ignored.stderr


def test_severity_and_weights_from_the_file(repo: Path, cli_env: dict[str, str]) -> None:
    _, plain = audit_json(repo, cli_env)
    write(repo / ".imgaudit.toml", """
fail-on = "critical"
[severity]
IA1101 = "low"
IA1002 = "high"
[weights]
11 = 0
""")
    done, image = audit_json(repo, cli_env)
    assert done.returncode == 0, done.stderr  # nothing critical is left
    findings = image["findings"]
    assert isinstance(findings, list)
    severities = {f["rule"]: f["severity"] for f in findings}
    assert severities["IA1101"] == "low" and severities["IA1002"] == "high"
    assert rule_of(image, "IA1002")["status"] == "fail"
    assert all(f["points"] == 0 for f in findings if f["rule"] == "IA1101")
    practices = {p["id"]: p for p in image["practices"]}  # type: ignore[attr-defined]
    assert practices[11]["weight"] == 0
    assert image["score"] != plain["score"]
    # The command line still wins over the file.
    override = imgaudit(BAD, "--fail-on", "high", cwd=repo, env=cli_env)
    assert override.returncode == 1
    assert imgaudit(BAD, "--no-config", "--fail-on", "critical", cwd=repo,
                    env=cli_env).returncode == 1


def test_file_thresholds_and_rule_selection_reach_the_rules(repo: Path, cli_env: dict[str, str]
                                                           ) -> None:
    write(repo / ".imgaudit.toml", """
max-size = "1MB"
[rules]
disable = ["IA4*"]
""")
    _, image = audit_json(repo, cli_env)
    assert rule_of(image, "IA101")["status"] != "pass"  # 3.5 MB is over 1MB
    assert {rule_of(image, r)["status"] for r in ("IA401", "IA402", "IA403")} == {"ignored"}
    _, wider = audit_json(repo, cli_env, "--max-size", "1GB", "--max-own-size", "1GB")
    assert rule_of(wider, "IA101")["status"] == "pass"


def test_the_readme_example_is_a_valid_policy_file(repo: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Policy file", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    write(repo / ".imgaudit.toml", example)
    policy = load(repo).policy
    assert policy.fail_under == 80 and policy.fail_on is Severity.HIGH
    assert policy.ignore == {"IA703"} and policy.severities == {"IA1002": Severity.LOW}
    assert [(w.rule, w.paths, w.expires) for w in policy.waivers] == [
        ("IA401", "app/tests/fixtures/*.key", datetime.date(2027, 1, 31))]
    # and the example waiver accepts a finding IA401 really makes
    spec = good().adding(copy("multi:abc in /app/", file("app/tests/fixtures/dummy.key", "k")))
    item = assess.run(build(spec, reference="myorg/app:1"), ALL_RULES, policy,
                      today=datetime.date(2027, 1, 31))
    (secrets,) = [r for r in item.results if r.rule.id == "IA401"]
    assert [f.path for f in secrets.waived] == ["app/tests/fixtures/dummy.key"]
    assert secrets.status is Status.IGNORED
