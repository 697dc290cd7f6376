"""Credentials and challenges without a registry: the Docker config (`auths`, `credHelpers`,
`credsStore` through a real `docker-credential-*` program on PATH), WWW-Authenticate parsing, and
that no secret ever shows in a repr or a message."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from auditor.errors import RegistryError
from auditor.sources.registry.auth import (
    ANONYMOUS,
    Authenticator,
    Challenge,
    Credentials,
    from_docker_config,
    parse_challenges,
)
from tests.support.dockerconfig import credential_helper, docker_config

SECRET = "s3cret-Pa55-9xq"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ----------------------------------------------------------------------------- challenges


def test_bearer_challenge() -> None:
    header = ('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
              'scope="repository:team/app:pull"')
    assert parse_challenges(header) == (
        Challenge("bearer", {"realm": "https://auth.example.com/token",
                             "service": "registry.example.com",
                             "scope": "repository:team/app:pull"}),
    )


def test_several_challenges_quoting_and_spaces() -> None:
    header = ('Basic realm="Registry Realm", Bearer realm="https://a/t", '
              'error="insufficient_scope" , scope="repository:a:pull,push", '
              'title="say \\"hi\\""')
    basic, bearer = parse_challenges(header)
    assert basic == Challenge("basic", {"realm": "Registry Realm"})
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://a/t", "error": "insufficient_scope",
                             "scope": "repository:a:pull,push", "title": 'say "hi"'}


@pytest.mark.parametrize(
    ("header", "expected"),
    [("", ()), ("Basic", (Challenge("basic"),)),
     ("BASIC realm=unquoted", (Challenge("basic", {"realm": "unquoted"}),))],
)
def test_odd_challenges(header: str, expected: tuple[Challenge, ...]) -> None:
    assert parse_challenges(header) == expected


# ----------------------------------------------------------------------------- Docker config


def test_no_config_is_anonymous(tmp_path: Path) -> None:
    assert from_docker_config("reg.io", tmp_path) is ANONYMOUS


@pytest.mark.parametrize("key", ["reg.io:5000", "https://reg.io:5000", "http://reg.io:5000/v1/",
                                 "REG.io:5000"])
def test_auths_base64_under_any_key_form(tmp_path: Path, key: str) -> None:
    config = docker_config(tmp_path, {"auths": {key: {"auth": b64(f"ann:{SECRET}")},
                                                "other.io": {"auth": b64("bob:x")}}})
    found = from_docker_config("reg.io:5000", config)
    assert (found.username, found.password) == ("ann", SECRET)
    assert str(config) in found.source


def test_auths_username_password_and_identity_token(tmp_path: Path) -> None:
    config = docker_config(tmp_path, {"auths": {
        "a.io": {"username": "ann", "password": SECRET},
        "b.io": {"auth": b64("<token>:"), "identitytoken": SECRET},
        "c.io": {},
    }})
    assert from_docker_config("a.io", config).password == SECRET
    token = from_docker_config("b.io", config)
    assert token.identity_token == SECRET and not token.anonymous
    assert from_docker_config("c.io", config).anonymous


def test_docker_hub_aliases(tmp_path: Path) -> None:
    config = docker_config(tmp_path, {"auths": {"https://index.docker.io/v1/": {
        "auth": b64(f"ann:{SECRET}")}}})
    assert from_docker_config("registry-1.docker.io", config).password == SECRET


def test_docker_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = docker_config(tmp_path / "elsewhere", {"auths": {"a.io": {"auth": b64("u:p")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    assert from_docker_config("a.io").password == "p"


@pytest.mark.parametrize("content", ["{not json", '{"auths": {"a.io": {"auth": "!!notb64"}}}'])
def test_a_broken_config_is_an_error_that_shows_no_secret(tmp_path: Path, content: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(RegistryError) as caught:
        from_docker_config("a.io", tmp_path)
    assert caught.value.hint
    assert "!!notb64" not in caught.value.message


@pytest.fixture
def helper_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real docker-credential-test on PATH holding a password for a.io and a token for b.io."""
    folder = tmp_path / "bin"
    credential_helper(folder, "test", {"a.io": ("ann", SECRET), "b.io": ("<token>", SECRET)})
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    return folder


def test_cred_helpers_name_a_helper_per_host(tmp_path: Path, helper_path: Path) -> None:
    config = docker_config(tmp_path / "cfg", {"credHelpers": {"a.io": "test", "b.io": "test"},
                                              "auths": {"a.io": {"auth": b64("zed:other")}}})
    found = from_docker_config("a.io", config)
    assert (found.username, found.password) == ("ann", SECRET)  # the helper wins over auths
    assert "docker-credential-test" in found.source
    token = from_docker_config("b.io", config)
    assert token.identity_token == SECRET and not token.password


def test_creds_store_then_auths(tmp_path: Path, helper_path: Path) -> None:
    config = docker_config(tmp_path / "cfg", {"credsStore": "test",
                                              "auths": {"c.io": {"auth": b64("cat:meow")}}})
    assert from_docker_config("a.io", config).password == SECRET
    # the store holds nothing for c.io: the auths entry answers; for d.io nothing does
    assert from_docker_config("c.io", config).password == "meow"
    assert from_docker_config("d.io", config).anonymous


def test_a_missing_helper_is_named(tmp_path: Path) -> None:
    config = docker_config(tmp_path, {"credsStore": "nosuch-imgaudit"})
    with pytest.raises(RegistryError) as caught:
        from_docker_config("a.io", config)
    assert "docker-credential-nosuch-imgaudit" in caught.value.message
    assert "not on PATH" in caught.value.message
    assert "--password-stdin" in caught.value.hint


def test_a_failing_helper_output_is_not_shown(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    program = folder / "docker-credential-leaky"
    program.write_text(f"#!/bin/sh\necho 'error: token {SECRET} expired'\nexit 3\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    config = docker_config(tmp_path / "cfg", {"credHelpers": {"a.io": "leaky"}})
    with pytest.raises(RegistryError) as caught:
        from_docker_config("a.io", config)
    assert "exit status 3" in caught.value.message
    assert SECRET not in f"{caught.value.message} {caught.value.hint}"


def test_secrets_stay_out_of_repr_and_refusals() -> None:
    credentials = Credentials("ann", SECRET, SECRET, source="--username")
    assert SECRET not in repr(credentials)
    refusal = Authenticator("reg.io", credentials).refused("refused the credentials")
    assert SECRET not in f"{refusal.message} {refusal.hint}"
    assert "reg.io" in refusal.message and "--username" in refusal.message
    assert "docker login reg.io" in refusal.hint


def test_basic_header() -> None:
    assert Credentials("ann", "pw").basic() == "Basic " + b64("ann:pw")
