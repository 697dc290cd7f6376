"""The policy written as TOML (`imgaudit config --format toml`) reads back as the same
policy."""

from __future__ import annotations

from pathlib import Path

from auditor.config import dump_policy
from auditor.model.policy import Policy
from auditor.rules import PRACTICES
from tests.support.policy_files import load, write


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
