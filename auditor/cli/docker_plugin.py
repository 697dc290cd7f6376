"""Running as `docker audit`, the Docker CLI plugin: the metadata answer, docker's global options
turned into the engine settings imgaudit reads, and the dispatch to the same commands."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.version import __version__

NAME = "audit"
METADATA_COMMAND = "docker-cli-plugin-metadata"
COMPLETE_COMMAND = "__complete"  # cobra's protocol: newer docker clients delegate <TAB> to us
SHORT_DESCRIPTION = "Audit a built image against ten Dockerfile practices"
# Set by the docker client to the command it was started as (docker/cli manager.ReexecEnvvar).
ORIGINAL_CLI = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"
# Set by docker >= 25: the client closes it to ask the plugin to stop (docker/cli socket.EnvKey).
CLI_SOCKET = "DOCKER_CLI_PLUGIN_SOCKET"

# docker's global options (`docker --help`), those that take a value and those that do not.
_VALUED = {"--config": "config", "-c": "context", "--context": "context", "-H": "host",
           "--host": "host", "-l": "log_level", "--log-level": "log_level",
           "--tlscacert": "tlscacert", "--tlscert": "tlscert", "--tlskey": "tlskey"}
_SWITCHES = {"-D": "debug", "--debug": "debug", "--tls": "tls", "--tlsverify": "tlsverify"}
_TLS_FILES = {"tlscacert": "ca.pem", "tlscert": "cert.pem", "tlskey": "key.pem"}


def metadata() -> dict[str, str]:
    """What `docker-audit docker-cli-plugin-metadata` answers (docker/cli manager.Metadata)."""
    return {"SchemaVersion": "0.1.0", "Vendor": "imgaudit", "Version": __version__,
            "ShortDescription": SHORT_DESCRIPTION}


@dataclass(frozen=True, slots=True)
class DockerGlobals:
    """The global options docker passed before the plugin's name, as given and as parsed."""

    tokens: tuple[str, ...] = ()
    config: str | None = None
    context: str | None = None
    host: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    debug: bool = False


def split_globals(argv: Sequence[str]) -> tuple[DockerGlobals, list[str]]:
    """`[GLOBAL OPTIONS] audit ARGS...` -> (the globals, `audit ARGS...`)."""
    values: dict[str, Any] = {}
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "-":
        token = argv[index]
        option, has_value, value = token.partition("=")
        if option in _SWITCHES:
            setting: str | bool = not has_value or value.lower() in ("1", "true")
            field = _SWITCHES[option]
        elif option in _VALUED:
            if not has_value:
                index += 1
                if index == len(argv):
                    raise UsageError(f"docker option {option} needs a value",
                                     "run `docker --help` for docker's global options")
                value = argv[index]
            setting, field = value, _VALUED[option]
        elif token[:2] in _VALUED:  # -Htcp://host:2376
            setting, field = token[2:], _VALUED[token[:2]]
        else:
            raise UsageError(f"unknown docker option {token} before {NAME!r}",
                             "run `docker --help` for docker's global options")
        if field != "log_level":
            values[field] = setting
        index += 1
    return DockerGlobals(tokens=tuple(argv[:index]), **values), list(argv[index:])


def engine_environment(globals_: DockerGlobals, environ: Mapping[str, str]) -> dict[str, str]:
    """The DOCKER_* variables that make imgaudit reach the engine this docker command would."""
    env: dict[str, str] = {}
    config_dir = globals_.config or environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    if globals_.config:
        env["DOCKER_CONFIG"] = globals_.config
    if globals_.debug:
        env["IMGAUDIT_DEBUG"] = "1"
    context = _context_name(globals_, environ, config_dir)
    if context not in (None, "default"):
        env.update(_context_endpoint(globals_, environ))
        return env
    if globals_.host:
        env["DOCKER_HOST"] = globals_.host
    cert_dir = _cert_dir(globals_)
    if cert_dir:
        env["DOCKER_CERT_PATH"] = cert_dir
    elif (globals_.tls or globals_.tlsverify) and not environ.get("DOCKER_CERT_PATH"):
        env["DOCKER_CERT_PATH"] = config_dir  # docker's default; the SDK's is ~/.docker
    if globals_.tlsverify:
        env["DOCKER_TLS_VERIFY"] = "1"
    elif globals_.tls:
        env["DOCKER_TLS_VERIFY"] = ""  # the SDK: TLS from DOCKER_CERT_PATH, not verified
    return env


def _cert_dir(globals_: DockerGlobals) -> str | None:
    given = {key: getattr(globals_, key) for key in _TLS_FILES if getattr(globals_, key)}
    if not given:
        return None
    folders = {str(Path(path).expanduser().resolve().parent) for path in given.values()}
    if len(folders) > 1 or any(Path(p).name != _TLS_FILES[k] for k, p in given.items()):
        raise UsageError(
            "docker audit reads the TLS files from one folder, named ca.pem, cert.pem, key.pem",
            "put them in one folder and pass it as DOCKER_CERT_PATH instead of --tlscacert, "
            "--tlscert and --tlskey",
        )
    return folders.pop()


