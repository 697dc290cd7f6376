"""Every rule on real images: the fixtures under fixtures/images/, each built by the classic builder
and by BuildKit, audited from the engine. Each test checks what its fixture is about; expected
values come from the fixture's Dockerfile or from the engine where they can."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from auditor.model.policy import Policy
from auditor.model.report import ImageReport
from tests.support.cli import imgaudit
from tests.support.engine import (
    BUILDERS,
    FIXTURES,
    IMAGES,
    base_of,
    daemon_report,
    dockerfile_steps,
    fixture_tag,
    inspect,
    layer_count,
    result,
    statuses,
)
from tests.support.paths import DOCKER

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
builders = pytest.mark.parametrize("builder", BUILDERS)
JUDGED = (Status.PASS, Status.SKIP)


def own_findings(report: ImageReport, rule_id: str) -> list[str]:
    return [f"{s.finding.message} | {s.finding.evidence}" for s in report.findings
            if s.rule.id == rule_id and s.finding.origin is Origin.OWN]


def loses_only_the_healthcheck(report: ImageReport) -> bool:
    """Nothing is wrong but the missing HEALTHCHECK (IA1301, low), which costs under a point: the
    fixtures that follow PRACTICES.md do not declare one."""
    return (report.score == 99
            and [s.rule.id for s in report.findings if s.points] == ["IA1301"])


def test_every_fixture_is_covered(fixture_images: list[str]) -> None:
    folders = {p.name for p in IMAGES.iterdir() if (p / "Dockerfile").is_file()}
    assert set(FIXTURES) <= folders
    assert {fixture_tag(n, b) for n in FIXTURES for b in BUILDERS} <= set(fixture_images)


# ----------------------------------------------------------------------------- the good image


@builders
def test_seed_follows_every_practice(builder: str) -> None:
    report = daemon_report("seed", builder)
    assert report.score >= 95
    assert report.grade == "A"
    # PRACTICES.md's Dockerfile declares no HEALTHCHECK: a low warning, and nothing else
    assert {r.rule.id: r.status for r in report.results if r.status not in JUDGED} == {
        "IA1301": Status.WARN}
    assert "USER_NAME=myuser" in result(report, "IA501").note  # credit for the ARG
    assert result(report, "IA801").note.startswith("user install owned by the runtime user")


# ----------------------------------------------------------------------------- base boundary


@pytest.mark.parametrize("name", FIXTURES)
@builders
def test_base_is_the_image_the_dockerfile_starts_from(name: str, builder: str) -> None:
    image = daemon_report(name, builder, content=False).image
    base = base_of(name)
    assert image.boundary.base_reference == base, image.boundary.evidence
    assert image.boundary.method == "local-image"
    assert image.boundary.own_from_layer == layer_count(base) + 1
    assert [layer.origin for layer in image.layers] == (
        [Origin.BASE] * layer_count(base) + [Origin.OWN] * (len(image.layers) - layer_count(base))
    )


@builders
def test_findings_of_the_base_are_shown_apart_and_not_scored(builder: str) -> None:
    report = daemon_report("on-toolchain", builder)
    toolchain = result(report, "IA103")
    assert toolchain.status is Status.PASS
    assert toolchain.findings == ()
    (finding,) = toolchain.base_findings
    assert finding.origin is Origin.BASE
    assert "/usr/bin/gcc" in finding.evidence
    assert "not scored" in toolchain.note
    assert loses_only_the_healthcheck(report)

    scored = daemon_report("toolchain", builder)  # the same files, added by the image itself
    assert result(scored, "IA103").status is Status.WARN
    assert result(scored, "IA103").findings[0].origin is Origin.OWN


@builders
def test_score_base_counts_the_base_findings(builder: str) -> None:
    from auditor import audit

    report = audit([fixture_tag("on-toolchain", builder)], policy=Policy(score_base=True))
    item = report.images[0]
    assert result(item, "IA103").status is Status.WARN
    assert item.score < daemon_report("on-toolchain", builder).score


# ----------------------------------------------------------------------------- 2: the user


@builders
def test_no_user_runs_as_root(builder: str) -> None:
    report = daemon_report("root-user", builder)
    root = result(report, "IA201")
    assert root.status is Status.FAIL
    assert root.findings[0].message == "no USER is set: the container runs as root"
    assert result(report, "IA202").status is Status.SKIP
    assert result(report, "IA702").status is Status.SKIP  # ports are root's to bind


@builders
def test_a_uid_0_alias_is_root(builder: str) -> None:
    report = daemon_report("uid0-alias", builder)
    root = result(report, "IA201")
    assert root.status is Status.FAIL
    assert root.findings[0].evidence == "config.User='toor': toor has UID 0 in etc/passwd"
    assert result(report, "IA202").status is Status.PASS  # toor exists; it is just root


@builders
def test_a_user_missing_from_passwd(builder: str) -> None:
    report = daemon_report("missing-user", builder)
    missing = result(report, "IA202")
    assert missing.status is Status.FAIL
    assert missing.findings[0].evidence == "user 'ghost' is not in etc/passwd"
    assert missing.findings[0].origin is Origin.OWN
    assert result(report, "IA201").status is Status.PASS
    assert "cannot be resolved" in result(report, "IA201").note


@builders
def test_a_numeric_user_needs_no_passwd_entry(builder: str) -> None:
    report = daemon_report("numeric-user", builder)
    assert result(report, "IA201").note == "config.User='10001:10001' runs as UID 10001"
    assert result(report, "IA202").status is Status.PASS
    assert loses_only_the_healthcheck(report)


# ----------------------------------------------------------------------------- 3: layers


@builders
def test_many_layers(builder: str) -> None:
    report = daemon_report("many-layers", builder)
    runs = sum(1 for word, _ in dockerfile_steps("many-layers") if word == "RUN")
    assert runs >= 12
    layers = result(report, "IA301")
    assert layers.status is Status.WARN
    added = re.search(r"adds (\d+) layers", layers.findings[0].message)
    assert added is not None
    assert int(added.group(1)) == runs + 1  # every RUN and the COPY; WORKDIR's folder existed
    assert layers.findings[0].layer == len(report.image.layers)  # the last own layer
    streak = result(report, "IA302")
    assert streak.status is Status.WARN
    assert streak.findings[0].message == f"{runs} consecutive RUN steps could be one"


# ----------------------------------------------------------------------------- 4: files


@builders
def test_copying_the_whole_context(builder: str) -> None:
    report = daemon_report("context-copy", builder)
    secrets = result(report, "IA401")
    assert secrets.status is Status.FAIL
    assert {f.path for f in secrets.findings} >= {"app/.env", "app/id_rsa"}  # one per file
    vcs = result(report, "IA402")
    assert vcs.status is Status.WARN
    assert vcs.findings[0].path == "app/.git"
    clutter = result(report, "IA403")
    assert clutter.status is Status.WARN
    kinds = {f.message.split(" in the image")[0] for f in clutter.findings}
    assert kinds == {"Dockerfile", "compose file", "test suite", "bytecode cache", "IDE folder",
                     "OS clutter"}
    for finding in (*secrets.findings, *vcs.findings, *clutter.findings):
        assert "copies the whole build context" in finding.evidence
    # pip's own bytecode under ~/.local is compiled by the build, not copied: not clutter
    assert not [f for f in clutter.findings if ".local/" in f.evidence]


@builders
def test_explicit_copies_carry_no_clutter(builder: str) -> None:
    report = daemon_report("seed", builder)
    for rule_id in ("IA401", "IA402", "IA403"):
        assert result(report, rule_id).status is Status.PASS


# ----------------------------------------------------------------------------- 5: ARG user


@builders
def test_a_hard_coded_user_name(builder: str) -> None:
    report = daemon_report("user-hardcoded", builder)
    named = result(report, "IA501")
    assert named.status is Status.WARN
    assert named.findings[0].severity is Severity.LOW
    assert 'echo "appuser:x:10001' in named.findings[0].evidence
    assert result(daemon_report("seed", builder), "IA501").status is Status.PASS


# ----------------------------------------------------------------------------- 6, 7: WORKDIR, ports


@builders
def test_no_workdir(builder: str) -> None:
    workdir = result(daemon_report("no-workdir", builder), "IA601")
    assert workdir.status is Status.WARN
    assert workdir.findings[0].message == "no WORKDIR: the app runs in /"


@builders
def test_a_non_root_user_and_a_privileged_port(builder: str) -> None:
    report = daemon_report("low-port", builder)
    port = result(report, "IA702")
    assert port.status is Status.WARN
    assert port.findings[0].message == "user web cannot bind 80/tcp"
    assert result(report, "IA201").status is Status.PASS


@builders
def test_ssh_port(builder: str) -> None:
    report = daemon_report("ssh-port", builder)
    assert result(report, "IA703").status is Status.WARN
    assert result(report, "IA703").findings[0].evidence == "config.ExposedPorts includes 22/tcp"
    assert result(report, "IA701").note == "exposes 22/tcp, 8080/tcp"


@builders
def test_no_exposed_port(builder: str) -> None:
    got = statuses(daemon_report("no-expose", builder))
    assert (got["IA701"], got["IA702"], got["IA703"]) == (Status.WARN, Status.SKIP, Status.SKIP)


# ----------------------------------------------------------------------------- 8, 9: packages


def _layer_bytes(archive: Path, layer: int, prefix: str) -> int:
    """Bytes of the files under prefix in one layer of a `docker save` archive, read directly."""
    with tarfile.open(archive) as outer:
        document = outer.extractfile("manifest.json")
        assert document is not None
        member = outer.extractfile(json.load(document)[0]["Layers"][layer - 1])
        with tarfile.open(fileobj=member) as inner:
            return sum(m.size for m in inner if m.isfile() and m.name.startswith(prefix))


@builders
def test_pip_as_root_keeps_its_cache(builder: str, saved_archives: dict[str, Path]) -> None:
    report = daemon_report("pip-root-cache", builder)
    system = result(report, "IA801")
    assert system.status is Status.WARN
    assert system.findings[0].path == "usr/local/lib/python3.11/site-packages"
    assert "greeting 1.0, kvstore 2.1, tinyhttp 0.3" in system.findings[0].evidence
    cache = result(report, "IA901")
    assert cache.status is Status.WARN
    (finding,) = cache.findings
    assert finding.path == "root/.cache/pip"
    assert "/root/.cache/pip" in finding.evidence
    assert "RUN pip install" in finding.evidence
    assert "deleted" not in finding.evidence
    assert finding.origin is Origin.OWN
    assert finding.layer is not None
    shipped = _layer_bytes(saved_archives[fixture_tag("pip-root-cache", builder)], finding.layer,
                           "root/.cache/pip/")
    assert finding.size == shipped > 0


@builders
def test_a_cache_deleted_later_still_ships(builder: str) -> None:
    report = daemon_report("pip-cache-deleted", builder)
    (finding,) = result(report, "IA901").findings
    assert finding.path == "home/app/.cache/pip"
    assert finding.size is not None and finding.size > 0
    assert "deleted by a later layer, bytes still shipped" in finding.evidence
    files = report.image.files or {}
    assert not [p for p in files if p.startswith("home/app/.cache/pip")]
    assert result(report, "IA801").status is Status.PASS  # --user as the app user
    assert result(report, "IA302").status is Status.WARN  # the delete could have been chained


@builders
def test_a_venv_owned_by_the_user(builder: str) -> None:
    report = daemon_report("pip-venv", builder)
    assert result(report, "IA801").note.startswith("venv install owned by the runtime user")
    assert result(report, "IA901").status is Status.PASS  # --no-cache-dir
    assert result(report, "IA1103").status is Status.PASS  # --system-site-packages is no -pSECRET
    assert loses_only_the_healthcheck(report)


@builders
def test_multistage_leaves_the_builder_behind(builder: str) -> None:
    report = daemon_report("multistage", builder)
    packages = result(report, "IA801")
    assert packages.status is Status.INFO  # said, not scored: pip never ran as root here
    [finding] = packages.findings
    assert "copied in by" in finding.evidence
    assert "usr/local/lib/python3.11" in finding.evidence
    assert result(report, "IA901").status is Status.PASS  # the builder's cache stayed there
    files = report.image.files or {}
    assert "usr/local/lib/python3.11/site-packages/tinyhttp.py" in files
    assert not [p for p in files if p.startswith(("install/", "root/.cache/"))]
    assert loses_only_the_healthcheck(report)


@builders
def test_os_package_caches(builder: str) -> None:
    report = daemon_report("os-cache", builder)
    (finding,) = result(report, "IA902").findings
    assert "/var/lib/apt/lists" in finding.evidence and "/var/cache/apk" in finding.evidence
    # two list files and one APKINDEX: apt's lock and partial/ are no cache
    assert "(3 files," in finding.evidence
    assert "var/lib/apt/lists/lock" in (report.image.files or {})


@builders
def test_npm_cache(builder: str) -> None:
    report = daemon_report("npm-cache", builder)
    (finding,) = result(report, "IA903").findings
    assert finding.path == "home/node/.npm/_cacache"
    assert finding.size is not None and finding.size > 40_000
    assert result(report, "IA901").status is Status.PASS


# ----------------------------------------------------------------------------- 1: toolchain


@builders
def test_toolchain_left_in(builder: str) -> None:
    (finding,) = result(daemon_report("toolchain", builder), "IA103").findings
    for tool in ("/usr/bin/gcc", "/usr/bin/cc", "/usr/bin/make", "libc6-dev (package)"):
        assert tool in finding.evidence
    assert result(daemon_report("seed", builder), "IA103").status is Status.PASS


# ----------------------------------------------------------------------------- 10: command


@builders
def test_a_cmd_inherited_from_the_base(builder: str) -> None:
    report = daemon_report("no-cmd", builder)
    config = inspect(base_of("no-cmd"))["Config"]
    assert isinstance(config, dict) and config["Cmd"] == ["python3"]
    command = result(report, "IA1001")
    assert command.status is Status.WARN
    (finding,) = command.findings
    assert finding.message == 'Cmd ["python3"] is inherited from the base image'
    assert finding.severity is Severity.MEDIUM
    assert finding.origin is Origin.OWN  # leaving it out is this image's doing


@builders
def test_shell_form_cmd(builder: str) -> None:
    command = result(daemon_report("shell-cmd", builder), "IA1002")
    assert command.status is Status.WARN
    assert command.findings[0].evidence == 'config.Cmd=["/bin/sh", "-c", "python3 main.py"]'
    assert result(daemon_report("seed", builder), "IA1002").status is Status.PASS


# ----------------------------------------------------------------------------- secrets


def _secret_values() -> dict[str, str]:
    """The fake secrets the secrets fixture plants, read from its Dockerfile."""
    text = (IMAGES / "secrets" / "Dockerfile").read_text(encoding="utf-8")
    found = {
        "NPM_TOKEN": re.search(r"ARG NPM_TOKEN=(\S+)", text),
        "DB_PASSWORD": re.search(r"ENV DB_PASSWORD=(\S+)", text),
        "deploy-token": re.search(r'deploy-token="([^"]+)"', text),
        "curl password": re.search(r"-u admin:(\S+)", text),
    }
    return {key: match.group(1) for key, match in found.items() if match}


@builders
def test_secrets_are_named_and_masked(builder: str) -> None:
    report = daemon_report("secrets", builder)
    assert {k: v for k, v in statuses(report).items() if k.startswith(("IA502", "IA11"))} == {
        "IA502": Status.FAIL, "IA1101": Status.FAIL, "IA1102": Status.FAIL,
        "IA1103": Status.FAIL,
        "IA1104": Status.PASS,  # its .npmrc was written and deleted in one RUN: in no layer
    }
    assert result(report, "IA1101").findings[0].evidence == "config.Env: DB_PASSWORD=********"
    assert result(report, "IA1102").findings[0].severity is Severity.CRITICAL  # a GitHub token
    assert "org.example.ci.deploy-token=********" in result(report, "IA1102").findings[0].evidence
    assert all(f.evidence.endswith("NPM_TOKEN=********") for f in result(report, "IA502").findings)
    assert "-u admin:********" in result(report, "IA1103").findings[0].evidence


@builders
def test_secret_values_are_printed_nowhere(builder: str, cli_env: dict[str, str]) -> None:
    values = _secret_values()
    assert len(values) == 4
    tag = fixture_tag("secrets", builder)
    metadata = json.dumps(inspect(tag)) + subprocess.run(
        [DOCKER, "history", "--no-trunc", tag], capture_output=True, text=True, check=True
    ).stdout
    for value in values.values():
        assert value in metadata  # the image does carry it: the test below means something
    for fmt in ("json", "table"):
        done = imgaudit(tag, "--format", fmt, env=cli_env)
        assert done.returncode == 0, done.stderr
        assert "********" in done.stdout
        for name, value in values.items():
            assert value not in done.stdout, f"{name} printed in the {fmt} report"
            assert value not in done.stderr, f"{name} printed on stderr"


@builders
def test_the_good_image_has_no_secret_findings(builder: str) -> None:
    report = daemon_report("seed", builder)
    for rule_id in ("IA502", "IA1101", "IA1102", "IA1103"):
        assert result(report, rule_id).status is Status.PASS
