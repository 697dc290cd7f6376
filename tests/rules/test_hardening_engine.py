"""The peers' checks (practices 12-14) on real images: the pa-* fixtures, each built by the classic
builder and by BuildKit, audited from the engine and from their `docker save` archives; the
well-built fixtures are the controls that must not be flagged."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import audit
from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from auditor.model.report import ImageReport
from tests.support.engine import (
    BUILDERS,
    archive_report,
    daemon_report,
    fixture_tag,
    inspect,
    result,
)
from tests.support.paths import DOCKER

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
builders = pytest.mark.parametrize("builder", BUILDERS)
PEER_RULES = ("IA1201", "IA1202", "IA1203", "IA1204", "IA1302", "IA1401", "IA1301")
CONTROLS = ("seed", "demo-good", "multistage")


def own(report: ImageReport, rule_id: str) -> list[tuple[Severity, str, str]]:
    return sorted((f.severity, f.message, f.evidence) for f in result(report, rule_id).findings)


def run_in(tag: str, *command: str) -> str:
    """What a command prints inside a container of the image, run as root (the engine's own
    view of its files)."""
    done = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--user", "0",
                           "--entrypoint", "",
                           tag, *command], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.parametrize("name", CONTROLS)
@builders
def test_well_built_images_are_not_flagged_and_keep_their_grade(name: str, builder: str) -> None:
    report = daemon_report(name, builder)
    for rule_id in PEER_RULES[:-1]:  # all but IA1301
        assert result(report, rule_id).status is Status.PASS, rule_id
    assert result(report, "IA1301").status is Status.WARN  # none of them has a HEALTHCHECK
    assert report.score >= 90 and report.grade == "A"
    assert [s.rule.id for s in report.findings if s.points and s.rule.practice > 11] == ["IA1301"]


@builders
def test_setuid_and_setgid_files_of_an_own_step(builder: str) -> None:
    tag = fixture_tag("pa-setuid", builder)
    report = daemon_report("pa-setuid", builder)
    findings = result(report, "IA1201").findings
    assert sorted((f.message, f.severity) for f in findings) == [
        ("setgid file: /usr/local/bin/mail-helper", Severity.MEDIUM),
        ("setuid file: /usr/local/bin/ping-helper", Severity.MEDIUM),
    ]
    # the engine agrees on the bits: find them inside a container
    shown = run_in(tag, "find", "/", "-xdev", "-type", "f", "-perm", "/6000").split()
    assert sorted(shown) == ["/usr/local/bin/mail-helper", "/usr/local/bin/ping-helper"]
    assert all(f.origin is Origin.OWN and f.layer == 3 for f in findings)
    assert all("mode 4755" in f.evidence or "mode 2755" in f.evidence for f in findings)


@builders
def test_an_empty_password_names_the_account(builder: str) -> None:
    report = daemon_report("pa-empty-password", builder)
    [(severity, message, evidence)] = own(report, "IA1202")
    assert severity is Severity.HIGH and message == "account guest has an empty password"
    assert evidence.endswith("/etc/shadow, account guest: the password field is empty")
    line = run_in(fixture_tag("pa-empty-password", builder), "grep", "^guest:", "/etc/shadow")
    assert line.split(":")[1] == ""  # the engine's view: the field is empty
    assert result(report, "IA1203").status is Status.PASS


@builders
def test_shared_uid_and_gid(builder: str) -> None:
    report = daemon_report("pa-shared-ids", builder)
    assert [(s, m) for s, m, _ in own(report, "IA1203")] == [
        (Severity.LOW, "GID 10001 is shared by groups app, workers"),
        (Severity.LOW, "UID 10001 is shared by accounts app, worker"),
    ]
    # the busybox base has passwd and group but no shadow: IA1202 reads passwd alone
    assert result(report, "IA1202").status is Status.PASS


@builders
def test_a_second_root_account(builder: str) -> None:
    report = daemon_report("uid0-alias", builder)
    [(severity, message, _)] = own(report, "IA1203")
    assert severity is Severity.MEDIUM
    assert message == "UID 0 is shared by accounts root, toor: a second root account"


@builders
def test_sudo_shipped_and_run(builder: str) -> None:
    report = daemon_report("pa-sudo", builder)
    messages = [m for _, m, _ in own(report, "IA1204")]
    assert messages == ["a build step runs sudo: RUN sudo mkdir -p /srv/app/data",
                        "sudo is shipped: /etc/sudoers", "sudo is shipped: /usr/bin/sudo"]
    steps = [f.step for f in result(report, "IA1204").findings]
    assert all(step is not None for step in steps)


@pytest.mark.parametrize(("name", "start"), [
    ("pa-healthcheck", "config.Healthcheck.Test=[\"CMD\", \"/bin/sh\", \"-c\", \"echo | nc"),
    ("pa-healthcheck-none", "HEALTHCHECK NONE, a deliberate choice (history["),
])
@builders
def test_a_healthcheck_or_none_passes(name: str, start: str, builder: str,
                                      saved_archives: dict[str, Path]) -> None:
    report = daemon_report(name, builder)
    assert result(report, "IA1301").status is Status.PASS
    assert result(report, "IA1301").note.startswith(start)
    test = inspect(fixture_tag(name, builder))["Config"]["Healthcheck"]["Test"]  # type: ignore[index]
    assert report.image.config.healthcheck == tuple(test)
    archived = archive_report(saved_archives[fixture_tag(name, builder)])
    assert archived.image.config.healthcheck == tuple(test)
    assert report.score == 100


@builders
def test_an_inherited_healthcheck_counts_as_present(builder: str) -> None:
    report = daemon_report("pa-healthcheck-inherited", builder)
    note = result(report, "IA1301").note
    assert result(report, "IA1301").status is Status.PASS
    assert note.endswith("of the base image)") and "HEALTHCHECK" in note
    assert report.image.boundary.base_reference == "imgaudit-fixture/pa-healthcheck:buildkit"


@builders
def test_a_volume_over_a_kernel_interface(builder: str, saved_archives: dict[str, Path]) -> None:
    report = daemon_report("pa-volume", builder)
    [finding] = result(report, "IA1302").findings
    assert finding.severity is Severity.HIGH
    assert finding.message == "VOLUME /sys/fs/cgroup exposes a host-sensitive path"
    assert "VOLUME [/data /sys/fs/cgroup]" in finding.evidence
    assert report.image.config.volumes == ("/data", "/sys/fs/cgroup")
    archived = archive_report(saved_archives[fixture_tag("pa-volume", builder)])
    assert archived.image.config.volumes == report.image.config.volumes
    assert own(archived, "IA1302") == own(report, "IA1302")


@builders
def test_add_of_local_files_and_an_unpacked_tarball(builder: str) -> None:
    report = daemon_report("pa-add", builder)
    rule = result(report, "IA1401")
    assert rule.status is Status.WARN
    assert [f.severity for f in rule.findings] == [Severity.LOW, Severity.LOW]
    steps = [report.image.history[f.step].body for f in rule.findings if f.step is not None]
    if builder == "buildkit":
        assert steps == ["app.conf ./", "static/ ./static/"]
    else:
        assert [s.split(":")[0] for s in steps] == ["file", "dir"]
    # the tarball was unpacked by ADD: its files are in the image, and it is not blamed
    files = report.image.files or {}
    assert "opt/vendor/lib/helper.sh" in files and "opt/vendor.tar.gz" not in files
    assert len(rule.findings) == 2


@pytest.fixture(scope="module")
def url_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An image whose Dockerfile ADDs a URL, built by each builder from a server on loopback
    (the engine downloads it itself); the images are removed afterwards."""
    root = tmp_path_factory.mktemp("url")
    (root / "srv").mkdir()
    (root / "srv" / "tool.txt").write_text("tool v1\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root / "srv"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (root / "ctx").mkdir()
    (root / "ctx" / "Dockerfile").write_text(
        "FROM imgaudit-fixture/busybox-base:1\n"
        f"ADD http://127.0.0.1:{server.server_address[1]}/tool.txt /opt/tool.txt\n"
        'CMD ["/bin/sh"]\n')
    tags = {builder: f"ia-peers-a-url:{builder}" for builder in BUILDERS}
    try:
        for builder, tag in tags.items():
            env = dict(os.environ, DOCKER_BUILDKIT="1" if builder == "buildkit" else "0")
            subprocess.run([DOCKER, "build", "--quiet", "--tag", tag, str(root / "ctx")],
                           env=env, capture_output=True, check=True)
        yield tags
    finally:
        server.shutdown()
        subprocess.run([DOCKER, "rmi", *tags.values()], capture_output=True)


@builders
def test_add_of_a_url_is_medium_in_either_wording(builder: str,
                                                  url_images: dict[str, str]) -> None:
    report = audit([url_images[builder]]).images[0]
    [finding] = result(report, "IA1401").findings
    assert finding.severity is Severity.MEDIUM
    step = report.image.history[finding.step or 0]
    if builder == "buildkit":
        assert finding.message.startswith("ADD downloads http://127.0.0.1:")
        assert step.body.startswith("http://127.0.0.1:")
    else:  # the classic builder names the download by its content hash alone
        assert finding.message.startswith("ADD downloads a URL into /opt/tool.txt")
    assert step.instruction == "ADD" and finding.origin is Origin.OWN
