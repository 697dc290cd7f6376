"""The command line: one module per command, each reading options, calling the verbs and
picking the exit code (0 within policy, 1 policy failed, 2 could not audit)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn, Protocol, cast

import typer

# Each command module registers itself on `app`; the list is explicit, never globbed.
from auditor.cli import audit as _audit
from auditor.cli import config as _config
from auditor.cli import diff as _diff
from auditor.cli import fix as _fix
from auditor.cli import plugin as _plugin
from auditor.cli import report as _report
from auditor.cli import rules as _rules
from auditor.cli import sweep as _sweep
from auditor.cli.common import EXIT_ERROR, app, fail, say
from auditor.errors import ImgauditError

__all__ = ["app", "main"]
_COMMANDS = (_audit, _config, _diff, _fix, _plugin, _report, _rules, _sweep)

# What click (typer's own, vendored in newer typer) raises for a command line it cannot parse:
# reached through the public typer.BadParameter rather than a private module path.
_CLICK_ERROR = cast(type[Exception], next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))


class _ClickError(Protocol):
    exit_code: int

    def format_message(self) -> str: ...


def _command_line_error(exc: Exception) -> None:
    """A bad command line (`--fail-under 150`, an unknown option) as one line with a hint,
    like every other error, instead of click's usage block and box."""
    error = cast(_ClickError, exc)
    message = error.format_message()
    if type(exc).__name__ == "NoArgsIsHelpError":  # `imgaudit` alone: the help, as before
        if message:
            typer.echo(message)
        return
    context = getattr(exc, "ctx", None)
    path = getattr(context, "command_path", "") or "imgaudit"
    fail(" ".join(message.split()), f"`{path} --help` lists the options")


def main(args: Sequence[str] | None = None, prog_name: str | None = None) -> NoReturn:
    """Runs the command line (the console script; `docker audit` passes its own words)."""
    try:
        # standalone_mode=False: click returns the exit code, and leaves its errors to us.
        code = app(args=args, prog_name=prog_name, standalone_mode=False)
    except KeyboardInterrupt:
        say("imgaudit: interrupted")
        sys.exit(130)
    except typer.Abort:
        say("imgaudit: aborted")
        sys.exit(EXIT_ERROR)
    except ImgauditError as exc:  # every expected failure: one line, a hint, exit 2
        fail(exc.message, exc.hint)
        sys.exit(EXIT_ERROR)
    except _CLICK_ERROR as exc:
        _command_line_error(exc)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if os.environ.get("IMGAUDIT_DEBUG"):
            traceback.print_exc()
        fail(f"internal error: {type(exc).__name__}: {exc}",
             "set IMGAUDIT_DEBUG=1 for a traceback and report it")
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else 0)
