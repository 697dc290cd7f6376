"""`imgaudit install-docker-plugin` and `uninstall-docker-plugin`: the `docker-audit` launcher
that makes `docker audit IMAGE` run this imgaudit, in this Python."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from auditor.cli.common import EXIT_ERROR, app, fail
from auditor.cli.docker_plugin import METADATA_COMMAND, NAME, metadata
from auditor.version import __version__

FILE_NAME = f"docker-{NAME}"
MARKER = "# docker-audit: the imgaudit Docker CLI plugin"
# Where docker looks besides its config folder (docker/cli manager_unix.go).
SYSTEM_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")

# The metadata is answered by the shell, without starting Python: docker asks every plugin for
# it on `docker --help`, `docker info` and before each run. The command drops sys.path's
# empty entry (the working folder) so a folder named `auditor` there cannot stand in.
_SCRIPT = """\
#!/bin/sh
{marker}, written by `imgaudit install-docker-plugin`.
# It runs imgaudit {version} in the Python below; install it again (--force) after moving,
# upgrading or recreating that environment.
if [ "$1" = {metadata_command} ]; then
    printf '%s\\n' {metadata}
    exit 0
fi
python={python}
if [ ! -x "$python" ]; then
    echo "docker-audit: $python is gone; reinstall with: imgaudit install-docker-plugin --force" >&2
    exit 2
fi
exec "$python" -c {code} "$@"
"""
_CODE = ("import sys; sys.path = [p for p in sys.path if p]; "
         "from auditor.cli.docker_plugin import run; run(sys.argv[1:])")


def plugin_script(python: str) -> str:
    """The launcher's text: a POSIX shell script that runs `python`'s imgaudit as the plugin."""
    return _SCRIPT.format(
        marker=MARKER, version=__version__, metadata_command=METADATA_COMMAND,
        metadata=shlex.quote(json.dumps(metadata())), python=shlex.quote(python),
        code=shlex.quote(_CODE),
    )


def config_plugin_dir() -> Path:
    """docker's per-user plugin folder: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins."""
    config = os.environ.get("DOCKER_CONFIG")
    return (Path(config).expanduser() if config else Path.home() / ".docker") / "cli-plugins"


def _searched_by_docker(folder: Path) -> bool:
    searched = {config_plugin_dir(), *map(Path, SYSTEM_DIRS)}
    try:  # docker >= 25 also reads "cliPluginsExtraDirs" from config.json
        config = json.loads((config_plugin_dir().parent / "config.json").read_text("utf-8"))
        searched.update(Path(d) for d in config.get("cliPluginsExtraDirs") or ())
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return folder.resolve() in {p.expanduser().resolve() for p in searched}


def _is_ours(target: Path) -> bool:
    try:
        with target.open("rb") as handle:
            return MARKER.encode() in handle.read(512)
    except OSError:
        return False


_DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="Plugin folder (default: $DOCKER_CONFIG/cli-plugins, else "
    "~/.docker/cli-plugins).", metavar="DIR", file_okay=False,
)]


@app.command("install-docker-plugin")
def install_docker_plugin(
    directory: _DirOption = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a docker-audit that is already there.")] = False,
) -> None:
    """Install `docker audit` (a Docker CLI plugin) that runs this imgaudit."""
    if os.name == "nt":
        fail("the Docker CLI plugin is installed on Linux and macOS only",
             "run imgaudit IMAGE directly")
        raise typer.Exit(EXIT_ERROR)
    folder = (directory or config_plugin_dir()).expanduser()
    target = folder / FILE_NAME
    script = plugin_script(sys.executable)
    if target.is_dir():
        fail(f"{target} is a folder", "remove it, or choose another folder with --dir")
        raise typer.Exit(EXIT_ERROR)
    if target.exists() or target.is_symlink():
        try:
            same = target.read_text(encoding="utf-8") == script
        except (OSError, UnicodeDecodeError):
            same = False
        if same:
            typer.echo(f"docker audit is already installed: {target}")
            return
        if not force:
            what = "an older imgaudit plugin" if _is_ours(target) else "a file of another tool"
            fail(f"{target} already exists ({what})", "pass --force to replace it")
            raise typer.Exit(EXIT_ERROR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=folder, prefix=f".{FILE_NAME}.", delete=False
        ) as handle:
            handle.write(script)
        os.chmod(handle.name, 0o755)
        os.replace(handle.name, target)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}",
             "choose a folder you can write with --dir, or check its permissions")
        raise typer.Exit(EXIT_ERROR) from None
    _check(target)
    typer.echo(f"installed {target}\n  runs imgaudit {__version__} with {sys.executable}\n"
               f"  try: docker {NAME} IMAGE   (docker {NAME} --help for the options)")
    if not _searched_by_docker(folder):
        typer.echo(f"  note: docker does not look in {folder}; add it to \"cliPluginsExtraDirs\" "
                   f"in {config_plugin_dir().parent / 'config.json'} (docker 25 or later)")


def _check(target: Path) -> None:
    """Runs the launcher once, from another folder, as docker would run `docker audit version`."""
    # A DOCKER_HOST spares the launcher from asking docker for its context: `version` needs none.
    env = dict(os.environ, DOCKER_HOST=os.environ.get("DOCKER_HOST") or "unix:///dev/null")
    try:
        done = subprocess.run([str(target), NAME, "version"], capture_output=True, text=True,
                              cwd=tempfile.gettempdir(), env=env, timeout=120, check=False)
        ok = done.returncode == 0 and __version__ in done.stdout
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
    except (OSError, subprocess.SubprocessError) as exc:
        ok, reason = False, str(exc)
    if not ok:
        target.unlink(missing_ok=True)
        fail(f"the plugin did not start ({reason}); removed {target}",
             "install imgaudit into this Python (pip install) rather than running it from "
             "a source folder")
        raise typer.Exit(EXIT_ERROR)


@app.command("uninstall-docker-plugin")
def uninstall_docker_plugin(directory: _DirOption = None) -> None:
    """Remove the `docker audit` plugin that install-docker-plugin wrote."""
    target = (directory or config_plugin_dir()).expanduser() / FILE_NAME
    if not (target.exists() or target.is_symlink()):
        typer.echo(f"no {FILE_NAME} in {target.parent}; nothing to remove")
        return
    if not _is_ours(target):
        fail(f"{target} was not written by imgaudit; left in place",
             "remove it by hand if you mean to")
        raise typer.Exit(EXIT_ERROR)
    try:
        target.unlink()
    except OSError as exc:
        fail(f"cannot remove {target}: {exc.strerror or exc}", "check the folder's permissions")
        raise typer.Exit(EXIT_ERROR) from None
    typer.echo(f"removed {target}")
