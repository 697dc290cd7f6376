"""Reads a Dockerfile into stages and instructions with their lines, using BuildKit's own parser
(the `dockerfile` package wraps it: continuation lines, `# escape=`, heredocs and JSON forms are
read exactly as a build reads them), and checks what BuildKit would reject."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dockerfile as buildkit

from auditor.dockerfile.errors import DockerfileError
from auditor.dockerfile.model import Dockerfile, Heredoc, Instruction, Stage
from auditor.dockerfile.words import Word, expand, literal

KEYWORDS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
_AT_LEAST_ONE = frozenset({"ARG", "ENV", "EXPOSE", "LABEL", "MAINTAINER", "STOPSIGNAL", "USER",
                           "VOLUME", "WORKDIR", "SHELL", "HEALTHCHECK"})
_NOT_TRIGGERS = frozenset({"ONBUILD", "FROM", "MAINTAINER"})
_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S)", re.IGNORECASE)
_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


def read_dockerfile(path: Path | str, shown: str | None = None) -> Dockerfile:
    """The Dockerfile at path, its locations naming it `shown` (default: path); DockerfileError
    when it cannot be read or would not build."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DockerfileError(f"cannot read {path}: {exc.strerror or exc}",
                              hint="pass the path of the Dockerfile the image was built from"
                              ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DockerfileError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    return parse_dockerfile(text, str(path) if shown is None else shown)


def parse_dockerfile(text: str, path: str = "Dockerfile") -> Dockerfile:
    """The stages of a Dockerfile given as text; path is what its locations will name."""
    try:
        commands = buildkit.parse_string(text)
    except buildkit.GoParseError as exc:
        raise DockerfileError(f"{path}: {_go_message(exc)}") from exc
    escape = _escape_token(text)
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: Instruction | None = None
    for command in commands:
        instruction = _instruction(command, path)
        if instruction.keyword == "FROM":
            if header is not None:
                stages.append(_stage(header, tuple(current), stages, global_args, escape))
            header, current = instruction, []
        elif header is None:
            if instruction.keyword != "ARG":
                raise _error(instruction, f"{instruction.keyword} comes before the first FROM "
                             "(only ARG may)")
            global_args.append(instruction)
        else:
            current.append(_with_stage(instruction, len(stages)))
    if header is None:
        raise DockerfileError(f"{path} has no FROM: there is no stage to build",
                              hint="a Dockerfile starts FROM an image (or FROM scratch)")
    stages.append(_stage(header, tuple(current), stages, global_args, escape))
    return Dockerfile(path, tuple(stages), tuple(global_args), escape)


def _go_message(exc: Exception) -> str:
    message = str(exc).strip() or type(exc).__name__
    return message[0].lower() + message[1:]


