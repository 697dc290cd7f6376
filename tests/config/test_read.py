"""Reading a policy file: every setting read into the Policy, and every bad key or value a
one-line error naming the file and the key (for a waiver its position and line)."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from auditor import assess
from auditor.config import DEFAULT
from auditor.errors import ConfigError
from auditor.model.findings import Severity, Status, Waiver
from auditor.model.policy import Limits, Policy
from auditor.rules import ALL_RULES
from tests.support.factory import build, copy, file, good
from tests.support.policy_files import load, write

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
    ("[weights]\n15 = 5\n", "weights.15"),
    ("[weights]\nsecrets = 5\n", "weights.secrets"),
    ("[weights]\n2 = -1\n", "weights.2"),
    ("[weights]\n2 = 'ten'\n", "weights.2"),
    ("[weights]\n2 = 5\n02 = 6\n", "weights.02"),
    ("[weights]\n" + "".join(f"{n} = 0\n" for n in range(1, 15)), "weights"),
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


def test_the_readme_example_is_a_valid_policy_file(repo: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
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
