"""The image waiver label on real builds, with both builders: a label inherited from a base image
waives nothing in the images built on it; one the image's own Dockerfile sets is honoured. The
images are built in a temporary folder from the busybox fixture base and removed afterwards."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import audit
from auditor.model.findings import Status
from auditor.model.report import ImageReport
from tests.support.cli import imgaudit
from tests.support.engine import BUILDERS, fixture_tag, result
from tests.support.paths import DOCKER

pytestmark = pytest.mark.engine
builders = pytest.mark.parametrize("builder", BUILDERS)
WAIVE = "io.imgaudit.waive"
TOKEN = "ghp_" + "a1B2c3D4e5" * 4  # shaped like a GitHub token, not one
BUSYBOX = "imgaudit-fixture/busybox-base:1"


def build(folder: Path, tag: str, dockerfile: str, builder: str, *options: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    env = {"DOCKER_BUILDKIT": "1" if builder == "buildkit" else "0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([DOCKER, "build", "--network", "none", "-q", "-t", tag, *options,
                           str(folder)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return tag


@pytest.fixture(scope="module")
def images(fixture_images: list[str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, str]]:
    """Per builder: `base` (sets the label), `derived` (FROM base, adds a token), `own` (sets the
    label itself) and `flag` (the label given with `docker build --label`)."""
    assert fixture_tag("seed", "classic") in fixture_images  # the busybox base is built
    repo = f"imgaudit-test/waiver-label-{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("waiver-label")
    made: dict[str, str] = {}
    try:
        for builder in BUILDERS:
            base = build(folder / f"base-{builder}", f"{repo}:base-{builder}",
                         f'FROM {BUSYBOX}\nLABEL {WAIVE}="IA1101: vendor says fine; '
                         'IA201: vendor says fine"\n', builder)
            made[f"base-{builder}"] = base
            made[f"derived-{builder}"] = build(
                folder / f"derived-{builder}", f"{repo}:derived-{builder}",
                f"FROM {base}\nENV GITHUB_TOKEN={TOKEN}\n", builder)
            made[f"own-{builder}"] = build(
                folder / f"own-{builder}", f"{repo}:own-{builder}",
                f'FROM {BUSYBOX}\nENV GITHUB_TOKEN={TOKEN}\n'
                f'LABEL {WAIVE}="IA1101: a dummy token of the test suite"\n', builder)
            made[f"flag-{builder}"] = build(
                folder / f"flag-{builder}", f"{repo}:flag-{builder}",
                f"FROM {BUSYBOX}\nENV GITHUB_TOKEN={TOKEN}\n", builder,
                "--label", f"{WAIVE}=IA1101: a dummy token of the test suite")
        yield made
    finally:
        if made:
            subprocess.run([DOCKER, "rmi", *reversed(made.values())], capture_output=True)


def audited(reference: str) -> ImageReport:
    report = audit([reference], content=False)
    assert not report.failures, report.failures
    return report.images[0]


@builders
def test_a_label_inherited_from_the_base_waives_nothing(builder: str, images: dict[str, str],
                                                        cli_env: dict[str, str]) -> None:
    base = audited(images[f"base-{builder}"])
    assert result(base, "IA201").status is Status.IGNORED  # the base's own label: honoured
    derived = audited(images[f"derived-{builder}"])
    assert derived.image.config.labels[WAIVE]  # inherited
    assert derived.image.boundary.base_reference == images[f"base-{builder}"]
    assert result(derived, "IA1101").status is Status.FAIL
    assert result(derived, "IA201").status is Status.FAIL
    assert any("not honoured: the base image set it" in n for n in derived.notices)
    done = imgaudit(images[f"derived-{builder}"], "--no-content", "--fail-on", "high",
                    env=cli_env)
    assert done.returncode == 1, done.stderr
    assert "the base image set it" in done.stderr and TOKEN not in done.stdout + done.stderr


@builders
def test_a_label_the_own_dockerfile_sets_is_honoured(builder: str,
                                                     images: dict[str, str]) -> None:
    own = audited(images[f"own-{builder}"])
    assert result(own, "IA1101").status is Status.IGNORED
    assert "a dummy token of the test suite" in result(own, "IA1101").note


@builders
def test_a_build_option_label_is_honoured_only_when_history_records_it(
        builder: str, images: dict[str, str]) -> None:
    flagged = audited(images[f"flag-{builder}"])
    assert flagged.image.config.labels[WAIVE]
    if builder == "classic":  # the classic builder records `--label` as a LABEL step
        assert result(flagged, "IA1101").status is Status.IGNORED
    else:  # BuildKit leaves no step: it cannot be told from an inherited label
        assert result(flagged, "IA1101").status is Status.FAIL
        assert any("no LABEL step of this image's own build" in n for n in flagged.notices)
