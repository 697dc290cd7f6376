"""Checks each instruction of a stage against the history step it made, in build order, with
ARG and ENV expanded as the builder expands them, and records which instruction set each config
value."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auditor.dockerfile.model import Builder, ConfigField, Dockerfile, Instruction
from auditor.dockerfile.parse import global_defaults
from auditor.dockerfile.recorded import RecordedStep, go_strings, port_set, port_specs
from auditor.dockerfile.words import (
    ANYTHING,
    Hole,
    Part,
    Word,
    expand,
    expand_fields,
    join,
    literal,
    pattern,
)

DEFAULT_SHELL = ("/bin/sh", "-c")
_HEREDOC_ONLY = re.compile(r"^<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1$")


@dataclass
class _Variable:
    order: int  # when it was set: with BuildKit the latest of ARG and ENV wins
    value: Word | None  # None: unset
    hole: str = ""  # an ARG's identity, whose value a step may show


@dataclass
class Walk:
    """The state of the build while the stage's instructions are matched in order. A value the
    Dockerfile cannot know (a `--build-arg`, a variable of the base image) is learned from the
    first step that shows it and must agree from then on."""

    dockerfile: Dockerfile
    builder: Builder
    env: dict[str, _Variable] = field(default_factory=dict)
    args: dict[str, _Variable] = field(default_factory=dict)
    learned: dict[str, str] = field(default_factory=dict)  # hole key -> the value steps showed
    workdir: str | None = None  # None: the base image's, not known
    shell: tuple[str, ...] = DEFAULT_SHELL
    setters: dict[str, Instruction] = field(default_factory=dict)
    cmd_in_stage: bool = False
    order: int = 0
    globals: dict[str, Word | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.globals = global_defaults(self.dockerfile)

    def enter(self, *, first: bool) -> None:
        # ENV, WORKDIR, SHELL and the rest live in the image config and carry over to a stage
        # that starts FROM this one; ARGs carry over only in BuildKit.
        if first or self.builder is Builder.CLASSIC:
            self.args = {}
        self.cmd_in_stage = False

    # --- values

    def lookup(self, name: str) -> Word | None:
        env, arg = self.env.get(name), self.args.get(name)
        chosen = env or arg
        if env and arg and (self.builder is Builder.BUILDKIT and arg.order > env.order):
            chosen = arg
        if chosen is None:
            return self.resolve((Hole(f"env:{name}"),))  # the base image's, if it has one
        return None if chosen.value is None else self.resolve(chosen.value)

    def resolve(self, word: Word) -> Word:
        parts: list[Part] = []
        for part in word:
            if isinstance(part, Hole) and part.key is not None and part.key in self.learned:
                parts.append(self.learned[part.key])
            else:
                parts.append(part)
        return join(*parts)

    def expand(self, text: str) -> Word:
        return expand(text, self.lookup, self.dockerfile.escape)

    def learn(self, values: dict[str, str] | None) -> bool:
        if values is None:
            return False
        for key, value in values.items():
            self.learned.setdefault(key, value)
        return True

    def next_order(self) -> int:
        self.order += 1
        return self.order

    # --- instructions

    def check(self, instruction: Instruction, record: RecordedStep) -> bool:
        check = _CHECKS[instruction.keyword]
        return check(self, instruction, record.body)

    def set(self, config: ConfigField, instruction: Instruction, key: str = "") -> None:
        self.setters[f"{config.value}:{key}" if key else config.value] = instruction


def _check_run(walk: Walk, instruction: Instruction, body: str) -> bool:
    arguments = instruction.arguments
    if instruction.exec_form:
        command: Word = (" ".join(arguments),)
    elif instruction.heredocs:
        command = _heredoc_command(instruction, walk.shell)
    else:
        command = (" ".join((*walk.shell, arguments[0] if arguments else "")),)
    found = pattern(command).match(body, lead=r"(?:\|\d+\s+(?P<lead>.*?)\s+)?")
    if found is None:
        return False
    values, build_args = found
    walk.learn(values)
    _learn_build_args(walk, build_args)
    return True


def _heredoc_command(instruction: Instruction, shell: tuple[str, ...]) -> Word:
    """What BuildKit runs for a RUN with here-documents."""
    first = instruction.arguments[0].strip() if instruction.arguments else ""
    heredocs = instruction.heredocs
    if _HEREDOC_ONLY.match(first) and len(heredocs) == 1:
        data = heredocs[0].content
        if data.startswith("#!"):
            return (f"/dev/pipes/{heredocs[0].name}",)  # run as a script, without the shell
        return (" ".join(shell) + " " + data,)
    text = first + "".join(f"\n{heredoc.content}{heredoc.name}" for heredoc in heredocs)
    return (" ".join(shell) + " " + text,)


def _learn_build_args(walk: Walk, text: str) -> None:
    """The values a RUN's `|N K=v ...` prefix shows for the ARGs in scope."""
    if not text or not walk.args:
        return
    names = "|".join(re.escape(name) for name in sorted(walk.args, key=len, reverse=True))
    starts = list(re.finditer(rf"(?:^|\s)({names})=", text))
    for position, start in enumerate(starts):
        stop = starts[position + 1].start() if position + 1 < len(starts) else len(text)
        variable = walk.args[start.group(1)]
        if variable.hole:
            walk.learned.setdefault(variable.hole, text[start.end() : stop])


