"""Podman as an engine, against a real `podman system service`: a fixture image loaded into podman
audits as it does in the Docker engine (apart from what the two engines legitimately say
differently), podman's export reads as a `docker save` archive, and the engine is found, or
missed in one line, as README's "podman" section says."""

from __future__ import annotations

import json
import socket
import tarfile
import threading
from pathlib import Path
from typing import Any

import docker
import pytest

from auditor.sources.daemon import history_from_api
from auditor.sources.engine import Engine
from auditor.sources.sockets import (
    DOCKER_SOCKET,
    PODMAN_SOCKET,
    Endpoint,
    Engines,
    candidates,
    probe,
)
from tests.support.archives import SavedArchives, config_of
from tests.support.cli import imgaudit
from tests.support.engine import BUILDERS, fixture_tag
from tests.support.podman import COMPARED, PREFIX, PodmanService, can_isolate, isolated

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
needs_namespace = pytest.mark.skipif(not can_isolate(),
                                     reason="needs root and unshare for a mount namespace")


def in_podman(env: dict[str, str], service: PodmanService, cache: Path) -> dict[str, str]:
    """The environment for an audit through podman with a layer cache of its own: nothing it
    reports comes from what the Docker engine's audit cached."""
    return dict(env, CONTAINER_HOST=service.url, IMGAUDIT_CACHE_DIR=str(cache))


def json_report(target: str, env: dict[str, str]) -> dict[str, Any]:
    done = imgaudit("audit", target, "--format", "json", env=env)
    assert done.returncode in (0, 1), done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    assert not document["errors"], document["errors"]
    images: list[dict[str, Any]] = document["images"]
    (image,) = images
    return image


def layer_tar_bytes(archive: Path) -> int:
    """The bytes of every layer tar in a `docker save` archive (each counted once)."""
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        layers = json.load(manifest)[0]["Layers"]
        return sum(tar.getmember(layer).size for layer in layers if tar.getmember(layer).isfile())


def without_engine_words(image: dict[str, Any]) -> dict[str, Any]:
    """The report without the fields that depend on which engine holds the image: its names,
    which a test checks on its own, and its size with the note that quotes it (see
    test_sizes_are_counted_as_each_engine_counts_them)."""
    kept = {key: value for key, value in image.items()
            if key not in ("reference", "repo_tags", "size")}
    kept["rules"] = [dict(r, note=None) if r["id"] == "IA101" else r for r in image["rules"]]
    text = json.dumps(kept).replace(PREFIX, "imgaudit-fixture/")
    normal: dict[str, Any] = json.loads(text)
    return normal


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", COMPARED)
def test_podman_audits_as_docker_does(podman_loaded: PodmanService, cli_env: dict[str, str],
                                      tmp_path: Path, name: str, builder: str) -> None:
    """The same image in both engines, each read through its export: the same report, but for
    the names each engine gives it and the size each counts."""
    tag = fixture_tag(name, builder)
    name_in_podman = podman_loaded.load(tag)
    docker = json_report(tag, cli_env)
    podman_image = json_report(f"podman:{name_in_podman}",
                               in_podman(cli_env, podman_loaded, tmp_path / "podman-cache"))
    assert podman_image["reference"] == name_in_podman
    assert podman_image["repo_tags"] == [name_in_podman]
    assert podman_image["id"] == docker["id"]
    assert without_engine_words(podman_image) == without_engine_words(docker)


@pytest.mark.parametrize("builder", BUILDERS)
def test_sizes_are_counted_as_each_engine_counts_them(
        podman_loaded: PodmanService, saved_archives: SavedArchives, cli_env: dict[str, str],
        tmp_path: Path, builder: str) -> None:
    """Docker counts the bytes of the files in each layer; podman the bytes of each layer's tar
    (headers and padding too) and of the image's config and manifest. imgaudit reports the
    size its engine gives."""
    tag = fixture_tag("pip-root-cache", builder)
    tars = layer_tar_bytes(saved_archives[tag])
    docker = json_report(tag, cli_env)["size"]
    podman_size = json_report(f"podman:{podman_loaded.load(tag)}",
                              in_podman(cli_env, podman_loaded, tmp_path / "podman-cache"))["size"]
    assert docker < tars < podman_size < tars + (1 << 16)