def _context_name(globals_: DockerGlobals, environ: Mapping[str, str], config_dir: str
                  ) -> str | None:
    # The docker CLI's order: --context, then -H or DOCKER_HOST, DOCKER_CONTEXT, config.json.
    if globals_.context:
        return globals_.context
    if globals_.host or environ.get("DOCKER_HOST"):
        return None
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"]
    try:
        config = json.loads((Path(config_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = config.get("currentContext") if isinstance(config, dict) else None
    return current if isinstance(current, str) and current else None


def _context_endpoint(globals_: DockerGlobals, environ: Mapping[str, str]) -> dict[str, str]:
    """Asks the docker client that started us, with the same global options, where its
    current context points; contexts are docker's own store, so docker reads them."""
    command = [environ.get(ORIGINAL_CLI) or "docker", *globals_.tokens,
               "context", "inspect", "--format", "{{json .}}"]
    hint = "check the context with `docker context ls`, or set DOCKER_HOST"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot ask {command[0]} for its context: {exc}", hint) from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise UsageError(f"cannot read the docker context: {reason}", hint)
    try:
        context = json.loads(done.stdout)
        endpoint = context["Endpoints"]["docker"]
        host = endpoint["Host"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError("docker context inspect answered something unexpected", hint) from exc
    env = {"DOCKER_HOST": host}
    tls = Path(str(context.get("Storage", {}).get("TLSPath", ""))) / "docker"
    if (tls / "ca.pem").is_file() or (tls / "cert.pem").is_file():
        env["DOCKER_CERT_PATH"] = str(tls)
        env["DOCKER_TLS_VERIFY"] = "" if endpoint.get("SkipTLSVerify") else "1"
    return env


def _watch_cli_socket(environ: Mapping[str, str]) -> None:
    """docker >= 25 closes this socket when it is told to stop and cannot pass the signal on
    (no terminal): then stop as on Ctrl-C, as plugins built with docker's own library do."""
    address = environ.get(CLI_SOCKET)
    if not address:
        return
    path = "\0" + address[1:] if address.startswith("@") else address  # abstract socket
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return

    def wait() -> None:
        with contextlib.suppress(OSError):
            while conn.recv(64):
                pass
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=wait, name="docker-cli-socket", daemon=True).start()


def _complete(words: list[str]) -> None:
    """cobra's `__complete audit ARGS... INCOMPLETE`: our own completions, one a line, then
    the directive (4: no file completion; 0: the shell's default, files)."""
    from typer.main import get_command

    from auditor.cli.common import app

    variable = "_DOCKER_AUDIT_COMPLETE"
    os.environ.update({variable: "complete_bash", "COMP_WORDS": shlex.join(["docker", *words]),
                       "COMP_CWORD": str(len(words))})
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        get_command(app).main(args=[], prog_name="docker", complete_var=variable)
    found = [line for line in out.getvalue().splitlines() if line]
    sys.stdout.write("".join(f"{line}\n" for line in found) + (":4\n" if found else ":0\n"))


def run(argv: Sequence[str]) -> None:
    """The plugin's entry point: `docker-audit [GLOBAL OPTIONS] audit ARGS...`."""
    # Imported here: auditor.cli imports every command, and this module is imported by one.
    from auditor.cli import main
    from auditor.cli.common import EXIT_ERROR, fail

    if list(argv[:1]) == [METADATA_COMMAND]:
        print(json.dumps(metadata()))
        return
    if list(argv[:2]) == [COMPLETE_COMMAND, NAME]:
        _complete(list(argv[1:]))
        return
    if list(argv[:2]) == ["help", NAME]:  # `docker help audit`
        main(["audit", "--help"], prog_name="docker")
    try:
        globals_, rest = split_globals(argv)
        if rest[:1] != [NAME]:
            raise UsageError(
                f"docker-audit is a Docker CLI plugin and expects {NAME!r} after docker's "
                f"options, not {shlex.join(rest) or 'nothing'}",
                "run it as `docker audit IMAGE...`, or run `imgaudit IMAGE...` directly",
            )
        os.environ.update(engine_environment(globals_, os.environ))
    except UsageError as exc:
        fail(exc.message, exc.hint)
        sys.exit(EXIT_ERROR)
    _watch_cli_socket(os.environ)
    args = rest[1:]
    commands = set(_command_names()) - {NAME}
    if not args:
        main(["audit", "--help"], prog_name="docker")
    elif args[0] in commands:  # `docker audit rules`: imgaudit's other commands
        main(args, prog_name=f"docker {NAME}")
    else:
        main(["audit", *args], prog_name="docker")


def _command_names() -> list[str]:
    from typer.main import get_command

    from auditor.cli.common import app

    group = get_command(app)
    return list(getattr(group, "commands", {}))