def _check_copy(walk: Walk, instruction: Instruction, body: str) -> bool:
    words = [walk.expand(argument) for argument in instruction.arguments]
    destination = words[-1]
    if walk.builder is Builder.CLASSIC:
        # the classic builder hides the sources behind a hash: `file:<hex> in /dest`
        found = pattern(destination).match(body, lead=r"(?P<lead>\S+)\s+in\s+")
        return found is not None and walk.learn(found[0])
    sources: list[Word | str] = []
    for word in words[:-1]:
        sources.extend((word, " "))
    found = pattern(*sources, destination).match(body, lead=r"(?P<lead>(?:--\S+\s+)*)")
    if found is None:
        return False
    for flag in found[1].split():
        if instruction.flag(flag.removeprefix("--").partition("=")[0]) is None:
            return False  # the step had a --chown or --chmod the instruction has not
    return walk.learn(found[0])


def _pairs(walk: Walk, instruction: Instruction) -> list[tuple[Word, Word]]:
    arguments = instruction.arguments
    return [(walk.expand(arguments[i]), walk.expand(arguments[i + 1]))
            for i in range(0, len(arguments), 2)]


def _check_pairs(walk: Walk, instruction: Instruction, body: str) -> bool:
    pairs = _pairs(walk, instruction)
    expected: list[Word | str] = []
    for key, value in pairs:
        expected.extend((" ", key, "=", value))
    if not walk.learn(pattern(*expected).match_values(body)):
        return False
    config = ConfigField.ENV if instruction.keyword == "ENV" else ConfigField.LABELS
    for key, value in pairs:
        name = literal(walk.resolve(key))
        if name is None:
            continue
        walk.set(config, instruction, name)
        if config is ConfigField.ENV:
            walk.env[name] = _Variable(walk.next_order(), walk.resolve(value))
    walk.set(config, instruction)
    return True


def _check_arg(walk: Walk, instruction: Instruction, body: str) -> bool:
    keys = [argument.partition("=")[0] for argument in instruction.arguments]
    regex = r"\s+".join(rf"{re.escape(key)}(?:=(?P<v{i}>.*?))?" for i, key in enumerate(keys))
    found = re.fullmatch(regex, body.strip(), re.DOTALL)
    if found is None:
        return False
    for i, argument in enumerate(instruction.arguments):
        key, has_default, text = argument.partition("=")
        hole = f"arg:{instruction.start_line}:{key}"
        if has_default:
            default: Word | None = walk.expand(text)
        elif key in walk.globals:
            default = walk.globals[key]  # an ARG without a default takes the global one
        else:
            default = None
        shown = found.group(f"v{i}")
        if shown is not None:
            values = pattern(default).match_values(shown) if default is not None else None
            if values is not None:
                walk.learn(values)  # the default as built, whatever --build-arg said later
            else:
                walk.learned.setdefault(hole, shown)  # BuildKit shows a --build-arg's value
        preferred = None if default is None else literal(walk.resolve(default))
        value: Word = (Hole(hole, "" if default is None else preferred),)
        walk.args[key] = _Variable(walk.next_order(), walk.resolve(value), hole)
    return True


def _check_text(config: ConfigField | None, *, expanded: bool = True
                ) -> Callable[[Walk, Instruction, str], bool]:
    def check(walk: Walk, instruction: Instruction, body: str) -> bool:
        text = instruction.arguments[0] if instruction.arguments else ""
        word = walk.expand(text) if expanded else (text,)
        if not walk.learn(pattern(word).match_values(body)):
            return False
        if config is not None:
            walk.set(config, instruction)
        return True

    return check


def _check_workdir(walk: Walk, instruction: Instruction, body: str) -> bool:
    word = walk.expand(instruction.arguments[0])
    path = literal(word)
    if path is not None:
        if path.startswith("/"):
            expected: Word = (_clean(path),)
        elif walk.workdir is not None:
            expected = (_clean(posixpath.join(walk.workdir, path)),)
        elif ".." in path.split("/"):
            expected = ANYTHING
        else:
            expected = (Hole(None), _clean("/" + path))  # relative to the base image's
    else:
        expected = word if word and word[0] == "/" else join(ANYTHING, word)
    if not walk.learn(pattern(expected).match_values(body)):
        return False
    walk.workdir = body.strip()  # the builder records the resolved path
    walk.set(ConfigField.WORKDIR, instruction)
    return True


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    return re.sub(r"^/+", "/", cleaned)