def test_podman_export_reads_as_docker_save(
        podman_loaded: PodmanService, saved_archives: SavedArchives, cli_env: dict[str, str],
        tmp_path: Path) -> None:
    """Podman's `GET /images/{name}/get` (what `docker save` asks of an engine) writes the layer
    tars under their diff IDs with the legacy folders as symlinks: it audits as Docker's own
    `docker save` archive does."""
    tag = fixture_tag("pip-cache-deleted", "buildkit")
    exported = tmp_path / "podman.tar"
    client = docker.DockerClient(base_url=podman_loaded.url)
    with exported.open("wb") as out:
        for chunk in client.api.get_image(podman_loaded.load(tag)):
            out.write(chunk)
    from_podman = json_report(f"docker-archive:{exported}",
                              dict(cli_env, IMGAUDIT_CACHE_DIR=str(tmp_path / "podman-cache")))
    from_docker = json_report(f"docker-archive:{saved_archives[tag]}", cli_env)
    assert from_podman.pop("repo_tags") == [podman_loaded.load(tag)]
    assert from_docker.pop("repo_tags") == [tag]
    assert without_engine_words(from_podman) == without_engine_words(from_docker)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", ("secrets", "many-layers", "uid0-alias", "seed"))
def test_podmans_history_tells_which_steps_made_layers(
        podman_loaded: PodmanService, saved_archives: SavedArchives,
        monkeypatch: pytest.MonkeyPatch, name: str, builder: str) -> None:
    """Podman gives each layer's size as its tar's, never 0: the steps that made layers are
    certain from its history alone, where Docker's (a RUN that changed nothing counts 0 bytes)
    leaves the classic builder's images to a guess, and the config must be read."""
    tag = fixture_tag(name, builder)
    config = config_of(saved_archives[tag])
    monkeypatch.setenv("CONTAINER_HOST", podman_loaded.url)
    api = Engine(engines=Engines.PODMAN).history(podman_loaded.load(tag))
    history, certain = history_from_api(api, len(config["rootfs"]["diff_ids"]))
    assert certain
    assert [step["empty_layer"] for step in history] == [
        bool(step.get("empty_layer")) for step in config["history"]]


# ------------------------------------------------------------------ which engine is talked to


def test_candidates_in_order() -> None:
    runtime = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    rootless = "unix:///run/user/1000/podman/podman.sock"
    assert candidates(Engines.ANY, runtime) == (DOCKER_SOCKET, rootless, PODMAN_SOCKET)
    assert candidates(Engines.PODMAN, runtime) == (rootless, PODMAN_SOCKET)
    assert candidates(Engines.ANY, {}) == (DOCKER_SOCKET, PODMAN_SOCKET)
    # a named engine is the only one tried; a relative runtime folder is no folder
    assert candidates(Engines.ANY, dict(runtime, DOCKER_HOST="tcp://h:1")) == ("tcp://h:1",)
    assert candidates(Engines.PODMAN, dict(runtime, CONTAINER_HOST="unix:///p.sock",
                                           DOCKER_HOST="tcp://h:1")) == ("unix:///p.sock",)
    assert candidates(Engines.PODMAN, {"XDG_RUNTIME_DIR": "run"}) == (PODMAN_SOCKET,)
    assert candidates(Engines.ANY, {"XDG_RUNTIME_DIR": "/run/"}) == (DOCKER_SOCKET, PODMAN_SOCKET)


def test_an_answering_docker_engine_comes_first(
        podman_loaded: PodmanService, cli_env: dict[str, str], tmp_path: Path) -> None:
    """Podman answers at $XDG_RUNTIME_DIR/podman/podman.sock, and yet the Docker engine at
    /var/run/docker.sock is asked: an image only podman holds is not found."""
    name = podman_loaded.load(fixture_tag("seed", "buildkit"))
    env = unnamed(cli_env, runtime_with_podman(tmp_path, podman_loaded.socket))
    done = imgaudit("audit", name, env=env)
    assert done.returncode == 2
    assert f"no image named {name} in the Docker engine" in done.stderr


@needs_namespace
@pytest.mark.parametrize("where", ("XDG_RUNTIME_DIR", "/run/podman"))
def test_podman_is_found_when_no_docker_engine_answers(
        podman_loaded: PodmanService, cli_env: dict[str, str], tmp_path: Path, where: str) -> None:
    name = podman_loaded.load(fixture_tag("seed", "buildkit"))
    if where == "XDG_RUNTIME_DIR":
        done = isolated(["audit", name, "--format", "json"],
                        unnamed(cli_env, runtime_with_podman(tmp_path, podman_loaded.socket)))
    else:  # podman's rootful socket, after a runtime folder where podman does not answer
        dead = runtime_with_podman(tmp_path, tmp_path / "nothing.sock")
        done = isolated(["audit", name, "--format", "json"], unnamed(cli_env, dead),
                        podman_socket=podman_loaded.socket)
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["images"][0]["repo_tags"] == [name]


