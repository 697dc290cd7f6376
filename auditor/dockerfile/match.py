"""Matches a Dockerfile with an image's history: which instruction made each step, and which set
each config value. Any step that does not match, in kind or in content, maps nothing and says why:
a wrong line is worse than none.

The stage the image was built to (the last one, unless a --target) and the stages it starts FROM
make the last steps of the history, one per instruction the builder records: every instruction
but FROM (and, for BuildKit, ONBUILD). The classic builder adds one more LABEL step at the end for
`docker build --label`. Each step is checked against its instruction with ARG and ENV expanded as
the builder expands them; a value the Dockerfile cannot know (a `--build-arg`, a variable of the
base image) is learned from the first step that shows it and must agree from then on."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from auditor.dockerfile.errors import DockerfileError
from auditor.dockerfile.model import (
    Builder,
    ConfigField,
    Dockerfile,
    DockerfileMapping,
    Instruction,
    Mismatch,
    Stage,
)
from auditor.dockerfile.parse import global_defaults, parse_dockerfile, read_dockerfile
from auditor.dockerfile.recorded import RecordedStep, go_strings, port_set, port_specs, read_step
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
from auditor.model.image import HistoryQuality, HistoryStep, Image, Origin
from auditor.redact import describe_step

DEFAULT_SHELL = ("/bin/sh", "-c")
# Base boundaries found from an actual base image; the others are guesses from the history.
EXACT_BOUNDARIES = frozenset({"option", "local-image", "archive-image"})
_HEREDOC_ONLY = re.compile(r"^<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1$")


def match_image(dockerfile: Dockerfile, image: Image, *, target: str | None = None
                ) -> DockerfileMapping | Mismatch:
    """match_history on an image read by a source, trusting its base boundary only when an
    actual base image gave it (not when guessed from the history)."""
    if image.history_quality in (HistoryQuality.MISSING, HistoryQuality.SYNTHETIC):
        return Mismatch(dockerfile.path, image.history_note or "the image has no build history")
    return match_history(dockerfile, image.history, target=target,
                         trust_origins=image.boundary.method in EXACT_BOUNDARIES)


def detect_dockerfile(candidate: Path | str, image: Image, *, target: str | None = None
                      ) -> DockerfileMapping | Mismatch:
    """The mapping of a Dockerfile that may be the image's (such as ./Dockerfile), only when its
    steps match the image's; otherwise the reason it was not used. Never raises."""
    path = Path(candidate)
    if not path.is_file():
        return Mismatch(str(candidate), "no such file")
    try:
        return match_image(read_dockerfile(path), image, target=target)
    except DockerfileError as exc:
        return Mismatch(str(candidate), exc.message)


def match_history(dockerfile: Dockerfile, history: Sequence[HistoryStep], *,
                  target: str | None = None, trust_origins: bool = True
                  ) -> DockerfileMapping | Mismatch:
    """The instruction behind each step the Dockerfile made, or why the history is not its.

    With trust_origins, the history's OWN/BASE origins are taken as exact: an own step the
    Dockerfile does not make, or a base step it would make, is a mismatch. Without, the steps
    before the Dockerfile's first are taken as the base image's.

    Raises DockerfileError when an instruction cannot be expanded (a build would fail too)."""
    stage = dockerfile.stage(target) if target else dockerfile.final_stage
    recorded = tuple(read_step(step.created_by) for step in history)
    failures: list[_Failure] = []
    for builder in _likely_builders(recorded):
        for with_option in (False, True) if builder is Builder.CLASSIC else (False,):
            attempt = _Attempt(dockerfile, stage, history, recorded, builder, with_option,
                               trust_origins)
            outcome = attempt.run()
            if isinstance(outcome, DockerfileMapping):
                return outcome
            failures.append(outcome)
    own = next((step.index for step in history if step.origin is Origin.OWN), None)
    if trust_origins and own is not None:
        # Where the steps first differ, read from the start of the image's own build, says
        # more than where they differ read from the end: an inserted step shifts every step.
        for builder in _likely_builders(recorded):
            for with_option in (False, True) if builder is Builder.CLASSIC else (False,):
                diagnosis = _Attempt(dockerfile, stage, history, recorded, builder, with_option,
                                     trust_origins, anchor=own).run()
                assert not isinstance(diagnosis, DockerfileMapping)
                failures.append(diagnosis)
    best = max(failures, key=lambda failure: failure.progress)
    return Mismatch(dockerfile.path, best.reason)


