"""Helpers for the tests that run against the real engine: the fixture images' Dockerfiles read as
steps, and each fixture audited once per session, from the engine and from its `docker save`
archive. Tests request the `fixture_images` (or `saved_archives`) fixture before calling these,
so that the images exist."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from auditor import audit
from auditor.model.findings import Status
from auditor.model.report import ImageReport, RuleResult
from auditor.sources.engine import Engine
from tests.support.paths import DOCKER, ROOT

IMAGES = ROOT / "fixtures" / "images"
BUILDERS = ("classic", "buildkit")
# Every fixture this suite knows; test_every_fixture_is_covered keeps it in step with the folder.
FIXTURES = (
    "context-copy", "low-port", "many-layers", "missing-user", "multistage", "no-cmd", "no-expose",
    "no-workdir", "npm-cache", "numeric-user", "on-toolchain", "os-cache", "pip-cache-deleted",
    "pip-root-cache", "pip-venv", "root-user", "secrets", "seed", "shell-cmd", "ssh-port",
    "toolchain", "uid0-alias", "user-hardcoded", "zero-log", "zero-log-fixed", "pb-apt-steps",
    "pb-credentials", "pb-dnf-cache", "pb-user-code", "pb-world-writable", "pa-add",
    "pa-empty-password", "pa-healthcheck", "pa-healthcheck-inherited", "pa-healthcheck-none",
    "pa-setuid", "pa-shared-ids", "pa-sudo", "pa-volume",
)


def fixture_tag(name: str, builder: str) -> str:
    return f"imgaudit-fixture/{name}:{builder}"


def dockerfile_steps(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage of a fixture's Dockerfile, FROM included."""
    text = (IMAGES / name / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    steps = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            steps.append((word.upper(), " ".join(rest.split())))
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def base_of(name: str) -> str:
    """The image a fixture's final stage starts FROM."""
    return dockerfile_steps(name)[0][1].split()[0]


def inspect(reference: str) -> dict[str, object]:
    done = subprocess.run([DOCKER, "image", "inspect", reference], capture_output=True,
                          text=True, check=True)
    document: list[dict[str, object]] = json.loads(done.stdout)
    return document[0]


def layer_count(reference: str) -> int:
    rootfs = inspect(reference)["RootFS"]
    assert isinstance(rootfs, dict)
    return len(rootfs["Layers"])


@functools.cache
def daemon_report(name: str, builder: str, content: bool = True) -> ImageReport:
    """The fixture audited from the engine, with the session's layer cache."""
    report = audit([fixture_tag(name, builder)], content=content)
    assert not report.failures, report.failures
    return report.images[0]


@functools.cache
def archive_report(path: Path, content: bool = True) -> ImageReport:
    """A `docker save` archive audited with no layer cache: every layer is read from the file."""
    report = audit([f"docker-archive:{path}"], content=content, use_cache=False)
    assert not report.failures, report.failures
    return report.images[0]


def result(report: ImageReport, rule_id: str) -> RuleResult:
    return next(r for r in report.results if r.rule.id == rule_id)


def statuses(report: ImageReport) -> dict[str, Status]:
    return {r.rule.id: r.status for r in report.results}


def signature(report: ImageReport) -> dict[str, object]:
    """What an audit concluded, without where the image came from: for comparing two sources."""
    image = report.image
    return {
        "score": report.score,
        "grade": report.grade,
        "statuses": statuses(report),
        "findings": sorted(
            (s.rule.id, s.finding.message, s.finding.evidence, s.finding.layer,
             s.finding.origin.value, s.finding.size or 0, s.points)
            for s in report.findings
        ),
        "layers": [(layer.diff_id, layer.origin.value, layer.history_index)
                   for layer in image.layers],
        "history": [(step.instruction, step.body, step.empty_layer, step.layer, step.origin.value)
                    for step in image.history],
        "base": (image.boundary.base_reference, image.boundary.own_from_layer,
                 image.boundary.own_from_history),
    }


class CountingEngine(Engine):
    """The engine, counting what is asked of it: (call, argument) -> times."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[tuple[str, str]] = Counter()

    def inspect(self, ref: str) -> dict[str, Any]:
        self.calls["inspect", ref] += 1
        return super().inspect(ref)

    def history(self, ref: str) -> list[dict[str, Any]]:
        self.calls["history", ref] += 1
        return super().history(ref)

    def image_ids(self) -> list[str]:
        self.calls["image_ids", ""] += 1
        return super().image_ids()
