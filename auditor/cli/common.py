"""What every command shares: the typer app, exit codes, one-line errors, size parsing."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperGroup

EXIT_OK, EXIT_POLICY, EXIT_ERROR = 0, 1, 2

_COMPLETION_OPTIONS = ("--install-completion", "--show-completion")
_GROUP_OPTIONS = ("--help", "-h", *_COMPLETION_OPTIONS)


class _DefaultToAudit(TyperGroup):
    """`imgaudit IMAGE...` means `imgaudit audit IMAGE...`; subcommands keep their names."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        group_only = all(a in _GROUP_OPTIONS for a in args)
        # `--show-completion bash` names a shell, not an image.
        completion = bool(args) and args[0].partition("=")[0] in _COMPLETION_OPTIONS
        if args and not group_only and not completion and (
            first is None or first not in self.commands
        ):
            args = ["audit", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultToAudit,
    help="Audit built container images against ten Dockerfile best practices.\n\n"
    "imgaudit IMAGE... is short for imgaudit audit IMAGE...",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'400MB', '1.5G', '512MiB' or a byte count."""
    match = _SIZE.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size (try 400MB or 1.5GB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    power = " kmgt".index(unit.lower() or " ")
    return int(float(number) * base**power)


def fail(message: str, hint: str = "") -> None:
    """One line on stderr: what went wrong and, when known, what to do."""
    line = f"imgaudit: error: {message}"
    if hint:
        line += f" (hint: {hint})"
    typer.echo(line, err=True)
