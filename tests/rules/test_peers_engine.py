"""The peers' checks (IA1104, IA1205, IA1206, IA1402, IA1403, and IA902's dnf cache) on real
images: the pb-* fixtures, each built by the classic builder and by BuildKit, and the well-built
fixtures as controls that none of them flags."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from tests.support.engine import BUILDERS, daemon_report, result

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
builders = pytest.mark.parametrize("builder", BUILDERS)
PEERS = ("IA1104", "IA1205", "IA1206", "IA1402", "IA1403")
FAKES = ("FAKEfixtureSECRETnotREAL", "ZmFrZTpGQUtFZml4dHVyZQ", "FAKEkubeTOKENfixture")


@pytest.mark.parametrize("name", ["seed", "demo-good", "multistage", "pip-venv"])
@builders
def test_well_built_images_keep_their_grade(name: str, builder: str) -> None:
    report = daemon_report(name, builder)
    assert report.score >= 90 and report.grade == "A"
    for rule in PEERS:
        assert result(report, rule).status in (Status.PASS, Status.SKIP), rule
    assert result(report, "IA1206").status is Status.PASS  # each runs as a non-root user


@builders
def test_chmod_777_is_flagged_and_a_sticky_folder_is_not(builder: str) -> None:
    report = daemon_report("pb-world-writable", builder)
    outcome = result(report, "IA1205")
    assert outcome.status is Status.WARN
    (finding,) = outcome.findings
    assert finding.paths == ("srv/app",)
    assert "RUN chmod -R 777 /srv/app" in finding.evidence
    assert finding.evidence.endswith(": /srv/app/ (1 path below them)")
    # world-writable is IA1205's alone
    assert result(report, "IA1206").status is Status.PASS


@builders
def test_code_owned_by_the_runtime_user_is_a_hint(builder: str) -> None:
    report = daemon_report("pb-user-code", builder)
    outcome = result(report, "IA1206")
    assert outcome.status is Status.WARN
    (finding,) = outcome.findings
    assert finding.severity is Severity.LOW
    assert finding.paths == ("srv/app/app.sh", "srv/app/lib.sh")  # not its empty data folder
    assert "runtime user app (UID 10001)" in finding.message
    assert "COPY" in finding.evidence
    assert result(report, "IA1205").status is Status.PASS


@builders
def test_update_alone_and_dist_upgrade_from_history(builder: str) -> None:
    report = daemon_report("pb-apt-steps", builder)
    history = report.image.history
    (alone,) = result(report, "IA1402").findings
    assert alone.step is not None and history[alone.step].body.endswith("apt-get update")
    assert alone.evidence == f"history[{alone.step}]: RUN apt-get update"
    (upgrade,) = result(report, "IA1403").findings
    assert upgrade.step is not None
    assert history[upgrade.step].body.endswith("apt-get -y dist-upgrade")
    assert "`apt-get dist-upgrade`" in upgrade.message


@builders
def test_a_dnf_cache_left_in_its_layer(builder: str) -> None:
    report = daemon_report("pb-dnf-cache", builder)
    (finding,) = result(report, "IA902").findings
    assert finding.path == "var/cache/dnf"
    assert finding.layer is not None
    step = report.image.history[report.image.layer(finding.layer).history_index or 0]
    assert step.body.endswith("dnf install -y curl")  # not the step that ran `dnf clean all`
    # the stand-in's metadata (48 KiB) and one package (16 KiB); `dnf clean all` deleted them
    assert finding.evidence.endswith("/var/cache/dnf (2 files, 65.5 kB); 2 of its files deleted "
                                     "by a later layer, bytes still shipped")


@builders
def test_tool_logins_by_what_they_hold(builder: str) -> None:
    report = daemon_report("pb-credentials", builder)
    outcome = result(report, "IA1104")
    assert outcome.status is Status.FAIL
    found = {f.path: f for f in outcome.findings}
    assert set(found) == {"root/.aws/credentials", "root/.docker/config.json",
                          "root/.kube/config"}  # not the config with a region, nor .npmrc
    assert {f.severity for f in found.values()} == {Severity.CRITICAL}
    assert found["root/.aws/credentials"].evidence.endswith("aws_secret_access_key=********")
    assert found["root/.kube/config"].evidence.endswith(
        "token=********; deleted by a later layer but still shipped")
    assert result(report, "IA401").status is Status.PASS  # judged once, by IA1104
    shown = " ".join(f"{s.finding.message} {s.finding.evidence}" for s in report.findings)
    assert not any(fake in shown for fake in FAKES)
    assert report.cap is not None and "IA1104" in report.cap.rules
