"""docker:// references: the host is always named, the tag defaults to latest, and anything else is
one clear error with a hint."""

from __future__ import annotations

import pytest

from auditor.errors import InvalidReference
from auditor.sources.documents import Digest
from auditor.sources.registry.reference import (
    RegistryReference,
    is_loopback,
    parse_host,
    parse_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker://127.0.0.1:5000/app", RegistryReference("127.0.0.1:5000", "app", "latest")),
        ("docker://registry.example.com/team/sub/app:1.2-rc_3",
         RegistryReference("registry.example.com", "team/sub/app", "1.2-rc_3")),
        (f"docker://localhost/app@{DIGEST}", RegistryReference("localhost", "app", "", DIGEST)),
        (f"docker://reg.io:443/a/b:v1@{DIGEST}", RegistryReference("reg.io:443", "a/b", "v1",
                                                                   DIGEST)),
        ("docker://[::1]:5000/x/y:z", RegistryReference("[::1]:5000", "x/y", "z")),
        ("Registry.Example.COM/my.app/web__api:Latest",
         RegistryReference("registry.example.com", "my.app/web__api", "Latest")),
    ],
)
def test_references_parse(text: str, expected: RegistryReference) -> None:
    assert parse_reference(text) == expected


def test_reference_names() -> None:
    tagged = parse_reference("docker://reg.io:5000/team/app:1")
    assert (tagged.reference, tagged.name, str(tagged)) == ("1", "team/app:1",
                                                            "reg.io:5000/team/app:1")
    pinned = parse_reference(f"docker://reg.io/app@{DIGEST}")
    assert (str(pinned.reference), pinned.name, str(pinned)) == (DIGEST, f"app@{DIGEST}",
                                                                 f"reg.io/app@{DIGEST}")
    assert isinstance(pinned.reference, Digest)  # a digest reaches the URL parsed
    assert parse_reference(tagged.target) == tagged
    assert tagged.with_digest(DIGEST).target == f"docker://reg.io:5000/team/app:1@{DIGEST}"
    both = parse_reference(f"docker://reg.io/app:1@{DIGEST}")
    assert str(both.reference) == DIGEST  # the digest wins, as in Docker
    assert both.name == "app:1"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("docker://app:1", ("names no registry host",)),
        ("docker://library/nginx", ("names no registry host",)),
        ("docker://reg.io", ("names no registry host",)),
        ("docker://reg.io/", ("not a repository name",)),
        ("docker://reg.io/App", ("not a repository name",)),
        ("docker://reg.io/app/:1", ("not a repository name",)),
        ("docker://reg.io/app:-x", ("not a tag",)),
        ("docker://reg.io/app@sha256:abc", ("not a digest",)),
        ("docker://reg.io:99999/app", ("not a registry host",)),
        ("docker://bad_host.io/app", ("not a registry host",)),
    ],
)
def test_bad_references_say_why_with_a_hint(text: str, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_reference(text)
    assert all(word in caught.value.message for word in words), caught.value.message
    assert caught.value.hint
    assert "\n" not in caught.value.message


def test_a_missing_host_hints_at_the_full_form() -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_reference("docker://nginx:1")
    assert "docker://HOST" in caught.value.hint
    assert "registry-1.docker.io" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "host"),
    [("reg.io:5000", "reg.io:5000"), ("docker://Reg.IO/", "reg.io"),
     ("https://reg.io", "reg.io"), ("[::1]:5000", "[::1]:5000"), ("localhost", "localhost")],
)
def test_hosts(text: str, host: str) -> None:
    assert parse_host(text) == host


@pytest.mark.parametrize("text", ["", "reg.io/app", "reg.io:0", "a b", "-reg.io"])
def test_bad_hosts(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_host(text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1:5000", True), ("127.9.8.7", True), ("localhost:80", True),
     ("LOCALHOST", True), ("[::1]:5000", True), ("10.0.0.1:5000", False),
     ("registry.example.com", False), ("128.0.0.1", False), ("localhost.example.com", False)],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