def _check_expose(walk: Walk, instruction: Instruction, body: str) -> bool:
    recorded = port_set(body)
    if recorded is None:
        return False
    expected: set[str] = set()
    unknown = False
    for argument in instruction.arguments:
        for word in expand_fields(argument, walk.lookup, walk.dockerfile.escape):
            text = literal(word)
            specs = port_specs(text) if text is not None else None
            if specs is None:
                unknown = True
                continue
            expected.update(specs)
    if not (expected <= recorded if unknown else expected == recorded):
        return False
    for port in sorted(recorded):
        walk.set(ConfigField.EXPOSED_PORTS, instruction, port)
    walk.set(ConfigField.EXPOSED_PORTS, instruction)
    return True


def _check_volume(walk: Walk, instruction: Instruction, body: str) -> bool:
    words = [walk.expand(argument) for argument in instruction.arguments]
    expected: list[Word | str] = ["["]
    for position, word in enumerate(words):
        expected.extend((" " if position else "", word))
    expected.append("]")
    if not walk.learn(pattern(*expected).match_values(body)):
        return False
    for word in words:
        path = literal(walk.resolve(word))
        if path is not None:
            walk.set(ConfigField.VOLUMES, instruction, path)
    walk.set(ConfigField.VOLUMES, instruction)
    return True


def _check_shell(walk: Walk, instruction: Instruction, body: str) -> bool:
    if pattern("[" + " ".join(instruction.arguments) + "]").match_values(body) is None:
        return False
    walk.shell = instruction.arguments
    walk.set(ConfigField.SHELL, instruction)
    return True


def _normal(texts: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(text.split()) for text in texts)


def _command_line(walk: Walk, instruction: Instruction) -> tuple[str, ...]:
    if instruction.exec_form:
        return instruction.arguments
    return (*walk.shell, " ".join(instruction.arguments))


def _check_cmd(walk: Walk, instruction: Instruction, body: str) -> bool:
    if _normal(go_strings(body)) != _normal(_command_line(walk, instruction)):
        return False
    if instruction.keyword == "CMD":
        walk.cmd_in_stage = True
        walk.set(ConfigField.CMD, instruction)
    else:
        walk.set(ConfigField.ENTRYPOINT, instruction)
        if not walk.cmd_in_stage:
            walk.set(ConfigField.CMD, instruction)  # an ENTRYPOINT resets the inherited CMD
    return True


def _check_healthcheck(walk: Walk, instruction: Instruction, body: str) -> bool:
    arguments = instruction.arguments
    if arguments[0].upper() == "NONE":
        test: tuple[str, ...] = ("NONE",)
    elif instruction.exec_form:
        test = ("CMD", *arguments[1:])
    else:
        test = ("CMD-SHELL", " ".join(arguments[1:]))
    quoted = go_strings(body)
    if quoted:  # `&{["CMD-SHELL" "curl ..."] "5s" ...}`, as BuildKit until 0.12 wrote it
        matches = _normal(quoted[: len(test)]) == _normal(test)
    else:  # `{Test:[CMD-SHELL curl ...] Interval:5s ...}`
        matches = " ".join(_normal(test)) in " ".join(body.split())
    if matches:
        walk.set(ConfigField.HEALTHCHECK, instruction)
    return matches


def _check_onbuild(walk: Walk, instruction: Instruction, body: str) -> bool:
    trigger = instruction.original.strip().split(None, 1)[1]
    return " ".join(trigger.split()) == " ".join(body.split())


_CHECKS: dict[str, Callable[[Walk, Instruction, str], bool]] = {
    "RUN": _check_run,
    "COPY": _check_copy,
    "ADD": _check_copy,
    "ENV": _check_pairs,
    "LABEL": _check_pairs,
    "ARG": _check_arg,
    "USER": _check_text(ConfigField.USER),
    "STOPSIGNAL": _check_text(ConfigField.STOPSIGNAL),
    "MAINTAINER": _check_text(None, expanded=False),
    "WORKDIR": _check_workdir,
    "EXPOSE": _check_expose,
    "VOLUME": _check_volume,
    "SHELL": _check_shell,
    "CMD": _check_cmd,
    "ENTRYPOINT": _check_cmd,
    "HEALTHCHECK": _check_healthcheck,
    "ONBUILD": _check_onbuild,
}
