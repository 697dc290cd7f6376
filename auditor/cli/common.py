"""What every command shares: the typer app, exit codes, one-line errors, the policy-file
options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


def fail(message: str, hint: str = "") -> None:
    """One line on stderr: what went wrong and, when known, what to do."""
    line = f"imgaudit: error: {message}"
    if hint:
        line += f" (hint: {hint})"
    typer.echo(line, err=True)


# Where the policy file is, for every command that reads the policy.
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", metavar="PATH", dir_okay=False,
    help="Read the policy from PATH (a .imgaudit.toml, or a pyproject.toml with a "
    "tool.imgaudit table) instead of searching from the working directory upward.",
)]
NoConfigOption = Annotated[bool, typer.Option(
    "--no-config", help="Read no policy file: built-in defaults and command-line options only.",
)]