def _likely_builders(recorded: Sequence[RecordedStep]) -> tuple[Builder, ...]:
    """Both builders, the one that wrote most of the latest steps first."""
    tail = recorded[-8:]
    buildkit = sum(1 for step in tail if step.builder is Builder.BUILDKIT)
    if buildkit * 2 > len(tail):
        return (Builder.BUILDKIT, Builder.CLASSIC)
    return (Builder.CLASSIC, Builder.BUILDKIT)


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    progress: int  # steps matched before it: the attempt that got furthest explains best


def _records(instruction: Instruction, builder: Builder) -> bool:
    """Whether the builder writes a history step for the instruction."""
    if instruction.keyword == "ONBUILD":
        return builder is Builder.CLASSIC
    return instruction.keyword != "FROM"


def _stage_words(stage: Stage) -> str:
    which = f"stage {stage.name!r}" if stage.name else f"stage {stage.index}"
    return f"{which} ({stage.from_line.describe()})"


@dataclass
class _Attempt:
    """One way of reading the history: by this builder, with or without a build-option step."""

    dockerfile: Dockerfile
    stage: Stage
    history: Sequence[HistoryStep]
    recorded: Sequence[RecordedStep]
    builder: Builder
    with_option: bool
    trust_origins: bool
    anchor: int | None = None  # the history index of the first step, to find where they differ
    matched: int = 0

    def fail(self, reason: str) -> _Failure:
        return _Failure(reason, self.matched + (1 if self.with_option else 0))

    def run(self) -> DockerfileMapping | _Failure:
        lineage = self.dockerfile.lineage(self.stage)
        made = [instruction for stage in lineage for instruction in stage.instructions
                if _records(instruction, self.builder)]
        end = len(self.history)
        if self.with_option:
            last = self.recorded[-1] if self.recorded else None
            if last is None or last.builder is not Builder.CLASSIC or last.instruction != "LABEL":
                return _Failure("the last step is no `docker build --label` step", -1)
            end -= 1
        start = end - len(made) if self.anchor is None else self.anchor
        if start < 0:
            return self.fail(f"{_stage_words(self.stage)} makes {len(made)} history steps, but "
                             f"the image has only {end}")
        walk = _Walk(self.dockerfile, self.builder)
        steps: dict[int, Instruction] = {}
        for position, stage in enumerate(lineage):
            walk.enter(first=position == 0)
            for instruction in stage.instructions:
                if not _records(instruction, self.builder):
                    continue
                index = start + len(steps)
                if index >= end:
                    return self.fail(f"{instruction.describe()} makes no step: the image's "
                                     f"history ends before it")
                step, record = self.history[index], self.recorded[index]
                if (record.builder is not self.builder
                        or record.instruction != instruction.keyword
                        or not walk.check(instruction, record)):
                    builder = ("" if record.builder is self.builder
                               else f" (a step of the {record.builder.value} builder)")
                    return self.fail(f"{instruction.describe()} does not match "
                                     f"{describe_step(step)}{builder}")
                steps[index] = instruction
                self.matched += 1
        if start + len(steps) < end:
            extra = self.history[start + len(steps)]
            return self.fail(f"{describe_step(extra)} comes after the last instruction of "
                             f"{_stage_words(self.stage)}")
        return self.conclude(steps, start, end, walk)

    def conclude(self, steps: dict[int, Instruction], start: int, end: int, walk: _Walk
                 ) -> DockerfileMapping | _Failure:
        notes: list[str] = []
        root = self.dockerfile.lineage(self.stage)[0].from_line
        own_before = [step for step in self.history[:start] if step.origin is Origin.OWN]
        base_inside = [step for step in self.history[start:end] if step.origin is Origin.BASE]
        if self.trust_origins and own_before:
            triggered = self.triggers(own_before, root)
            if triggered is None:
                step = own_before[-1]
                return self.fail(f"{describe_step(step)} is the image's own, but no instruction of "
                                 f"{_stage_words(self.stage)} makes it")
            steps = {**triggered, **steps}
            notes.append(f"history[{own_before[0].index}..{own_before[-1].index}] ran the base "
                         f"image's ONBUILD triggers, for {root.describe()}")
            own_before = []
        if self.trust_origins and base_inside:
            step = base_inside[0]
            return self.fail(f"{steps[step.index].describe()} would explain "
                             f"{describe_step(step)}, which belongs to the base image")
        if own_before:
            notes.append(f"history[{own_before[0].index}..{start - 1}] come with the base "
                         f"image ({root.describe()}), though counted as own")
        if base_inside:
            notes.append(f"history[{base_inside[0].index}..{base_inside[-1].index}] are "
                         "counted as the base image's, though the Dockerfile makes them")
        option = end if self.with_option else None
        base_labels = " ".join(record.body for record in self.recorded[:start]
                               if record.instruction == "LABEL")
        option_labels = self.recorded[end].body if option is not None else ""
        return DockerfileMapping(
            dockerfile=self.dockerfile,
            stage=self.stage,
            builder=self.builder,
            steps=MappingProxyType(steps),
            first_step=start,
            setters=MappingProxyType(dict(walk.setters)),
            option_step=option,
            notes=tuple(notes),
            base_labels=base_labels,
            option_labels=option_labels,
        )

    def triggers(self, own: list[HistoryStep], root: Instruction) -> dict[int, Instruction] | None:
        """The own steps before the stage's first, when they are the ONBUILD triggers the base
        image recorded (the classic builder records them; a base BuildKit built shows none):
        they ran for the FROM line, as BuildKit itself places them."""
        recorded = [record.body for step, record in zip(self.history, self.recorded, strict=True)
                    if step.origin is Origin.BASE and record.instruction == "ONBUILD"]
        if len(recorded) < len(own):
            return None
        walk = _Walk(self.dockerfile, self.builder)
        for step, body in zip(own, recorded[len(recorded) - len(own):], strict=True):
            try:
                trigger = parse_dockerfile(f"FROM scratch\n{body}\n").final_stage.instructions[0]
            except DockerfileError:
                return None
            record = self.recorded[step.index]
            if (record.builder is not self.builder or record.instruction != trigger.keyword
                    or not walk.check(trigger, record)):
                return None
        return {step.index: root for step in own}


