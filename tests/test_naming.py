"""One reading of image names for waivers, baseline pairing and SARIF locations: the repository
of every transport's reference, keeping the registry host, and the names an image is known by."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.naming import (
    image_names,
    image_repository,
    names,
    platform,
    platform_suffix,
    references,
    repository,
    same_platform,
)
from tests.support.factory import build, good

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("reference", "repo"), [
    ("app", "app"),
    ("app:1", "app"),
    ("org/app:1.4", "org/app"),
    ("ghcr.io/org/app:1.4", "ghcr.io/org/app"),
    ("localhost:5000/app", "localhost:5000/app"),
    ("registry:5000/team/app:42", "registry:5000/team/app"),
    (f"app@{DIGEST}", "app"),
    (f"ghcr.io/org/app@{DIGEST}", "ghcr.io/org/app"),
    (f"ghcr.io/org/app:1.4@{DIGEST}", "ghcr.io/org/app"),
    ("docker.io/library/python:3.12", "python"),
    ("docker.io/bitnami/redis:7", "bitnami/redis"),
    ("docker-daemon:app:1", "app"),
    ("podman:localhost/app:1", "localhost/app"),
    ("docker://ghcr.io/org/app:1.4", "ghcr.io/org/app"),
    ("docker://127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app"),
    (f"docker://ghcr.io/org/app@{DIGEST}", "ghcr.io/org/app"),
    ("docker://ghcr.io/org/app:1.4 (linux/arm64)", "ghcr.io/org/app"),
    ("docker://[::1]:5000/app:1 (linux/arm/v7)", "[::1]:5000/app"),
    ("docker://registry-1.docker.io/library/python:3.12", "registry-1.docker.io/library/python"),
    # an image ID, a file or a folder names no repository
    (DIGEST, ""),
    ("0123456789ab", ""),
    ("docker-archive:/tmp/tmpx1/app.tar", ""),
    ("docker-archive:/tmp/tmpx1/all.tar:app:1", ""),
    ("docker-archive:/tmp/tmpx1/all.tar:@1", ""),
    ("oci:./layout", ""),
    ("oci:./layout:v2", ""),
    ("oci-archive:/tmp/x.tar:app:1", ""),
])
def test_the_repository_of_every_transport(reference: str, repo: str) -> None:
    assert repository(reference) == repo


def test_platform_suffix_only_on_registry_references() -> None:
    assert platform_suffix("docker://reg:5000/app:1 (linux/arm64)") == "linux/arm64"
    assert platform_suffix("docker://reg:5000/app:1 (linux/arm/v7)") == "linux/arm/v7"
    assert platform_suffix("docker://reg:5000/app:1") == ""
    assert platform_suffix("docker-archive:/tmp/my (linux/x).tar") == ""


def test_a_registry_image_is_known_with_its_host_only() -> None:
    known = names("docker://ghcr.io/org/app:1.4 (linux/arm64)", ("ghcr.io/org/app:1.4",))
    assert {"ghcr.io/org/app:1.4", "ghcr.io/org/app"} <= known
    assert "org/app" not in known and "org/app:1.4" not in known
    assert not any("(" in n for n in known - {"docker://ghcr.io/org/app:1.4 (linux/arm64)"})
    pinned = names(f"docker://ghcr.io/org/app@{DIGEST}")
    assert {f"ghcr.io/org/app@{DIGEST}", "ghcr.io/org/app"} <= pinned
    assert "ghcr.io/org/app@sha256" not in pinned


def test_an_archive_is_known_by_its_tags_not_its_path() -> None:
    reference = "oci-archive:/tmp/tmpab/x.tar:app:1"
    known = names(reference, ("docker.io/library/app:1", "1"))
    assert {"docker.io/library/app:1", "app:1", "app"} <= known
    assert "1" not in known  # a bare OCI ref.name is a tag of no particular repository
    assert not {n for n in known if "/tmp/" in n} - {reference}
    assert references(reference, ("1", "latest")) == {reference}


def test_the_image_repository_falls_back_to_its_first_tag() -> None:
    image = build(good().tagged("registry:5000/team/app:7", "other:1"),
                  reference="docker-archive:/tmp/tmpq/app.tar")
    assert image_repository(image) == "registry:5000/team/app"
    assert "registry:5000/team/app" in image_names(image)
    assert image_repository(dataclasses.replace(image, repo_tags=("1",))) == ""


def test_platforms() -> None:
    image = build(good())
    assert platform(dataclasses.replace(image, architecture="arm64")) == "linux/arm64"
    assert platform(dataclasses.replace(image, architecture="")) == ""
    assert same_platform("linux/arm64", "linux/arm64/v8")  # the engine leaves the variant out
    assert same_platform("", "linux/amd64")
    assert not same_platform("linux/arm64", "linux/amd64")
    assert not same_platform("linux/arm/v6", "linux/arm/v7")
    assert not same_platform("windows/amd64", "linux/amd64")
