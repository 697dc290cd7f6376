"""Practice 14: ADD where COPY would do (IA1401), from the history of the image's own steps in
either builder's wording, on in-memory images."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.model.findings import Severity, Status
from tests.support.factory import (
    ImageSpec,
    buildkit,
    check,
    copy,
    directory,
    file,
    good,
    report,
)

HEX = "4b1be1de1a1e5aa608c688cad2824587262081866180b7e7e0b6ee3a9d6a4e43"


def test_a_base_image_that_starts_with_add_is_never_blamed() -> None:
    result = check(good(), "IA1401")  # the base's first step is `ADD file:... in /`
    assert result.status is Status.PASS
    assert result.note == "no ADD in the image's own steps"


def test_a_root_filesystem_add_of_an_image_without_a_known_base_is_not_blamed() -> None:
    spec = ImageSpec(base=(), own=(copy(f"file:{HEX} in / ", directory("etc"),
                                        file("etc/os-release", "ID=x\n"), file("bin/sh"),
                                        instruction="ADD"),))
    item = report(spec)
    assert item.image.boundary.method == "none"
    result = next(r for r in item.results if r.rule.id == "IA1401")
    assert result.status is Status.PASS
    assert result.note == f"history[0]: ADD file:{HEX} in /: a root filesystem"


@pytest.mark.parametrize(("body", "what"), [
    (f"file:{HEX} in /myapp/app.conf", "ADD of a file from the build context into /myapp/app.conf"),
    (f"dir:{HEX} in ./static/", "ADD of a directory from the build context into ./static/"),
    (f"multi:{HEX} in ./", "ADD of several sources from the build context into ./"),
])
def test_classic_add_of_local_files_is_low(body: str, what: str) -> None:
    result = check(good().adding(copy(body, file("myapp/app.conf"), instruction="ADD")), "IA1401")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.message == f"{what}: COPY would do"
    assert finding.step == 12 and finding.evidence.startswith("history[12]: ADD ")


def test_classic_add_of_a_url_is_medium() -> None:
    # the classic builder records a download by the bare hash of its content
    result = check(good().adding(copy(f"{HEX} in /opt/tool.txt ", file("opt/tool.txt"),
                                      instruction="ADD")), "IA1401")
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message.startswith("ADD downloads a URL into /opt/tool.txt without a checksum")


def test_classic_add_that_unpacked_an_archive_is_legitimate() -> None:
    step = copy(f"file:{HEX} in /opt/ ", directory("opt/vendor"), file("opt/vendor/VERSION"),
                file("opt/vendor/lib/helper.sh"), instruction="ADD")
    result = check(good().adding(step), "IA1401")
    assert result.status is Status.PASS
    assert result.note.endswith("unpacked an archive (2 files from one source)")


@pytest.mark.parametrize(("line", "severity", "message"), [
    ("ADD app.conf ./", Severity.LOW, "ADD of app.conf: COPY does the same"),
    ("ADD --chown=1000:1000 static/ ./static/", Severity.LOW, "ADD of static/: COPY"),
    ('ADD ["app.conf", "./"]', Severity.LOW, "ADD of app.conf: COPY"),
    ("ADD vendor.tar.gz app.conf /opt/", Severity.LOW, "ADD of app.conf: COPY"),
    ("ADD https://example.com/tool-1.2.tar.gz /opt/", Severity.MEDIUM,
     "ADD downloads https://example.com/tool-1.2.tar.gz without --checksum"),
    ("ADD git@github.com:org/repo.git /src", Severity.MEDIUM, "ADD downloads git@github.com"),
])
def test_buildkit_add_is_judged_by_its_sources(line: str, severity: Severity,
                                               message: str) -> None:
    result = check(good().adding(buildkit(f"{line} # buildkit", file("opt/x"))), "IA1401")
    (finding,) = result.findings
    assert finding.severity is severity and finding.message.startswith(message)


@pytest.mark.parametrize("line", [
    "ADD vendor.tar.gz /opt/",
    "ADD --chown=1000 rootfs.tar.xz /",
    "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d "
    "https://example.com/tool.tgz /opt/",
])
def test_legitimate_buildkit_adds_pass(line: str) -> None:
    result = check(good().adding(buildkit(f"{line} # buildkit", file("opt/x"))), "IA1401")
    assert result.status is Status.PASS
    assert result.note.startswith("history[12]: ADD ")


def test_a_url_with_credentials_is_masked() -> None:
    line = "ADD https://user:hunter2-secret@example.com/tool /opt/ # buildkit"
    (finding,) = check(good().adding(buildkit(line, file("opt/tool"))), "IA1401").findings
    assert "hunter2-secret" not in f"{finding.message} {finding.evidence}"


def test_no_history_is_not_applicable() -> None:
    result = check(dataclasses.replace(good(), history=[]), "IA1401")
    assert result.status is Status.SKIP
    assert result.note.startswith("the image has no history")


def test_an_add_body_nested_past_the_json_parser_is_judged_as_words() -> None:
    line = "ADD " + "[" * 5000 + "app.conf /opt/"
    result = check(good().adding(buildkit(f"{line} # buildkit", file("opt/x"))), "IA1401")
    assert result.status is not Status.ERROR, result.note