# ----------------------------------------------------------------------------- the walk


@dataclass
class _Variable:
    order: int  # when it was set: with BuildKit the latest of ARG and ENV wins
    value: Word | None  # None: unset
    hole: str = ""  # an ARG's identity, whose value a step may show


@dataclass
class _Walk:
    """The state of the build while the stage's instructions are matched in order."""

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



def _check_run(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _learn_build_args(walk: _Walk, text: str) -> None:
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


def _check_copy(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _pairs(walk: _Walk, instruction: Instruction) -> list[tuple[Word, Word]]:
    arguments = instruction.arguments
    return [(walk.expand(arguments[i]), walk.expand(arguments[i + 1]))
            for i in range(0, len(arguments), 2)]


def _check_pairs(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _check_arg(walk: _Walk, instruction: Instruction, body: str) -> bool:
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
                ) -> Callable[[_Walk, Instruction, str], bool]:
    def check(walk: _Walk, instruction: Instruction, body: str) -> bool:
        text = instruction.arguments[0] if instruction.arguments else ""
        word = walk.expand(text) if expanded else (text,)
        if not walk.learn(pattern(word).match_values(body)):
            return False
        if config is not None:
            walk.set(config, instruction)
        return True

    return check


def _check_workdir(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _check_expose(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _check_volume(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _check_shell(walk: _Walk, instruction: Instruction, body: str) -> bool:
    if pattern("[" + " ".join(instruction.arguments) + "]").match_values(body) is None:
        return False
    walk.shell = instruction.arguments
    walk.set(ConfigField.SHELL, instruction)
    return True


def _normal(texts: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(text.split()) for text in texts)


def _command_line(walk: _Walk, instruction: Instruction) -> tuple[str, ...]:
    if instruction.exec_form:
        return instruction.arguments
    return (*walk.shell, " ".join(instruction.arguments))


def _check_cmd(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _check_healthcheck(walk: _Walk, instruction: Instruction, body: str) -> bool:
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


def _check_onbuild(walk: _Walk, instruction: Instruction, body: str) -> bool:
    trigger = instruction.original.strip().split(None, 1)[1]
    return " ".join(trigger.split()) == " ".join(body.split())


_CHECKS: dict[str, Callable[[_Walk, Instruction, str], bool]] = {
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
