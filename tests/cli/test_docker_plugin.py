"""docker's global options, as the docker client passes them to the plugin, turned into the
DOCKER_* settings imgaudit's engine client reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli.docker_plugin import DockerGlobals, engine_environment, split_globals
from auditor.errors import UsageError


@pytest.mark.parametrize(("argv", "host"), [
    (["audit", "app:1"], None),
    (["-H", "tcp://h:2375", "audit", "app:1"], "tcp://h:2375"),
    (["--host=tcp://h:2375", "audit", "app:1"], "tcp://h:2375"),
    (["-Htcp://h:2375", "audit", "app:1"], "tcp://h:2375"),
    (["-l", "debug", "-D", "--host", "unix:///x.sock", "audit", "app:1"], "unix:///x.sock"),
])
def test_split_globals(argv: list[str], host: str | None) -> None:
    parsed, rest = split_globals(argv)
    assert rest == ["audit", "app:1"]
    assert parsed.host == host
    assert list(parsed.tokens) == argv[: len(argv) - 2]


def test_split_globals_keeps_options_after_the_plugin_name() -> None:
    parsed, rest = split_globals(["--debug", "audit", "-H", "x", "--format", "json"])
    assert parsed.debug and parsed.host is None
    assert rest == ["audit", "-H", "x", "--format", "json"]


@pytest.mark.parametrize("argv", [["--bogus", "audit"], ["-H"], ["--unknown=1", "audit"]])
def test_split_globals_rejects(argv: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        split_globals(argv)
    assert caught.value.hint


def test_host_and_tls_flags_become_environment(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    parsed, _ = split_globals([
        "-H", "tcp://remote:2376", "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"),
        "--tlscert", str(tmp_path / "cert.pem"), "--tlskey", str(tmp_path / "key.pem"), "audit",
    ])
    env = engine_environment(parsed, {})
    assert env == {"DOCKER_HOST": "tcp://remote:2376", "DOCKER_TLS_VERIFY": "1",
                   "DOCKER_CERT_PATH": str(tmp_path.resolve())}


def test_tls_files_must_share_docker_names(tmp_path: Path) -> None:
    parsed, _ = split_globals(["--tlsverify", "--tlscacert", str(tmp_path / "my-ca.crt"),
                               "audit"])
    with pytest.raises(UsageError, match=r"ca\.pem"):
        engine_environment(parsed, {})


def test_tlsverify_defaults_to_the_config_folder(tmp_path: Path) -> None:
    parsed, _ = split_globals(["--config", str(tmp_path), "--tlsverify", "audit"])
    env = engine_environment(parsed, {})
    assert env["DOCKER_CERT_PATH"] == str(tmp_path)  # docker's default, not the SDK's ~/.docker
    assert env["DOCKER_CONFIG"] == str(tmp_path)


def test_environment_left_alone_without_options(tmp_path: Path) -> None:
    # DOCKER_HOST and friends reach the plugin as they are; nothing to add.
    assert engine_environment(DockerGlobals(), {"DOCKER_HOST": "tcp://h:1",
                                                "DOCKER_CONFIG": str(tmp_path)}) == {}


def test_default_context_in_config_asks_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    # ORIGINAL_CLI pointing nowhere: any attempt to run it would fail the test.
    env = engine_environment(DockerGlobals(), {
        "DOCKER_CONFIG": str(tmp_path),
        "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND": str(tmp_path / "no-docker")})
    assert env == {}


def test_unreadable_context_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "elsewhere"}))
    with pytest.raises(UsageError, match="context") as caught:
        engine_environment(DockerGlobals(), {
            "DOCKER_CONFIG": str(tmp_path),
            "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND": str(tmp_path / "no-docker")})
    assert "docker context ls" in caught.value.hint
