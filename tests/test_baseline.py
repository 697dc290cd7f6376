"""Reading baselines: a JSON report read back is the snapshot of the audit that wrote it, with or
without the per-finding fingerprint and waiver fields; bad files are one-line errors with hints.
The --baseline and --fail-on-new options end to end on the shipped demo archive (no engine)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.baseline import parse_baseline, read_baseline
from auditor.compare import snapshot
from auditor.errors import BaselineError
from auditor.formats.json import render
from auditor.model.findings import Waiver
from auditor.model.policy import Policy
from auditor.model.report import Report
from tests.support.cli import Ran, assert_one_line_error, imgaudit
from tests.support.demo import BAD, GOOD
from tests.support.factory import bad, good, report


def written(tmp_path: Path, document: Any, name: str = "old.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_a_report_read_back_is_its_snapshot(tmp_path: Path) -> None:
    items = (report(bad()), report(good().tagged("lib:2", "lib:latest"), reference="lib:2"))
    path = written(tmp_path, render(Report(items, tool_version="1.0.0")))
    baseline = read_baseline(path)
    assert baseline.source == str(path)
    assert baseline.images == tuple(snapshot(item) for item in items)
    assert baseline.images[0].fingerprints  # bad() has counted findings


def test_fingerprint_and_waiver_fields_are_used_when_present() -> None:
    document = json.loads(render(Report((report(bad()),))))
    findings = document["images"][0]["findings"]
    counted = [f for f in findings if f["points"] > 0]
    assert len(counted) >= 3
    counted[0]["fingerprint"] = "IA999:given"
    counted[1]["waiver"] = {"reason": "accepted", "source": "policy"}
    for finding in findings[2:]:
        finding["waiver"] = None
    # An own finding that cost no points (its practice weighs 0) counts when the report says
    # it is not waived; without the field, it could have been waived, so it does not.
    zero = dict(counted[2], points=0.0, fingerprint="IA998:zero", waiver=None)
    findings.append(zero)
    findings.append({k: v for k, v in zero.items() if k != "waiver"} | {"fingerprint": "IA997:x"})
    prints = parse_baseline(document, "x.json").images[0].fingerprints
    assert "IA999:given" in prints
    assert "IA998:zero" in prints and "IA997:x" not in prints
    # every finding that cost points, less the waived one, plus the zero-point one
    assert len(prints) == len(counted) - 1 + 1


def test_waived_findings_are_left_out_of_a_rendered_report() -> None:
    waiver = Waiver("IA201", "a legacy port needs root", source="policy")
    item = report(bad(), Policy(waivers=(waiver,)))
    baseline = parse_baseline(json.loads(render(Report((item,)))), "x.json")
    assert not [p for p in baseline.images[0].fingerprints if p.startswith("IA201:")]


def _finding(**fields: Any) -> dict[str, Any]:
    return {"rule": "IA201", "severity": "high", "message": "runs as root", "points": 5.0,
            "origin": "own", "waiver": None} | fields


def _with(**fields: Any) -> dict[str, Any]:
    """A one-image report with some fields of the image changed."""
    image = {"reference": "app:1", "score": 90, "size": 1000, "layers": 2,
             "findings": [_finding()]} | fields
    return {"schema_version": 1, "tool": {"name": "imgaudit"}, "images": [image]}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ("does not exist",)),
        ("{not json", ("is not JSON", "line 1")),
        ("[1, 2]", ("not an imgaudit JSON report",)),
        ({"version": "2.1.0", "runs": []}, ("not an imgaudit JSON report",)),
        ({"schema_version": 7, "tool": {"name": "imgaudit"}, "images": []},
         ("schema_version 7", "reads 1")),
        ({"schema_version": 1, "kind": "diff", "tool": {"name": "imgaudit"}},
         ("is an imgaudit diff",)),
        ({"schema_version": 1, "tool": {"name": "imgaudit"}, "images": [{"reference": "a"}]},
         ("lacks 'score'",)),
        ({"schema_version": 1, "tool": {"name": "imgaudit"}, "images": {"a": 1}},
         ("images is not a list",)),
        (_with(score=1e400), ("images[0].score is inf", "whole number from 0 to 100")),
        ('{"schema_version": 1, "tool": {"name": "imgaudit"}, "images": [{"reference": "a", '
         '"score": 1e400, "size": 1, "layers": 1, "findings": []}]}', ("images[0].score is inf",)),
        (_with(score=101), ("images[0].score is 101",)),
        (_with(score=True), ("images[0].score is true",)),
        (_with(size=-1), ("images[0].size is -1",)),
        (_with(layers="3"), ('images[0].layers is "3"',)),
        (_with(reference=7), ("images[0].reference is 7, not a string",)),
        (_with(findings="none"), ("images[0].findings is not a list",)),
        (_with(findings=[_finding(points="NaN")]),
         ('images[0].findings[0].points is "NaN", not a number',)),
        ('{"schema_version": 1, "tool": {"name": "imgaudit"}, "images": [{"reference": "a", '
         '"score": 1, "size": 1, "layers": 1, "findings": [{"rule": "IA201", "severity": "high", '
         '"message": "m", "points": NaN}]}]}', ("images[0].findings[0].points is nan",)),
        (_with(findings=[_finding(points=-2)]), ("findings[0].points is -2",)),
        (_with(findings=[_finding(severity="urgent")]),
         ('findings[0].severity is "urgent", not a severity',)),
        (_with(findings=[_finding(severity=3)]), ("findings[0].severity is 3, not a string",)),
        (_with(findings=[_finding(rule=None)]), ("findings[0].rule is null",)),
        (_with(findings=["IA201"]), ("findings[0] is not an object",)),
        (_with(repo_tags=[1]), ("images[0].repo_tags is not a list of strings",)),
        ({"schema_version": True, "tool": {"name": "imgaudit"}, "images": []},
         ("schema_version True",)),
    ],
)
def test_bad_baselines_are_one_line_errors(tmp_path: Path, content: Any,
                                           words: tuple[str, ...]) -> None:
    path = tmp_path / "old.json" if content is None else written(tmp_path, content)
    with pytest.raises(BaselineError) as caught:
        read_baseline(path)
    message = caught.value.message
    assert "\n" not in message and str(path) in message
    assert caught.value.hint
    for word in words:
        assert word in message


def test_a_folder_is_not_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="is a folder"):
        read_baseline(tmp_path)


# ----------------------------------------------------------------------------- the CLI


def test_cli_baseline_marks_regressions(cli_env: dict[str, str], tmp_path: Path) -> None:
    old = tmp_path / "good.json"
    assert imgaudit(GOOD, "-f", "json", "-o", str(old), env=cli_env).returncode == 0
    bad_report = tmp_path / "bad.json"
    imgaudit(BAD, "-f", "json", "-o", str(bad_report), env=cli_env)
    counted = read_baseline(bad_report).images[0]
    good_image = read_baseline(old).images[0]
    done = imgaudit(BAD, "--baseline", str(old), "--fail-on-new", env=cli_env)
    assert done.returncode == 1, done.stderr
    delta_score = counted.score - good_image.score
    line = next(x for x in done.stderr.splitlines() if "vs baseline" in x)
    assert f"score {counted.score} (F) {delta_score:+d} vs baseline, " in line
    new = set(counted.fingerprints) - set(good_image.fingerprints)  # both lack a HEALTHCHECK
    assert f"{len(new)} new, 0 resolved findings" in line
    assert re.search(rf"{counted.layers} layers \(\+{counted.layers - good_image.layers}\)", line)
    assert "policy failed" in done.stderr and "new finding" in done.stderr
    # The bad image against its own report: nothing new, the gate passes.
    again = imgaudit(BAD, "--baseline", str(bad_report), "--fail-on-new", "--fail-on", "low",
                     env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "±0 vs baseline, 0 new, 0 resolved" in again.stderr


def test_cli_fail_on_new_needs_a_baseline(cli_env: dict[str, str]) -> None:
    assert_one_line_error(imgaudit(GOOD, "--fail-on-new", env=cli_env), "--fail-on-new")
    done = imgaudit(GOOD, "--fail-on-new", env=cli_env)
    assert "--baseline" in done.stderr.split("hint:", 1)[1]


def test_cli_policy_file_fail_on_new_without_a_baseline_gates_every_finding(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    policy = repo / ".imgaudit.toml"
    policy.write_text('fail-on-new = true\nfail-on = "high"\n')

    def run(*args: str) -> Ran:
        return imgaudit(*args, env=cli_env, cwd=repo)

    done = run(BAD)
    assert done.returncode == 1, done.stderr  # gated as without fail-on-new: BAD has highs
    assert (f"imgaudit: notice: the policy file {policy} sets fail-on-new but no --baseline "
            "was given: gating on every finding") in done.stderr
    assert "error" not in done.stderr
    assert run(GOOD).returncode == 0
    assert "notice: the policy file" not in run(BAD, "--quiet").stderr
    # the flag given here without --baseline is still a usage error
    assert_one_line_error(run(GOOD, "--fail-on-new"), "--fail-on-new")
    # --no-fail-on-new switches the file's setting off: against its own report, BAD's known
    # findings pass the file's regression gate and fail the plain one
    own = tmp_path / "bad.json"
    assert run(BAD, "-f", "json", "-o", str(own)).returncode == 1
    assert run(BAD, "--baseline", str(own)).returncode == 0
    off = run(BAD, "--baseline", str(own), "--no-fail-on-new")
    assert off.returncode == 1 and "findings at or above high" in off.stderr


def test_cli_bad_baseline_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    assert_one_line_error(imgaudit(GOOD, "--baseline", str(missing), env=cli_env),
                          "does not exist", "nope.json")
    junk = written(tmp_path, "<html>", "junk.json")
    assert_one_line_error(imgaudit(GOOD, "--baseline", str(junk), env=cli_env), "not JSON")


@pytest.mark.parametrize(("content", "words"), [
    # json.loads reads 1e400 as inf: int(inf) raised OverflowError, an "internal error"
    ('{"schema_version": 1, "tool": {"name": "imgaudit"}, "images": [{"reference": "a", '
     '"score": 1e400, "size": 1, "layers": 1, "findings": []}]}', ("images[0].score is inf",)),
    # float("NaN") was taken as a number of points
    (_with(findings=[_finding(points="NaN")]), ("images[0].findings[0].points",)),
], ids=["score-1e400", "points-NaN"])
def test_cli_malformed_baseline_values_are_one_line(
    cli_env: dict[str, str], tmp_path: Path, content: Any, words: tuple[str, ...]
) -> None:
    path = written(tmp_path, content, "odd.json")
    done = imgaudit(GOOD, "--baseline", str(path), env=cli_env)
    assert_one_line_error(done, "odd.json", "not an imgaudit JSON report", *words)
    assert "internal error" not in done.stderr
