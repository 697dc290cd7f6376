"""OCI and Docker documents as every source reads them: platforms and which index entry fits one,
the entries of an index (attestations left out, digests checked), and the config's shape."""

from __future__ import annotations

import pytest

from auditor.errors import UnsupportedManifest, UsageError
from auditor.sources.documents import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    Platform,
    best_match,
    entries,
    host_platform,
    image_entries,
    tolerant_config,
)

AMD64 = "sha256:" + "a" * 64
ARM64 = "sha256:" + "b" * 64
ARM_V7 = "sha256:" + "c" * 64
ATTESTATION = "sha256:" + "d" * 64


def platform(os: str, architecture: str, variant: str = "") -> dict[str, str]:
    found = {"os": os, "architecture": architecture}
    return {**found, "variant": variant} if variant else found


INDEX = {"mediaType": OCI_INDEX, "manifests": [
    {"mediaType": DOCKER_MANIFEST, "digest": AMD64, "platform": platform("linux", "amd64")},
    {"mediaType": DOCKER_MANIFEST, "digest": ARM64, "platform": platform("linux", "arm64", "v8")},
    {"mediaType": OCI_INDEX, "digest": ARM_V7, "platform": platform("linux", "arm", "v7")},
    {"mediaType": DOCKER_MANIFEST, "digest": ATTESTATION,
     "platform": platform("unknown", "unknown"),
     "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
    {"mediaType": DOCKER_MANIFEST},  # names no digest
    "not an object",
]}


def test_platform_parsing() -> None:
    assert Platform.parse("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert Platform.parse(" LINUX/ARM64 ") == Platform("linux", "arm64")
    assert str(Platform("linux", "arm64", "v8")) == "linux/arm64/v8"
    assert Platform("linux", "arm64").matches(Platform("linux", "arm64", "v8"))
    assert Platform("linux", "arm64", "v8").matches(Platform("linux", "arm64"))
    assert not Platform("linux", "arm", "v7").matches(Platform("linux", "arm", "v6"))
    for bad in ("linux", "linux/", "a/b/c/d"):
        with pytest.raises(UsageError, match="not a platform") as caught:
            Platform.parse(bad)
        assert "OS/ARCH[/VARIANT]" in caught.value.hint


def test_host_platform_is_named_as_images_name_it() -> None:
    here = host_platform()
    assert here.os == "linux"
    assert here.architecture in ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64")


def test_entries_are_every_digest_an_index_names() -> None:
    listed = entries(INDEX)
    assert [entry.digest for entry in listed] == [AMD64, ARM64, ARM_V7, ATTESTATION]
    assert [entry.is_index for entry in listed] == [False, False, True, False]
    assert listed[3].is_attestation and not any(entry.is_attestation for entry in listed[:3])
    assert str(listed[2].platform) == "linux/arm/v7"


def test_image_entries_leave_out_attestations() -> None:
    assert [entry.digest for entry in image_entries(INDEX)] == [AMD64, ARM64, ARM_V7]
    unknown = {"manifests": [{"digest": AMD64, "platform": platform("unknown", "unknown")}]}
    assert image_entries(unknown) == []


def test_image_entries_refuse_a_digest_imgaudit_cannot_check() -> None:
    bad = {"manifests": [{"digest": AMD64, "platform": platform("linux", "amd64")},
                         {"digest": "md5:1", "platform": platform("linux", "arm64")}]}
    with pytest.raises(UnsupportedManifest, match="an index names its manifest 2 by 'md5:1'"):
        image_entries(bad)
    assert [entry.digest for entry in entries(bad)] == [AMD64, "md5:1"]  # listing checks nothing


def test_names_come_from_the_annotations() -> None:
    (entry,) = entries({"manifests": [{"digest": AMD64, "annotations": {
        "io.containerd.image.name": "docker.io/library/app:1",
        "org.opencontainers.image.ref.name": "1"}}]})
    assert entry.names == ("docker.io/library/app:1", "1")


@pytest.mark.parametrize(("wanted", "digest"), [
    ("linux/amd64", AMD64),
    ("linux/arm64", ARM64),
    ("linux/arm64/v8", ARM64),
    ("linux/arm/v7", ARM_V7),
    ("linux/arm", ARM_V7),
    ("linux/s390x", None),
    ("windows/amd64", None),
])
def test_best_match(wanted: str, digest: str | None) -> None:
    found = best_match(image_entries(INDEX), Platform.parse(wanted))
    assert [entry.digest for entry in found] == ([digest] if digest else [])


def test_best_match_prefers_the_exact_variant_then_the_default() -> None:
    index = {"manifests": [
        {"digest": ARM_V7, "platform": platform("linux", "arm", "v6")},
        {"digest": ARM64, "platform": platform("linux", "arm")},
        {"digest": AMD64, "platform": platform("linux", "arm", "v7")},
    ]}
    listed = image_entries(index)
    assert [e.digest for e in best_match(listed, Platform("linux", "arm", "v7"))] == [AMD64]
    assert [e.digest for e in best_match(listed, Platform("linux", "arm"))] == [ARM64]
    assert [e.digest for e in best_match(listed, Platform("linux", "arm", "v6"))] == [ARM_V7]


def test_no_platform_wanted_means_this_machine() -> None:
    here = host_platform()
    index = {"manifests": [
        {"digest": ATTESTATION, "platform": platform("linux", "mips64le")},
        {"digest": AMD64, "platform": platform(here.os, here.architecture, here.variant)},
    ]}
    assert [entry.digest for entry in best_match(image_entries(index), None)] == [AMD64]


@pytest.mark.parametrize(("document", "expected"), [
    ({"rootfs": {}}, {"rootfs": {}}),
    ({"history": None}, {"history": None}),
    ({"history": [None, {"created_by": "RUN x"}]}, {"history": [{}, {"created_by": "RUN x"}]}),
    ({"history": "odd"}, {"history": []}),
    ([], None),
    ("text", None),
])
def test_tolerant_config(document: object, expected: object) -> None:
    assert tolerant_config(document) == expected
