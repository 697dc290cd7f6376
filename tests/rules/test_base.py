"""Practice 1: image size (IA101), a heavy base (IA102), build toolchains left in (IA103)."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from auditor.model.policy import Limits, Policy
from tests.support.factory import (
    APK_INSTALLED,
    ImageSpec,
    base_steps,
    check,
    file,
    good,
    nop,
    run,
    whiteout,
)


def limits(**values: int) -> Policy:
    return Policy(limits=Limits(**values))


def test_a_small_image_on_a_light_base_passes() -> None:
    assert check(good(), "IA101").status is Status.PASS
    base = check(good(), "IA102")
    assert base.status is Status.PASS
    assert base.note == "the base image (Alpine Linux v3.19): 285 B in 2 layers"
    assert check(good(), "IA103").status is Status.PASS


def test_an_image_over_the_size_limit() -> None:
    result = check(good(), "IA101", limits(max_size=500))
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "image is 542 B, over the 500 B limit"
    assert finding.evidence == "size 542 B in 6 layers"
    assert finding.origin is Origin.OWN


def test_own_layers_over_their_limit_name_the_largest() -> None:
    spec = good().adding(run("make", file("myapp/blob", size=5000)))
    result = check(spec, "IA101", limits(max_own_size=1000))
    (finding,) = result.findings
    assert finding.message == "the image's own layers add 5.3 kB, over the 1.0 kB limit"
    assert finding.evidence == "largest: layer 7 (history[12]: RUN make), 5.0 kB"
    assert finding.layer == 7


def test_a_heavy_base() -> None:
    result = check(good(), "IA102", limits(max_base_size=100))
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.message == ("the base image (Alpine Linux v3.19) is 285 B, over the 100 B "
                               "limit for a base")
    assert finding.origin is Origin.OWN  # choosing the base is the image's own decision
    assert finding.layer == 2


def test_a_named_base_is_named() -> None:
    spec = good().configured(Labels={"org.opencontainers.image.base.name": "python:3.9-alpine"})
    (finding,) = check(spec, "IA102", limits(max_base_size=100)).findings
    assert finding.message.startswith("python:3.9-alpine (Alpine Linux v3.19) is 285 B")


def test_no_known_base_is_not_applicable() -> None:
    result = check(ImageSpec(history=[]), "IA102")
    assert result.status is Status.SKIP
    assert result.note == "no base image identified (Alpine Linux v3.19)"


def test_from_scratch() -> None:
    own = (nop('CMD ["true"]'), run("copy app", file("app", size=10)))
    result = check(ImageSpec(base=(), own=own, tail=()), "IA102")
    assert result.status is Status.PASS and result.note == "FROM scratch or an empty base"


@pytest.mark.parametrize("path", ["usr/bin/gcc", "usr/bin/gcc-12", "usr/local/bin/make",
                                  "usr/bin/cc", "usr/local/go/bin/go",
                                  "usr/lib/gcc/x86_64-linux-gnu/12/cc1"])
def test_a_toolchain_the_image_installed(path: str) -> None:
    spec = good().adding(run("apt-get install -y build-essential", file(path, size=10)))
    result = check(spec, "IA103")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "1 build tool left in the image, from the image own layers"
    assert f"/{path}" in finding.evidence and finding.layer == 7


def test_dev_packages_of_dpkg_and_apk() -> None:
    spec = good().adding(run(
        "install headers",
        file("var/lib/dpkg/info/libssl-dev:amd64.list", "/usr/include/openssl\n"),
        file("lib/apk/db/installed", APK_INSTALLED + "\nP:musl-dev\nV:1\n\nP:make\nV:4\n"),
    ))
    (finding,) = check(spec, "IA103").findings
    assert finding.message.startswith("3 build tools")
    assert "libssl-dev (package)" in finding.evidence
    assert "make (apk package)" in finding.evidence and "musl-dev (apk package)" in finding.evidence


def test_a_toolchain_removed_in_a_later_layer_is_gone() -> None:
    spec = good().adding(run("apt-get install -y gcc", file("usr/bin/gcc", size=10)),
                         run("apt-get purge -y gcc", whiteout("usr/bin/gcc")))
    assert check(spec, "IA103").status is Status.PASS


def test_a_toolchain_of_the_base_is_shown_not_scored() -> None:
    base = (run("apk add gcc", file("usr/bin/gcc", size=10)), *base_steps())
    result = check(ImageSpec(base=base), "IA103")
    assert result.status is Status.PASS
    (finding,) = result.base_findings
    assert finding.message.endswith("from the base image") and finding.origin is Origin.BASE


def test_without_layer_contents() -> None:
    assert check(good(), "IA103", content=False).status is Status.SKIP
    metadata = check(good(), "IA102", content=False)
    assert metadata.status is Status.PASS and "Alpine" not in metadata.note
    assert check(good(), "IA101", content=False).status is Status.PASS
