"""Scores on the real fixture images, with both builders: an image that ships a private key, a
.env or a recognised token scores under the pass line, and says why; a well-built image keeps
its full marks."""

from __future__ import annotations

import json

import pytest

from auditor.model.findings import Severity
from auditor.scoring import CRITICAL_CAP, PASS_LINE
from tests.support.cli import imgaudit
from tests.support.engine import BUILDERS, daemon_report, fixture_tag

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
builders = pytest.mark.parametrize("builder", BUILDERS)

# The images that ship secrets: a deploy key and a .env copied with the build context, a GitHub
# token in ENV, tokens in a label, a build argument and a build step.
LEAKING = ("secrets", "demo-bad", "context-copy")
# Images built the way PRACTICES.md asks: full marks before secrets were scored apart, and after.
CLEAN = ("seed", "demo-good", "multistage", "pip-venv", "numeric-user", "on-toolchain")


@builders
@pytest.mark.parametrize("name", LEAKING)
def test_an_image_that_leaks_a_secret_scores_under_the_pass_line(name: str, builder: str) -> None:
    item = daemon_report(name, builder)
    assert item.score <= CRITICAL_CAP < PASS_LINE and item.grade == "F"
    assert item.cap is not None and item.cap.findings >= 1
    critical = {s.rule.id for s in item.findings
                if s.finding.severity is Severity.CRITICAL and s.points > 0}
    assert set(item.cap.rules) == critical
    # every point is explained: the findings' points and what the cap took beyond them
    lost = sum(s.points for s in item.findings) + item.cap.points
    assert abs((100 - item.score) - lost) <= 0.5 + 0.01 * len(item.findings)
    secrets = next(p for p in item.practices if p.practice.id == 11)
    assert secrets.points_lost > 0


@builders
def test_a_copied_private_key_is_critical(builder: str) -> None:
    item = daemon_report("context-copy", builder)
    severity = {s.finding.path: s.finding.severity for s in item.findings if s.rule.id == "IA401"}
    assert severity == {"app/id_rsa": Severity.CRITICAL, "app/.env": Severity.HIGH}
    assert item.cap is not None and item.cap.rules == ("IA401",)


@builders
@pytest.mark.parametrize("name", CLEAN)
def test_a_well_built_image_keeps_its_grade(name: str, builder: str) -> None:
    item = daemon_report(name, builder)
    # none declares a HEALTHCHECK (IA1301, low): under a point, and the only one lost
    assert (item.score, item.grade, item.cap) == (99, "A", None)
    assert [s.rule.id for s in item.findings if s.points] == ["IA1301"]


@builders
def test_the_json_report_explains_the_cap(builder: str, cli_env: dict[str, str]) -> None:
    ran = imgaudit(fixture_tag("demo-bad", builder), "--format", "json", env=cli_env)
    assert ran.returncode == 0, ran.stderr
    (image,) = json.loads(ran.stdout)["images"]
    cap = image["cap"]
    assert image["score"] == min(cap["limit"], cap["uncapped_score"]) < PASS_LINE
    assert cap["points"] == max(0, cap["uncapped_score"] - cap["limit"])
    assert "IA1101" in cap["rules"]
    # demo-bad's practices alone give less than the cap: the reason says the cap holds, not cuts
    assert cap["points"] == 0
    assert cap["reason"].startswith(f"at most {CRITICAL_CAP} while 1 critical finding stands")
    assert {p["id"]: p["name"] for p in image["practices"]}[11] == "No secrets in the image"
