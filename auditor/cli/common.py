"""What every command shares: the typer app, exit codes, one-line errors, and the options of
the policy and of reading images, declared once for audit, diff and config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from auditor.config.settings import BY_KEY, SETTINGS
from auditor.text import printable

if TYPE_CHECKING:
    from auditor.dockerfile import DockerfileChoice
    from auditor.model.report import ImageReport, Report
    from auditor.sources.registry import RegistryOptions

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


def report_problems(report: Report) -> bool:
    """An error line for each failure and each rule that crashed; whether there was any (the
    command then exits 2). Images that failed alike (an engine that is down) share one line."""
    from auditor.assess import rule_errors

    alike: dict[tuple[str, str], list[str]] = {}
    for failure in report.failures:
        alike.setdefault((failure.message, failure.hint), []).append(failure.reference)
    for (message, hint), references in alike.items():
        fail(f"{', '.join(dict.fromkeys(references))}: {message}", hint)
    errors = rule_errors(report)
    for line in errors:
        fail(line, "this is a bug in imgaudit; please report it")
    return bool(report.failures or errors)


def fail(message: str, hint: str = "") -> None:
    """One line on stderr: what went wrong and, when known, what to do (control characters
    escaped: a message may quote what a registry or an image supplied)."""
    line = f"imgaudit: error: {printable(message)}"
    if hint:
        line += f" (hint: {printable(hint)})"
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


# The policy's options, each declared with its setting in auditor.config.settings; None means
# "not given", so the policy file's value stands.
def _policy_option(key: str) -> Any:
    setting = BY_KEY[key]
    option = setting.option
    assert option is not None, f"the {key} setting has no command-line option"
    return typer.Option(*option.names, metavar=option.metavar, min=option.min, max=option.max,
                        help=setting.option_help, show_default=option.show_default)


FailUnderOption = Annotated[int | None, _policy_option("fail-under")]
FailOnOption = Annotated[str | None, _policy_option("fail-on")]
IgnoreOption = Annotated[list[str] | None, _policy_option("rules.disable")]
ScoreBaseOption = Annotated[bool | None, _policy_option("score-base")]
MaxSizeOption = Annotated[str | None, _policy_option("max-size")]
MaxOwnSizeOption = Annotated[str | None, _policy_option("max-own-size")]
MaxBaseSizeOption = Annotated[str | None, _policy_option("max-base-size")]
MaxLayersOption = Annotated[int | None, _policy_option("max-layers")]
FailOnNewOption = Annotated[bool | None, _policy_option("fail-on-new")]
ReadOption = Annotated[str | None, _policy_option("read")]
_SETTING_OF = {s.option.parameter: s.key for s in SETTINGS if s.option is not None}


def policy_overrides(**given: object) -> dict[str, object]:
    """The policy options given on the command line, by parameter name (`max_size=...`), keyed
    as in the policy file."""
    return {_SETTING_OF[parameter]: value for parameter, value in given.items()}


# How images are read.
NoContentOption = Annotated[bool, typer.Option(
    "--no-content", help="Read metadata only; skip checks that need layer contents.")]
BaseOption = Annotated[str | None, typer.Option(
    metavar="REF", help="The base image (its layers must begin the image's); default: found "
    "from local images, labels or history.")]
NoCacheOption = Annotated[bool, typer.Option(
    "--no-cache", help="Neither read nor write the per-layer analysis cache.")]


# Which Dockerfile findings are located on.
DockerfileOption = Annotated[Path | None, typer.Option(
    "--dockerfile", metavar="PATH", dir_okay=False,
    help="The Dockerfile the image was built from: when its steps match the image's history, "
    "each finding names the line to fix (SARIF, annotations, every format); when not, a "
    "warning, and findings keep their image locations. Default: ./Dockerfile, used only when "
    "it matches.")]
NoDockerfileOption = Annotated[bool, typer.Option(
    "--no-dockerfile", help="Do not look for ./Dockerfile: locate findings on no Dockerfile.")]


def dockerfile_choice(path: Path | None, no_dockerfile: bool) -> DockerfileChoice | None:
    """The Dockerfile named with --dockerfile (DockerfileError when it cannot be read), else
    ./Dockerfile when there is one that reads, unless --no-dockerfile."""
    from auditor.dockerfile import find_dockerfile, open_dockerfile
    from auditor.errors import UsageError

    if path is not None and no_dockerfile:
        raise UsageError("--dockerfile and --no-dockerfile exclude each other",
                         hint="give one of them")
    if path is not None:
        return open_dockerfile(path)
    return None if no_dockerfile else find_dockerfile()


def dockerfile_lines(item: ImageReport) -> tuple[str, str]:
    """What to tell about the Dockerfile an image was matched with: a warning line for a named
    one that does not match (shown even with --quiet), and the words the summary line ends with
    when findings are located on one ("" when there is nothing to say)."""
    matched = item.dockerfile
    if matched is None:
        return "", ""
    reference = printable(item.image.reference)
    if not matched.matched:
        return (f"imgaudit: warning: Dockerfile does not match {reference}: {matched.reason} "
                f"(no finding is placed on {printable(matched.path)})"), ""
    found = " (found in the working directory; --no-dockerfile to ignore it)"
    return "", (f", findings on {printable(matched.path)} lines"
                f"{found if matched.detected else ''}")


# How docker:// images are read.
PlatformOption = Annotated[str | None, typer.Option(
    metavar="OS/ARCH[/VARIANT]",
    help="From a multi-platform image, audit this platform (default: this machine's).")]
AllPlatformsOption = Annotated[bool, typer.Option(
    "--all-platforms", help="From a multi-platform image, audit every platform.")]
UsernameOption = Annotated[str | None, typer.Option(
    metavar="USER", help="Registry user, with --password-stdin (default: the Docker config's "
    "login).")]
PasswordStdinOption = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the registry password or token from standard input.")]
InsecureOption = Annotated[bool, typer.Option(
    "--insecure", help="Plain HTTP to a registry that is not on loopback.")]


def registry_options(
    platform: str | None, all_platforms: bool, username: str | None, password_stdin: bool,
    insecure: bool,
) -> RegistryOptions:
    """The registry options checked, and the password read from stdin (never an argument)."""
    from auditor.errors import UsageError
    from auditor.sources.documents import Platform
    from auditor.sources.registry import Credentials, RegistryOptions

    example = 'echo "$TOKEN" | imgaudit ... --username USER --password-stdin'
    if password_stdin and not username:
        raise UsageError("--password-stdin needs --username", hint=example)
    if username and not password_stdin:
        raise UsageError("--username needs --password-stdin (a password is never taken on the "
                         "command line)", hint=example + "; or log in with `docker login`")
    if platform and all_platforms:
        raise UsageError("--platform and --all-platforms exclude each other",
                         hint="give one of them")
    if platform:
        Platform.parse(platform)
    credentials = None
    if username:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password",
                             hint="pipe the password or token into imgaudit")
        credentials = Credentials(username, password, source="--username and --password-stdin")
    return RegistryOptions(platform=platform, all_platforms=all_platforms,
                           credentials=credentials, insecure=insecure)
