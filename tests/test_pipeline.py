"""The pipeline assembled once: rules prepared under a policy, each target opened, judged and
scored, a target that cannot be read a failure; the ruleset version that names the results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.errors import UsageError
from auditor.model.policy import Limits, Policy
from auditor.model.report import AuditFailure
from auditor.pipeline import Auditor, Ruleset, ruleset_version

ARCHIVE = Path(__file__).resolve().parent.parent / "fixtures" / "archives" / "demo.tar.gz"


def test_ruleset_version_is_stable_and_changes_with_what_decides_results() -> None:
    here = ruleset_version()
    elsewhere = subprocess.run(
        [sys.executable, "-c", "from auditor.pipeline import ruleset_version as v; print(v())"],
        capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONHASHSEED="7"),
    ).stdout.strip()
    assert here == elsewhere == ruleset_version(Policy())
    # Gates decide the exit code, not the result: same version.
    assert ruleset_version(Policy(fail_under=90)) == here
    changed = {
        ruleset_version(content=False),
        ruleset_version(Policy(ignore=frozenset({"IA201"}))),
        ruleset_version(Policy(limits=Limits(max_size=1))),
        ruleset_version(Policy(score_base=True)),
    }
    assert here not in changed and len(changed) == 4


def test_a_ruleset_resolves_the_selection_once() -> None:
    everything = Ruleset.prepare(Policy())
    assert everything.version == ruleset_version()
    assert everything.policy.ignore == frozenset()
    assert everything.wanted is not None and "etc/passwd" in everything.wanted.patterns
    users = Ruleset.prepare(Policy(enable=frozenset({"IA2*"})))
    assert users.rules == everything.rules  # every rule is reported, the others as ignored
    assert users.policy.enable == frozenset()
    assert {r.info.id for r in users.rules} - users.policy.ignore == {"IA201", "IA202"}
    assert users.wanted is not None and users.wanted.patterns == ("etc/group", "etc/passwd")
    assert users.version == ruleset_version(users.policy)
    metadata = Ruleset.prepare(Policy(), content=False)
    assert metadata.wanted is None and metadata.version == ruleset_version(content=False)
    with pytest.raises(UsageError, match="unknown rule IA999"):
        Ruleset.prepare(Policy(severities={"IA999": everything.rules[0].info.severity}))


def test_an_auditor_judges_each_target_or_says_why_it_cannot(tmp_path: Path) -> None:
    with Auditor(Policy(), use_cache=False) as auditor:
        reports = auditor.audit(f"docker-archive:{ARCHIVE}:@1")
        missing = auditor.audit(f"docker-archive:{tmp_path / 'none.tar'}")
    assert isinstance(reports, list) and len(reports) == 1
    (good,) = reports
    assert good.image.reference == f"docker-archive:{ARCHIVE}:@1"
    # demo-good lacks only a HEALTHCHECK (IA1301, low): under a point, the grade kept
    assert (good.score, good.grade) == (99, "A")
    assert [s.rule.id for s in good.findings if s.points] == ["IA1301"]
    assert len(good.results) == len(auditor.ruleset.rules)
    assert isinstance(missing, AuditFailure)
    assert missing.reference == f"docker-archive:{tmp_path / 'none.tar'}"
    assert "none.tar" in missing.message and missing.hint


def test_bad_settings_fail_before_any_target() -> None:
    with pytest.raises(UsageError, match="unknown rule IA999"):
        Auditor(Policy(ignore=frozenset({"IA999"})))
