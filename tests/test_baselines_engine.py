"""Baselines and diffs on real images built twice with a change: fixtures/images/release-v1 and
release-v2 (v2 adds a user, fixing IA201, but copies a .env, adding IA401, plus layers and bytes;
its shell-form CMD and copied test suite stay). Built with both builders by fixtures/build.py,
audited through the command line; expected deltas come from `docker image inspect`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditor import audit
from auditor.baseline import read_baseline
from auditor.model.report import Novelty
from auditor.units import human_size
from tests.support.cli import imgaudit
from tests.support.engine import BUILDERS, fixture_tag, inspect
from tests.support.paths import ROOT

pytestmark = pytest.mark.engine
builders = pytest.mark.parametrize("builder", BUILDERS)
FIXED, ADDED, KEPT = "IA201", "IA401", {"IA403", "IA1002"}


@pytest.fixture(scope="session")
def releases(engine: None) -> None:
    """release-v1 and release-v2 with both builders (up-to-date builds are skipped)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "fixtures" / "build.py"), "release-v1", "release-v2"],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"fixture build failed:\n{done.stdout}\n{done.stderr}")


def v(version: int, builder: str) -> str:
    return fixture_tag(f"release-v{version}", builder)


def size_and_layers(reference: str) -> tuple[int, int]:
    document = inspect(reference)
    rootfs = document["RootFS"]
    assert isinstance(rootfs, dict) and isinstance(document["Size"], int)
    return document["Size"], len(rootfs["Layers"])


@pytest.fixture
def v1_report(releases: None, builder: str, cli_env: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "v1.json"
    done = imgaudit(v(1, builder), "--format", "json", "--output", str(path), env=cli_env)
    assert done.returncode == 0, done.stderr
    return path


@builders
def test_rebuild_against_its_baseline(builder: str, v1_report: Path) -> None:
    (compared,) = audit([v(2, builder)], baseline=read_baseline(v1_report)).images
    assert compared.baseline is not None
    assert compared.baseline.reference == v(1, builder)  # paired: one image in each report
    novelty: dict[str, set[Novelty | None]] = {}
    for scored in compared.findings:
        novelty.setdefault(scored.rule.id, set()).add(scored.novelty)
    assert novelty[ADDED] == {Novelty.NEW}
    assert all(novelty[rule_id] == {Novelty.KNOWN} for rule_id in KEPT)
    assert [p.split(":", 1)[0] for p in compared.resolved] == [FIXED]
    assert FIXED not in novelty
    # The known test-suite finding sits in another layer now: the path keeps it the same.
    old_doc = json.loads(v1_report.read_text())["images"][0]
    old_layer = next(f["layer"] for f in old_doc["findings"] if f["rule"] == "IA403")
    new_layer = next(s.finding.layer for s in compared.findings if s.rule.id == "IA403")
    assert old_layer != new_layer


@builders
def test_cli_deltas_and_gate(builder: str, v1_report: Path, cli_env: dict[str, str],
                            tmp_path: Path) -> None:
    old_size, old_layers = size_and_layers(v(1, builder))
    new_size, new_layers = size_and_layers(v(2, builder))
    assert new_layers > old_layers and new_size > old_size
    old_score = json.loads(v1_report.read_text())["images"][0]["score"]
    out = tmp_path / "v2.json"
    done = imgaudit(v(2, builder), "--baseline", str(v1_report), "--fail-on-new",
                    "-f", "json", "-o", str(out), env=cli_env)
    assert done.returncode == 1, done.stderr
    new_score = json.loads(out.read_text())["images"][0]["score"]
    line = next(x for x in done.stderr.splitlines() if "vs baseline" in x)
    assert f"score {new_score} " in line and f"{new_score - old_score:+d} vs baseline" in line
    assert "1 new, 1 resolved finding," in line
    assert f"({'+' + human_size(new_size - old_size)})" in line
    assert f"{new_layers} layers (+{new_layers - old_layers})" in line
    assert "1 new finding at or above low (worst: high)" in done.stderr
    # The new finding is high: a critical-only gate lets the build through.
    relaxed = imgaudit(v(2, builder), "--baseline", str(v1_report), "--fail-on-new",
                       "--fail-on", "critical", env=cli_env)
    assert relaxed.returncode == 0, relaxed.stderr
    # Without --fail-on-new the known findings fail a plain gate as before.
    assert imgaudit(v(2, builder), "--baseline", str(v1_report), "--fail-on", "low",
                    env=cli_env).returncode == 1


@builders
def test_same_build_against_its_own_report(builder: str, v1_report: Path,
                                           cli_env: dict[str, str]) -> None:
    done = imgaudit(v(1, builder), "--baseline", str(v1_report), "--fail-on-new",
                    "--fail-under", "99", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "±0 vs baseline, 0 new, 0 resolved findings" in done.stderr
    assert "(±0 B)" in done.stderr and "layers (±0)" in done.stderr


@builders
def test_diff_of_the_two_builds(releases: None, builder: str, cli_env: dict[str, str]) -> None:
    done = imgaudit("diff", v(1, builder), v(2, builder), "--format", "json", env=cli_env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    old_size, old_layers = size_and_layers(v(1, builder))
    new_size, new_layers = size_and_layers(v(2, builder))
    assert (document["old"]["size"], document["new"]["size"]) == (old_size, new_size)
    assert document["change"]["size"] == new_size - old_size
    assert document["change"]["layers"] == new_layers - old_layers
    assert document["change"]["own_layers"] == new_layers - old_layers  # same base
    assert [f["rule"] for f in document["added"]] == [ADDED]
    assert document["added"][0]["path"] == "srv/app/.env"
    assert [f["rule"] for f in document["removed"]] == [FIXED]
    changed = {p["id"]: (p["old"], p["new"]) for p in document["practices"] if p["changed"]}
    # v2 adds a user (2, and 5 now judges its name) and copies a .env: a secret file (11)
    assert changed == {2: ("fail", "pass"), 5: ("skip", "pass"), 11: ("pass", "fail")}
    assert document["change"]["score"] == document["new"]["score"] - document["old"]["score"]
    table = imgaudit("diff", v(1, builder), v(2, builder), env=cli_env)
    assert table.returncode == 0
    added, removed = table.stdout.split("Findings added", 1)[1].split("Findings removed", 1)
    assert ADDED in added and "/srv/app/.env" in added and "fix:" in added
    assert FIXED in removed and ADDED not in removed
    assert "fixture-only-not-a-key" not in table.stdout + done.stdout  # the .env's value


@builders
def test_diff_gates(releases: None, builder: str, cli_env: dict[str, str]) -> None:
    forward = (v(1, builder), v(2, builder))
    assert imgaudit("diff", *forward, "--fail-on", "high", env=cli_env).returncode == 1
    assert imgaudit("diff", *forward, "--fail-on", "critical", env=cli_env).returncode == 0
    # The .env v2 copies costs the secrets weight, more than the user it adds wins back.
    ahead = imgaudit("diff", *forward, "--max-score-drop", "0", env=cli_env)
    assert ahead.returncode == 1 and "score dropped by" in ahead.stderr
    back = imgaudit("diff", *reversed(forward), "--max-score-drop", "0", env=cli_env)
    assert back.returncode == 0, back.stderr


def test_diff_of_a_missing_image_exits_2(releases: None, cli_env: dict[str, str]) -> None:
    done = imgaudit("diff", v(1, "buildkit"), "imgaudit-fixture/release-v9:none", env=cli_env)
    assert done.returncode == 2
    assert "release-v9" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr
