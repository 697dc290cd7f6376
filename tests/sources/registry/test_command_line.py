"""`imgaudit docker://...` end to end: exit codes, one-line errors with hints, credentials from
--password-stdin and the Docker config, platforms, and no password or token in any output."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error
from tests.support.dockerconfig import docker_config
from tests.support.engine import fixture_tag
from tests.support.factory import good
from tests.support.registry_env import (
    OCI_MANIFEST,
    MultiPlatform,
    Registry,
    UploadedImage,
    canonical,
    descriptor,
    free_port,
    saved,
    sha256,
    upload_fixture,
    upload_spec,
)

pytestmark = pytest.mark.engine


def imgaudit(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, env=env, input=stdin, timeout=300)


@pytest.fixture
def env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The CLI's environment with an empty Docker config of its own."""
    return {**cli_env, "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {}))}


# A config media type that would retitle the terminal and overwrite the line with another.
HOSTILE_TYPE = "x\x1b]0;PWNED\x07\rimgaudit: all good"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def app(scratch_registry: Registry) -> str:
    upload_spec(scratch_registry, "cli/app", "1", good())
    return scratch_registry.target("cli/app", "1")


def test_audit_from_a_registry(app: str, env: dict[str, str]) -> None:
    done = imgaudit(app, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    image = json.loads(done.stdout)["images"][0]
    assert image["reference"] == app
    assert image["repo_tags"] == [app.removeprefix("docker://")]  # HOST:PORT/cli/app:1
    assert image["platform"] == "linux/amd64"
    assert image["digest"].startswith("sha256:") and image["content_read"]
    assert image["compressed_sizes"] is False
    pinned = imgaudit(f"{app.rsplit(':', 1)[0]}@{image['digest']}", "--no-content", env=env)
    assert pinned.returncode == 0, pinned.stderr
    assert "compressed" in pinned.stdout


@pytest.mark.parametrize(
    ("target", "words"),
    [("docker://nginx:1", ("names no registry host", "docker://HOST")),
     ("docker://{host}/cli/app:nosuch", ("has no image cli/app:nosuch", "tags/list")),
     ("docker://{host}/cli/nosuch:1", ("has no image cli/nosuch:1",))],
)
def test_unknown_images_exit_2_with_a_hint(scratch_registry: Registry, app: str,
                                           env: dict[str, str], target: str,
                                           words: tuple[str, ...]) -> None:
    done = imgaudit(target.format(host=scratch_registry.host), env=env)
    assert_one_line_error(done, *words)


def test_a_registry_that_is_down(env: dict[str, str]) -> None:
    done = imgaudit(f"docker://127.0.0.1:{free_port()}/app:1", env=env)
    assert_one_line_error(done, "cannot reach registry", "connection refused")


def test_a_tampered_image_exits_2(fresh_registry: Registry, env: dict[str, str]) -> None:
    image = upload_spec(fresh_registry, "app", "1", good())
    layer = max(image.layers, key=lambda item: item.size)
    path = fresh_registry.blob_file(layer.digest)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01
    path.write_bytes(bytes(data))
    done = imgaudit(f"docker://{image.reference}", env=env)
    assert_one_line_error(done, "digest", "do not trust")
    assert done.stdout.strip() == "" or "score" not in done.stdout.splitlines()[0]


def test_username_and_password_stdin(auth_registry: Registry, private_image: UploadedImage,
                                     env: dict[str, str]) -> None:
    assert auth_registry.auth is not None
    user, password = auth_registry.auth
    target = f"docker://{private_image.reference}"
    done = imgaudit(target, "--username", user, "--password-stdin", env=env,
                    stdin=password + "\n")
    assert done.returncode == 0, done.stderr
    wrong = imgaudit(target, "--username", user, "--password-stdin", env=env,
                     stdin="Wrong-" + password + "\n")
    assert_one_line_error(wrong, "refused the credentials", "docker login")
    anonymous = imgaudit(target, env=env)
    assert_one_line_error(anonymous, "needs credentials")
    for run in (done, wrong, anonymous):
        assert password not in run.stdout + run.stderr


def test_password_stdin_goes_with_username(auth_registry: Registry, private_image: UploadedImage,
                                           env: dict[str, str]) -> None:
    assert auth_registry.password is not None
    done = imgaudit(f"docker://{private_image.reference}", "--password-stdin", env=env,
                    stdin=auth_registry.password)
    assert done.returncode == 2 and "--username" in done.stderr
    assert auth_registry.password not in done.stdout + done.stderr


def test_bearer_with_the_docker_config(token_registry: Registry, token_image: UploadedImage,
                                       env: dict[str, str], tmp_path: Path) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.auth is not None
    user, password = token_registry.auth
    target = f"docker://{token_image.reference}"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    logged_in = {**env, "DOCKER_CONFIG": str(docker_config(
        tmp_path / "logged-in", {"auths": {token_registry.host: {"auth": auth}}}))}
    before = len(server.issued)
    done = imgaudit(target, "--format", "json", env=logged_in)
    assert done.returncode == 0, done.stderr
    assert len(server.issued) > before  # the CLI fetched its own token
    refused = imgaudit(target, env=env)
    assert_one_line_error(refused, "needs credentials", "docker login")
    for run in (done, refused):
        output = run.stdout + run.stderr
        assert password not in output and auth not in output
        assert not any(token in output for token in server.issued)
        assert not any(token.split(".")[2] in output for token in server.issued)


def test_platform_options(multiplatform_image: MultiPlatform, env: dict[str, str],
                          tmp_path: Path) -> None:
    index = f"docker://{multiplatform_image.oci.reference}"
    every = imgaudit(index, "--all-platforms", "--format", "json", env=env)
    assert every.returncode == 0, every.stderr
    document = json.loads(every.stdout)
    images = document["images"]
    assert [i["reference"] for i in images] == [f"{index} (linux/amd64)",
                                                f"{index} (linux/arm64/v8)"]
    assert [i["platform"] for i in images] == ["linux/amd64", "linux/arm64/v8"]
    # Against its own report (images in another order), each platform pairs with its own.
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(dict(document, images=images[::-1])))
    again = imgaudit(index, "--all-platforms", "--baseline", str(baseline), "--fail-on-new",
                     env=env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("±0 vs baseline, 0 new, 0 resolved") == 2, again.stderr
    missing = imgaudit(index, "--platform", "linux/riscv64", env=env)
    assert_one_line_error(missing, "no image for linux/riscv64", "linux/amd64, linux/arm64/v8")
    bad = imgaudit(index, "--platform", "arm64", env=env)
    assert bad.returncode == 2 and "not a platform" in bad.stderr


def test_registry_text_reaches_the_terminal_escaped(scratch_registry: Registry, app: str,
                                                    env: dict[str, str]) -> None:
    """An artifact whose config media type carries escape sequences: the error quotes it with
    every control character escaped, and the other target is still reported."""
    api = scratch_registry.api
    config = b"{}"
    api.upload_blob("cli/hostile", config)
    body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor(HOSTILE_TYPE, config), "layers": []})
    api.put_manifest("cli/hostile", "1", body, OCI_MANIFEST)
    done = imgaudit(scratch_registry.target("cli/hostile", "1"), app, "--format", "json",
                    env=env)
    assert_one_line_error(done, "not a container image", "x\\x1b]0;PWNED\\x07\\x0dimgaudit")
    assert not CONTROL.search(done.stderr), repr(done.stderr)
    assert [i["reference"] for i in json.loads(done.stdout)["images"]] == [app]


@pytest.mark.parametrize("mode", [(), ("--no-content",)])
def test_a_digest_imgaudit_cannot_check_is_one_error_and_the_others_are_reported(
        scratch_registry: Registry, app: str, fixture_images: list[str], env: dict[str, str],
        mode: tuple[str, ...]) -> None:
    """A config whose last diff_id is `md5:0123`: refused before any layer is read, as one
    line with a hint, and the other target's report is still written."""
    source = fixture_tag("root-user", "buildkit")
    diff_ids = [sha256(layer) for layer in saved(source).layers]
    upload_fixture(scratch_registry, "cli/md5", "1", source,
                   config_fields={"rootfs": {"type": "layers",
                                             "diff_ids": [*diff_ids[:-1], "md5:0123"]}})
    done = imgaudit(scratch_registry.target("cli/md5", "1"), app, *mode, "--format", "json",
                    env=env)
    assert_one_line_error(done, "cli/md5", f"diff_id of layer {len(diff_ids)} by 'md5:0123'",
                          "not a digest imgaudit can check", "sha256")
    assert "internal error" not in done.stderr
    assert [i["reference"] for i in json.loads(done.stdout)["images"]] == [app]