def _escape_token(text: str) -> str:
    """The `# escape=` directive, which only the lines before the first instruction may hold."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        found = _ESCAPE.match(stripped)
        if found:
            return found.group(1)
    return "\\"


def _error(instruction: Instruction, what: str) -> DockerfileError:
    return DockerfileError(f"{instruction.path}:{instruction.start_line}: {what}")


def _with_stage(instruction: Instruction, stage: int) -> Instruction:
    return dataclasses.replace(instruction, stage=stage)


def _instruction(command: Any, path: str) -> Instruction:
    keyword = str(command.cmd).upper()
    trigger = str(command.sub_cmd).upper() if command.sub_cmd else ""
    arguments = tuple(str(value) for value in command.value)
    original = str(command.original)
    heredocs = _heredocs(arguments, command.heredocs)
    instruction = Instruction(
        keyword=keyword,
        arguments=arguments,
        original=original,
        path=path,
        start_line=int(command.start_line),
        end_line=int(command.end_line),
        flags=tuple(str(flag) for flag in command.flags),
        exec_form=bool(command.json),
        heredocs=heredocs,
        trigger=trigger,
    )
    _check(instruction)
    return instruction


def _heredocs(arguments: tuple[str, ...], found: Any) -> tuple[Heredoc, ...]:
    chomped = {match.group(3) for argument in arguments
               for match in _HEREDOC.finditer(argument) if match.group(1)}
    heredocs = []
    for heredoc in found:
        name, content = str(heredoc.name), str(heredoc.content)
        chomp = name in chomped
        if chomp:
            content = re.sub(r"(?m)^\t+", "", content)
        heredocs.append(Heredoc(name, content, chomp))
    return tuple(heredocs)


def _check(instruction: Instruction) -> None:
    """What BuildKit's instruction parser rejects, said with the line."""
    keyword, arguments = instruction.keyword, instruction.arguments
    if keyword not in KEYWORDS:
        raise _error(instruction, f"unknown instruction {keyword}")
    if keyword == "ONBUILD":
        if instruction.trigger in _NOT_TRIGGERS:
            raise _error(instruction, f"ONBUILD {instruction.trigger} is not allowed")
        if instruction.trigger not in KEYWORDS:
            raise _error(instruction, f"ONBUILD names unknown instruction {instruction.trigger}")
        return
    if keyword in _AT_LEAST_ONE and not any(argument.strip() for argument in arguments):
        raise _error(instruction, f"{keyword} needs an argument")
    if keyword in ("ENV", "LABEL") and len(arguments) % 2:
        raise _error(instruction, f"{keyword} needs KEY=value pairs")
    if keyword in ("COPY", "ADD") and len(arguments) < 2:
        raise _error(instruction, f"{keyword} needs a source and a destination")
    if keyword == "SHELL" and not instruction.exec_form:
        raise _error(instruction, 'SHELL takes a JSON array, such as ["/bin/sh", "-c"]')
    if keyword == "HEALTHCHECK" and arguments[0].upper() not in ("CMD", "NONE"):
        raise _error(instruction, "HEALTHCHECK takes CMD ... or NONE")
    if keyword == "FROM" and not (
        len(arguments) == 1 or (len(arguments) == 3 and arguments[1].upper() == "AS")
    ):
        raise _error(instruction, "FROM takes IMAGE [AS NAME]")
    if keyword == "COPY" and instruction.flag("from") is not None:
        value = instruction.flag("from") or ""
        if not value or "$" in value:
            raise _error(instruction, "COPY --from takes a stage name, index or image, "
                         "without variables")


def _stage(header: Instruction, instructions: tuple[Instruction, ...], earlier: list[Stage],
           global_args: list[Instruction], escape: str) -> Stage:
    index = len(earlier)
    header = _with_stage(header, index)
    name = header.arguments[2].lower() if len(header.arguments) == 3 else ""
    if name and not _STAGE_NAME.match(name):
        raise _error(header, f"invalid stage name {header.arguments[2]!r}")
    if name and any(stage.name == name for stage in earlier):
        raise _error(header, f"duplicate stage name {name!r}")
    defaults = _defaults(global_args, escape)

    def lookup(variable: str) -> Word | None:
        return defaults.get(variable)

    word = expand(header.arguments[0], lookup, escape)
    base = literal(word)
    if base is None:
        base = header.arguments[0]
    if not base:
        raise _error(header, f"FROM {header.arguments[0]} expands to nothing")
    parent = next((stage.index for stage in earlier if stage.name and stage.name == base.lower()),
                  None)
    platform = header.flag("platform") or ""
    return Stage(index, name, base, platform, header, instructions, parent)


def global_defaults(dockerfile: Dockerfile) -> dict[str, Word | None]:
    """The default of each ARG before the first FROM (None: it has none)."""
    return _defaults(dockerfile.global_args, dockerfile.escape)


def _defaults(global_args: Sequence[Instruction], escape: str) -> dict[str, Word | None]:
    """Each global ARG's default (None: no default); a later ARG sees the earlier ones."""
    values: dict[str, Word | None] = {}
    for instruction in global_args:
        for argument in instruction.arguments:
            key, sep, default = argument.partition("=")
            values[key] = expand(default, values.get, escape) if sep else None
    return values
