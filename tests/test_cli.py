"""The command line end to end, on the archive shipped in fixtures/archives/ (no engine needed):
exit codes, output files, error lines, and that no secret value is ever printed. Most run in this
process; the exit codes and the environment are also checked through a process of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auditor import audit
from auditor.rules import ALL_RULES, PRACTICES
from tests.support.cli import assert_one_line_error, imgaudit, imgaudit_process
from tests.support.demo import ARCHIVE, BAD, GOOD, SECRETS
from tests.support.paths import ROOT


def test_good_image_passes_policy(cli_env: dict[str, str]) -> None:
    # demo-good deliberately declares no HEALTHCHECK (IA1301, low): ignored here
    done = imgaudit(GOOD, "--fail-under", "95", "--fail-on", "low", "--ignore", "IA1301",
                    env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "score 100/100" in done.stdout
    assert re.search(r"demo-good:classic: score 100 \(A\)", done.stderr)


def test_bad_image_fails_policy_and_never_prints_secrets(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    done = imgaudit(BAD, "--format", "json", "--output", str(report), "--fail-on", "high",
                    env=cli_env)
    assert done.returncode == 1, done.stderr
    assert "policy failed" in done.stderr
    document = json.loads(report.read_text())
    assert document["schema_version"] == 1
    assert document["tool"]["name"] == "imgaudit"
    image = document["images"][0]
    rules = {f["rule"] for f in image["findings"]}
    assert {"IA201", "IA401", "IA402", "IA901", "IA1101", "IA1002"} <= rules
    assert image["score"] < 60
    # Every point lost is a finding's.
    lost = sum(f["points"] for f in image["findings"])
    assert abs((100 - image["score"]) - lost) <= 1
    table = imgaudit(BAD, env=cli_env)
    for output in (report.read_text(), done.stdout, done.stderr, table.stdout, table.stderr):
        for secret in SECRETS:
            assert secret not in output
    assert "DEPLOY_TOKEN=********" in table.stdout


def test_fail_under_gates(cli_env: dict[str, str]) -> None:
    assert imgaudit_process(BAD, "--fail-under", "80", env=cli_env).returncode == 1
    assert imgaudit_process(BAD, "--fail-under", "10", env=cli_env).returncode == 0


def test_ignore_marks_rule_ignored_and_changes_score(cli_env: dict[str, str]) -> None:
    plain = json.loads(imgaudit(BAD, "-f", "json", env=cli_env).stdout)["images"][0]
    done = imgaudit(BAD, "-f", "json", "--ignore", "IA1101,ia201", env=cli_env)
    ignored = json.loads(done.stdout)["images"][0]
    statuses = {r["id"]: r["status"] for r in ignored["rules"]}
    assert statuses["IA1101"] == statuses["IA201"] == "ignored"
    assert ignored["score"] > plain["score"]
    assert not {f["rule"] for f in ignored["findings"]} & {"IA1101", "IA201"}


def test_no_content_skips_content_rules(cli_env: dict[str, str]) -> None:
    done = imgaudit(BAD, "-f", "json", "--no-content", env=cli_env)
    image = json.loads(done.stdout)["images"][0]
    assert image["content_read"] is False
    statuses = {r["id"]: r["status"] for r in image["rules"]}
    for rule in ALL_RULES:
        if rule.info.needs_content:
            assert statuses[rule.info.id] == "skip"
    assert statuses["IA201"] == "fail"


def test_several_images_one_missing(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = f"docker-archive:{tmp_path / 'nope.tar'}"
    done = imgaudit(GOOD, missing, "-f", "json", env=cli_env)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert [i["reference"] for i in document["images"]] == [GOOD]
    assert document["errors"][0]["reference"] == missing
    assert "no archive" in document["errors"][0]["message"]


def test_missing_archive(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = imgaudit_process(f"docker-archive:{tmp_path / 'gone.tar'}", env=cli_env)
    assert_one_line_error(done, "no archive")


def test_corrupt_archive(cli_env: dict[str, str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive at all\n" * 100)
    assert_one_line_error(imgaudit(f"docker-archive:{junk}", env=cli_env), "junk.tar")


def test_truncated_compressed_archive(cli_env: dict[str, str], tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(ARCHIVE.read_bytes()[: ARCHIVE.stat().st_size // 2])
    done = imgaudit(f"docker-archive:{cut}:imgaudit-fixture/demo-bad:buildkit", env=cli_env)
    assert_one_line_error(done, "truncated or corrupt")


def test_archive_that_is_not_an_image(cli_env: dict[str, str], tmp_path: Path) -> None:
    import tarfile

    path = tmp_path / "files.tar"
    with tarfile.open(path, "w") as tar:
        source = tmp_path / "hello.txt"
        source.write_text("hello")
        tar.add(source, arcname="hello.txt")
    assert_one_line_error(imgaudit(f"docker-archive:{path}", env=cli_env),
                          "not an image archive")


def test_ambiguous_archive_lists_images(cli_env: dict[str, str]) -> None:
    done = imgaudit(f"docker-archive:{ARCHIVE}", env=cli_env)
    assert_one_line_error(done, "holds 3 images", "demo-good:classic", "@INDEX")


def test_pick_by_position(cli_env: dict[str, str]) -> None:
    done = imgaudit(f"docker-archive:{ARCHIVE}:@1", "-f", "json", env=cli_env)
    assert done.returncode == 0, done.stderr
    tags = json.loads(done.stdout)["images"][0]["repo_tags"]
    assert tags == ["imgaudit-fixture/demo-good:classic"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--fail-on", "bogus"), ("bogus",)),
        (("--ignore", "IA999"), ("IA999",)),
        (("--max-size", "lots"), ("lots",)),
    ],
)
def test_bad_options_exit_2(cli_env: dict[str, str], args: tuple[str, ...],
                            words: tuple[str, ...]) -> None:
    done = imgaudit(GOOD, *args, env=cli_env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr


def test_diff_reads_fail_on_as_audit_does(cli_env: dict[str, str]) -> None:
    # no image is opened: the option is checked first, by the policy's own reader
    diffed = imgaudit("diff", GOOD, BAD, "--fail-on", "urgent", env=cli_env)
    assert_one_line_error(diffed, "--fail-on", "'urgent' is not a severity", "or none")
    audited = imgaudit(GOOD, "--fail-on", "urgent", env=cli_env)
    assert diffed.stderr == audited.stderr
    assert "╭" not in diffed.stderr and "Usage:" not in diffed.stderr


@pytest.mark.parametrize(("args", "words"), [
    (("--fail-under", "150", GOOD), ("--fail-under", "100", " audit --help`")),
    ((GOOD, "--no-such-option"), ("No such option: --no-such-option",)),
    (("audit",), ("Missing argument", "IMAGE")),
    (("diff", GOOD, BAD, "--format", "sarif"), ("--format", "sarif", " diff --help`")),
    (("rules", "--format", "nope"), ("nope", " rules --help`")),
], ids=["out-of-range", "unknown-option", "missing-image", "bad-choice", "rules-choice"])
def test_command_line_mistakes_are_one_line(cli_env: dict[str, str], args: tuple[str, ...],
                                            words: tuple[str, ...]) -> None:
    done = imgaudit(*args, env=cli_env)
    assert_one_line_error(done, *words)
    assert done.stderr.count("\n") == 1 and "╭" not in done.stderr
    assert done.stdout == ""


def test_help_still_shows(cli_env: dict[str, str]) -> None:
    helped = imgaudit("--help", env=cli_env)
    assert helped.returncode == 0 and "Usage: " in helped.stdout
    assert "audit" in helped.stdout and "diff" in helped.stdout
    bare = imgaudit(env=cli_env)  # no arguments: the help, exit 2 as click has it
    assert bare.returncode == 2 and "Usage: " in bare.stdout
    assert "error" not in bare.stderr
    command = imgaudit("diff", "--help", env=cli_env)
    assert command.returncode == 0 and "--max-score-drop" in command.stdout


def test_unwritable_output(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = imgaudit(GOOD, "-o", str(tmp_path / "no" / "such" / "dir" / "r.json"), env=cli_env)
    assert_one_line_error(done, "cannot write")


def test_rules_listing_covers_every_rule(cli_env: dict[str, str]) -> None:
    listing = json.loads(imgaudit("rules", "--format", "json", env=cli_env).stdout)
    assert [r["id"] for r in listing] == [r.info.id for r in ALL_RULES]
    for item in listing:
        assert item["rationale"] and item["fix"] and item["checks"]
        assert item["practice"] in {p.id for p in PRACTICES}


def test_readme_rules_table_is_generated(cli_env: dict[str, str]) -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert table == imgaudit("rules", "--format", "markdown", env=cli_env).stdout


def test_python_api_returns_typed_report(tmp_path: Path) -> None:
    report = audit([GOOD, BAD], cache_dir=tmp_path)
    # demo-good lacks only a HEALTHCHECK (IA1301, low): under a point, the grade kept
    assert (report.images[0].score, report.images[0].grade) == (99, "A")
    assert [s.rule.id for s in report.images[0].findings if s.points] == ["IA1301"]
    assert report.images[1].grade == "F"
    assert not report.failures


def test_engine_unreachable_is_one_line(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, DOCKER_HOST="unix:///nonexistent/docker.sock")
    done = imgaudit_process("app:1", env=env)
    assert_one_line_error(done, "cannot reach the Docker engine", "DOCKER_HOST")

