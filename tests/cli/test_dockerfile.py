"""`--dockerfile PATH` and ./Dockerfile detection end to end, on fixture images built with both
builders: every format names the line (SARIF still valid), a Dockerfile that does not match
warns once and changes nothing else, an unrelated ./Dockerfile changes nothing at all, each of
several images is matched on its own, and `diff` locates the new image's findings."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.cli import Ran, imgaudit
from tests.support.engine import BUILDERS, fixture_tag
from tests.support.paths import ROOT

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]

FIXTURES = ROOT / "fixtures" / "images"
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
SECRET = "ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"  # demo-bad's ENV DEPLOY_TOKEN
WARNING = "imgaudit: warning: Dockerfile does not match "


def line_of(path: Path, start: str) -> int:
    """The number of the one line of the file that starts with `start`."""
    found = [n for n, line in enumerate(path.read_text().splitlines(), 1)
             if line.startswith(start)]
    assert len(found) == 1, (path, start, found)
    return found[0]


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("imgaudit: warning:")]


def sarif_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(document)
    return document


def findings(report: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(report.read_text())["images"][0]["findings"]
    return found


def every_format(folder: Path) -> list[str]:
    folder.mkdir(exist_ok=True)
    return ["-f", "table", *(item for fmt in ("json", "sarif", "junit", "markdown", "github")
                             for item in ("-f", f"{fmt}={folder / fmt}"))]


@pytest.mark.parametrize("builder", BUILDERS)
def test_every_format_names_the_line(builder: str, tmp_path: Path,
                                     cli_env: dict[str, str]) -> None:
    shown = "fixtures/images/demo-bad/Dockerfile"
    env_line = line_of(ROOT / shown, "ENV DEPLOY_TOKEN=")
    out = tmp_path / "out"
    done = imgaudit(fixture_tag("demo-bad", builder), "--dockerfile", shown, *every_format(out),
                    cwd=ROOT, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert warnings(done.stderr) == []
    assert f"findings on {shown} lines" in done.stderr
    assert "found in the working directory" not in done.stderr

    secret = next(f for f in findings(out / "json") if f["rule"] == "IA1101")
    assert secret["source"] == {"path": shown, "start_line": env_line, "end_line": env_line,
                                "instruction": "ENV DEPLOY_TOKEN=********"}

    sarif = sarif_of(out / "sarif")
    run = sarif["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    result = next(r for r in run["results"] if r["ruleId"] == "IA1101")
    location = result["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": shown, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": env_line, "endLine": env_line},
    }
    assert location["logicalLocations"][0]["name"] == fixture_tag("demo-bad", builder)

    annotation = next(line for line in (out / "github").read_text().splitlines()
                      if "title=IA1101" in line)
    assert annotation.startswith(f"::error file={shown},line={env_line},endLine={env_line},"
                                 "title=IA1101 ")

    suite = ET.fromstring((out / "junit").read_text()).find("testsuite")
    assert suite is not None
    case = next(c for c in suite.iter("testcase") if (c.get("name") or "").startswith("IA1101"))
    failure = case.find("failure")
    assert failure is not None
    for element in (case, failure):
        assert (element.get("file"), element.get("line")) == (shown, str(env_line))
    assert f"at {shown}:{env_line}" in (failure.text or "")

    assert f"at `{shown}:{env_line}`" in (out / "markdown").read_text()
    assert f"at {shown}:{env_line}" in done.stdout
    for text in (done.stdout, done.stderr, *(p.read_text() for p in out.iterdir())):
        assert SECRET not in text


def mismatching(tmp_path: Path) -> list[Path]:
    """demo-bad's Dockerfile with an extra step, and with two steps swapped."""
    text = (FIXTURES / "demo-bad" / "Dockerfile").read_text()
    extra = tmp_path / "extra" / "Dockerfile"
    swapped = tmp_path / "swapped" / "Dockerfile"
    for path in (extra, swapped):
        path.parent.mkdir()
    extra.write_text(text.replace("COPY . /app\n", "COPY . /app\nRUN chmod -R a+r /app\n"))
    first, second = "RUN mkdir -p /var/log/app\n", "RUN touch /var/log/app/app.log\n"
    assert first + second in text
    swapped.write_text(text.replace(first + second, second + first))
    return [extra, swapped]


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_dockerfile_that_does_not_match_warns_and_changes_nothing(
        builder: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    target = fixture_tag("demo-bad", builder)
    plain = imgaudit(target, "--fail-under", "90", *every_format(tmp_path / "plain"),
                     cwd=tmp_path, env=cli_env)
    assert plain.returncode == 1, plain.stderr  # the score gate: unchanged below
    for dockerfile in mismatching(tmp_path):
        out = tmp_path / f"out-{dockerfile.parent.name}"
        done = imgaudit(target, "--fail-under", "90", "--dockerfile", str(dockerfile),
                        *every_format(out), cwd=tmp_path, env=cli_env)
        assert done.returncode == plain.returncode
        [warning] = warnings(done.stderr)
        assert warning.startswith(f"{WARNING}{target}: line ")
        assert f"{dockerfile.parent.name}/Dockerfile" in warning  # the path as findings name it
        assert done.stderr.replace(warning + "\n", "") == plain.stderr
        assert done.stdout == plain.stdout
        for fmt in ("json", "sarif", "junit", "markdown", "github"):
            assert (out / fmt).read_text() == (tmp_path / "plain" / fmt).read_text(), fmt
        sarif_of(out / "sarif")


@pytest.mark.parametrize("builder", BUILDERS)
def test_dockerfile_in_the_working_directory_is_used_only_when_it_matches(
        builder: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    target = fixture_tag("demo-bad", builder)

    def run(name: str, dockerfile: str | None, *options: str) -> tuple[
            Ran, dict[str, str]]:
        folder = tmp_path / name
        folder.mkdir()
        if dockerfile is not None:
            (folder / "Dockerfile").write_text(dockerfile)
        done = imgaudit(target, *options, *every_format(folder / "out"), cwd=folder,
                        env=cli_env)
        outputs = {p.name: p.read_text() for p in (folder / "out").iterdir()}
        return done, {**outputs, "stdout": done.stdout, "stderr": done.stderr,
                      "code": str(done.returncode)}

    own = (FIXTURES / "demo-bad" / "Dockerfile").read_text()
    _, plain = run("none", None)
    # a repository whose Dockerfile built another image, or is no Dockerfile at all
    for name, text in (("unrelated", (FIXTURES / "demo-good" / "Dockerfile").read_text()),
                       ("broken", "this is not a Dockerfile\n"),
                       ("reordered", mismatching(tmp_path)[1].read_text())):
        assert run(name, text)[1] == plain, name
    # the image's own Dockerfile, switched off
    assert run("switched-off", own, "--no-dockerfile")[1] == plain

    done, found = run("matching", own)
    assert done.returncode == 0 and warnings(done.stderr) == []
    assert "findings on Dockerfile lines (found in the working directory" in done.stderr
    line = line_of(FIXTURES / "demo-bad" / "Dockerfile", "COPY . /app")
    copied = next(f for f in json.loads(found["json"])["images"][0]["findings"]
                  if f["rule"] == "IA401")
    assert (copied["source"]["path"], copied["source"]["start_line"]) == ("Dockerfile", line)
    assert f"file=Dockerfile,line={line}," in found["github"]


def test_each_image_is_matched_on_its_own(tmp_path: Path, cli_env: dict[str, str]) -> None:
    shown = "fixtures/images/demo-bad/Dockerfile"
    targets = [fixture_tag("demo-bad", "classic"), fixture_tag("demo-bad", "buildkit"),
               fixture_tag("release-v1", "classic")]
    report = tmp_path / "report.json"
    done = imgaudit(*targets, "--dockerfile", shown, "-f", f"json={report}", cwd=ROOT,
                    env=cli_env)
    assert done.returncode == 0, done.stderr
    [warning] = warnings(done.stderr)
    assert warning.startswith(f"{WARNING}{targets[2]}: ")
    images = json.loads(report.read_text())["images"]
    located = [any("source" in f for f in item["findings"]) for item in images]
    assert located == [True, True, False]
    assert all("source" in f for item in images[:2] for f in item["findings"])


@pytest.mark.parametrize("builder", BUILDERS)
def test_diff_locates_the_new_images_findings(builder: str, tmp_path: Path,
                                              cli_env: dict[str, str]) -> None:
    shown = "fixtures/images/release-v2/Dockerfile"
    old, new = fixture_tag("release-v1", builder), fixture_tag("release-v2", builder)
    done = imgaudit("diff", old, new, "--dockerfile", shown, "-f", "json", cwd=ROOT,
                    env=cli_env)
    assert done.returncode == 0, done.stderr
    assert warnings(done.stderr) == [] and f"findings on {shown} lines" in done.stderr
    change = json.loads(done.stdout)
    added = {f["rule"]: f for f in change["added"]}
    env_copy = line_of(ROOT / shown, "COPY .env ./")
    assert added["IA401"]["source"]["start_line"] == env_copy
    assert change["removed"] and all("source" not in f for f in change["removed"])
    markdown = imgaudit("diff", old, new, "--dockerfile", shown, "-f", "markdown", cwd=ROOT,
                        env=cli_env)
    assert f"at `{shown}:{env_copy}`" in markdown.stdout
    # the old image's Dockerfile is not the new image's: a warning, the exit code unchanged
    other = imgaudit("diff", old, new, "--dockerfile", "fixtures/images/release-v1/Dockerfile",
                     "-f", "json", cwd=ROOT, env=cli_env)
    assert other.returncode == 0
    [warning] = warnings(other.stderr)
    assert warning.startswith(f"{WARNING}{new}: ")
    assert "source" not in other.stdout


def test_paths_as_findings_name_them(tmp_path: Path, cli_env: dict[str, str]) -> None:
    target = fixture_tag("missing-user", "buildkit")
    line = line_of(FIXTURES / "missing-user" / "Dockerfile", "USER ghost")
    absolute = FIXTURES / "missing-user" / "Dockerfile"

    def source(dockerfile: str, cwd: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        done = imgaudit(target, "--dockerfile", dockerfile, *every_format(out), cwd=cwd,
                        env=cli_env)
        assert done.returncode == 0, done.stderr
        finding = next(f for f in findings(out / "json") if f["rule"] == "IA202")
        result = next(r for r in sarif_of(out / "sarif")["runs"][0]["results"]
                      if r["ruleId"] == "IA202")
        return finding["source"], result["locations"][0]["physicalLocation"]

    relative = "fixtures/images/missing-user/Dockerfile"
    for given in (relative, f"./{relative}", str(absolute)):
        found, place = source(given, ROOT)
        assert (found["path"], found["start_line"]) == (relative, line), given
        assert place["artifactLocation"] == {"uri": relative, "uriBaseId": "%SRCROOT%"}
    # outside the working directory: the absolute path, and a file URI of its own
    found, place = source(str(absolute), tmp_path)
    assert found["path"] == absolute.as_posix()
    assert place["artifactLocation"] == {"uri": absolute.as_uri()}


def test_a_dockerfile_that_cannot_be_read_is_one_error(tmp_path: Path,
                                                       cli_env: dict[str, str]) -> None:
    target = fixture_tag("demo-bad", "classic")
    for args in (["--dockerfile", "nowhere/Dockerfile"],
                 ["--dockerfile", "Dockerfile", "--no-dockerfile"]):
        done = imgaudit(target, *args, cwd=tmp_path, env=cli_env)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        [error] = [line for line in done.stderr.splitlines() if line.startswith("imgaudit:")]
        assert error.startswith("imgaudit: error: ") and "(hint: " in error
    broken = tmp_path / "Dockerfile"
    broken.write_text("RUN echo before any FROM\n")
    done = imgaudit(target, "--dockerfile", str(broken), cwd=tmp_path, env=cli_env)
    assert done.returncode == 2 and "Dockerfile:1" in done.stderr
