"""The command line: one module per command, each reading options, calling the verbs and
picking the exit code (0 within policy, 1 policy failed, 2 could not audit)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import typer

# Each command module registers itself on `app`; the list is explicit, never globbed.
from auditor.cli import audit as _audit
from auditor.cli import config as _config
from auditor.cli import diff as _diff
from auditor.cli import plugin as _plugin
from auditor.cli import report as _report
from auditor.cli import rules as _rules
from auditor.cli import sweep as _sweep
from auditor.cli.common import EXIT_ERROR, app, fail
from auditor.errors import UsageError

__all__ = ["app", "main"]
_COMMANDS = (_audit, _config, _diff, _plugin, _report, _rules, _sweep)


def main(args: Sequence[str] | None = None, prog_name: str | None = None) -> None:
    """Runs the command line (the console script; `docker audit` passes its own words)."""
    try:
        app(args=args, prog_name=prog_name)
    except KeyboardInterrupt:
        typer.echo("imgaudit: interrupted", err=True)
        sys.exit(130)
    except UsageError as exc:
        fail(exc.message, exc.hint)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if os.environ.get("IMGAUDIT_DEBUG"):
            traceback.print_exc()
        fail(f"internal error: {type(exc).__name__}: {exc}",
             "set IMGAUDIT_DEBUG=1 for a traceback and report it")
        sys.exit(EXIT_ERROR)
