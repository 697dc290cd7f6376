"""Waivers, severities, weights, thresholds and rule selection from a policy file applied end
to end by `imgaudit` on the shipped archive."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

from tests.support.demo import ARCHIVE
from tests.support.policy_files import imgaudit, write

BAD = f"docker-archive:{ARCHIVE}:@2"  # imgaudit-fixture/demo-bad:buildkit


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
    # the waived token no longer caps the score; the .env still costs the secrets group (11)
    assert before["cap"] is not None and after["cap"] is None
    assert after["score"] >= before["score"]
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