@needs_namespace
def test_no_engine_answering_is_one_line_naming_what_was_tried(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    done = isolated(["audit", "app:1"], unnamed(cli_env, runtime))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert (f"app:1: no container engine answers: tried {DOCKER_SOCKET} (no such file or "
            f"directory), unix://{runtime}/podman/podman.sock (no such file or directory), "
            f"{PODMAN_SOCKET} (no such file or directory)") in done.stderr
    assert "podman system service" in done.stderr and "DOCKER_HOST" in done.stderr
    done = isolated(["audit", "podman:app:1"], unnamed(cli_env, runtime))
    assert done.returncode == 2
    assert f"app:1: podman does not answer: tried unix://{runtime}/podman" in done.stderr
    assert "CONTAINER_HOST" in done.stderr


def test_engines_are_named_explicitly(podman_loaded: PodmanService,
                                      cli_env: dict[str, str]) -> None:
    """DOCKER_HOST may name podman's socket, for any target; CONTAINER_HOST names podman for
    podman: targets, and a podman that does not answer there is not looked for elsewhere."""
    name = podman_loaded.load(fixture_tag("seed", "buildkit"))
    done = imgaudit("audit", name, "--format", "json",
                    env=dict(cli_env, DOCKER_HOST=podman_loaded.url))
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["images"][0]["repo_tags"] == [name]
    nowhere = "unix:///nonexistent/podman.sock"
    done = imgaudit("audit", f"podman:{name}", env=dict(cli_env, CONTAINER_HOST=nowhere))
    assert done.returncode == 2
    assert f"cannot reach podman at {nowhere} (no such file or directory)" in done.stderr
    assert "podman system service" in done.stderr
    done = imgaudit("audit", "podman:localhost/ia-podman/none:1",
                    env=dict(cli_env, CONTAINER_HOST=podman_loaded.url))
    assert done.returncode == 2
    assert "no image named localhost/ia-podman/none:1 in podman" in done.stderr
    assert "podman images" in done.stderr


def test_a_probe_tells_podman_from_docker_and_from_what_is_no_engine(
        podman_loaded: PodmanService, tmp_path: Path) -> None:
    assert probe(podman_loaded.url, Engines.ANY) == Endpoint(podman_loaded.url, "podman")
    if Path(DOCKER_SOCKET.removeprefix("unix://")).is_socket():
        assert probe(DOCKER_SOCKET, Engines.PODMAN) == Endpoint(DOCKER_SOCKET, "the Docker engine")
    plain = tmp_path / "plain.sock"
    plain.write_bytes(b"")
    with pytest.raises(ConnectionRefusedError):
        probe(f"unix://{plain}", Engines.ANY)
    silent = socket.socket(socket.AF_UNIX)  # listens, never accepts: no reply
    silent.bind(str(tmp_path / "silent.sock"))
    silent.listen()
    with silent, pytest.raises(TimeoutError):
        probe(f"unix://{tmp_path / 'silent.sock'}", Engines.ANY, timeout=0.2)
    assert probe("tcp://127.0.0.1:1", Engines.ANY) == Endpoint("tcp://127.0.0.1:1",
                                                               "the Docker engine")


def test_a_reply_that_is_no_engines_is_no_engine(tmp_path: Path) -> None:
    path = tmp_path / "web.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def reply() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")

    answering = threading.Thread(target=reply)
    answering.start()
    with server, pytest.raises(OSError, match="not an engine's reply"):
        probe(f"unix://{path}", Engines.ANY)
    answering.join()


def unnamed(env: dict[str, str], runtime: Path) -> dict[str, str]:
    """`env` naming no engine, with `runtime` as XDG_RUNTIME_DIR."""
    kept = {k: v for k, v in env.items() if k not in ("DOCKER_HOST", "CONTAINER_HOST")}
    return dict(kept, XDG_RUNTIME_DIR=str(runtime))


def runtime_with_podman(tmp_path: Path, socket_path: Path) -> Path:
    """A runtime folder whose podman/podman.sock leads to `socket_path`."""
    runtime = tmp_path / "runtime"
    (runtime / "podman").mkdir(parents=True)
    (runtime / "podman" / "podman.sock").symlink_to(socket_path)
    return runtime
