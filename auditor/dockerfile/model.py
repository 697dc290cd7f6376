"""The nouns of Dockerfile mapping: a parsed Dockerfile (stages, instructions, their lines) and
what matching it with an image's history concluded. Nothing here does I/O."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from auditor.dockerfile.errors import DockerfileError
from auditor.redact import redact
from auditor.text import printable


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A here-document of a RUN or COPY (`<<EOF` ... `EOF`)."""

    name: str
    content: str  # as the build sees it: leading tabs removed for `<<-`
    chomp: bool = False  # `<<-NAME`


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction as written, with the lines it spans (continuations and heredocs included)."""

    keyword: str  # upper case: RUN, COPY, ...; ONBUILD for a trigger, whose own is `trigger`
    arguments: tuple[str, ...]  # the words after the flags, or the one text of a shell form
    original: str  # the instruction's text, continuation lines joined as the builder joins them
    path: str
    start_line: int
    end_line: int
    flags: tuple[str, ...] = ()  # `--name=value` as written
    exec_form: bool = False  # a JSON array: RUN/CMD/ENTRYPOINT/SHELL/VOLUME/HEALTHCHECK CMD [...]
    heredocs: tuple[Heredoc, ...] = ()
    trigger: str = ""  # ONBUILD's instruction (RUN, COPY, ...)
    stage: int = -1  # index of its stage; -1 for an ARG before the first FROM

    def flag(self, name: str) -> str | None:
        """The value of `--name=value`, or None when the flag is absent."""
        for flag in self.flags:
            key, sep, value = flag.removeprefix("--").partition("=")
            if key == name:
                return value if sep else ""
        return None

    @property
    def location(self) -> str:
        """`Dockerfile:12`, or `Dockerfile:12-14` for an instruction over several lines."""
        lines = (f"{self.start_line}" if self.start_line == self.end_line
                 else f"{self.start_line}-{self.end_line}")
        return f"{self.path}:{lines}"

    def summary(self, limit: int = 80) -> str:
        """`RUN pip install ...`: the first line of the text, secrets masked, cut to limit."""
        text = redact(" ".join(self.original.split("\n", 1)[0].split()))
        if len(text) > limit:
            text = text[: limit - 3] + "..."
        return text

    def describe(self, limit: int = 80) -> str:
        """`line 12 `RUN pip install ...``: the first line of the text, secrets masked."""
        return f"line {self.start_line} `{self.summary(limit)}`"


@dataclass(frozen=True, slots=True)
class Stage:
    """`FROM base [AS name]` and the instructions up to the next FROM."""

    index: int
    name: str  # lower case, as BuildKit compares them; "" when the stage has none
    base: str  # the FROM image with the global ARGs' defaults expanded
    platform: str  # `--platform` as written, "" when absent
    from_line: Instruction
    instructions: tuple[Instruction, ...]
    parent: int | None = None  # index of the earlier stage this one starts FROM

    @property
    def copies_from(self) -> tuple[str, ...]:
        """The `--from` of each COPY: stage names, stage indexes or images."""
        return tuple(value for instruction in self.instructions
                     if instruction.keyword == "COPY"
                     and (value := instruction.flag("from")) is not None)


@dataclass(frozen=True, slots=True)
class Dockerfile:
    path: str
    stages: tuple[Stage, ...]
    global_args: tuple[Instruction, ...] = ()  # ARGs before the first FROM
    escape: str = "\\"

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def stage(self, target: str) -> Stage:
        """The stage `docker build --target` names (a name, or an index)."""
        for stage in self.stages:
            if stage.name and stage.name == target.lower():
                return stage
        if target.isdigit() and int(target) < len(self.stages):
            return self.stages[int(target)]
        names = ", ".join(stage.name for stage in self.stages if stage.name) or "none"
        raise DockerfileError(f"{self.path} has no stage {target!r} (named stages: {names})",
                              hint="name a stage of the Dockerfile, as `docker build --target`")

    def lineage(self, stage: Stage) -> tuple[Stage, ...]:
        """The stage and the stages it starts FROM, oldest first: together they made the image."""
        chain = [stage]
        parent = stage.parent
        while parent is not None:
            chain.append(self.stages[parent])
            parent = self.stages[parent].parent
        return tuple(reversed(chain))


class Builder(enum.Enum):
    """Who wrote the history: each words its steps differently."""

    CLASSIC = "classic"
    BUILDKIT = "buildkit"


class ConfigField(enum.Enum):
    """A value of the image config that an instruction sets (named as `docker inspect` does)."""

    USER = "User"
    WORKDIR = "WorkingDir"
    CMD = "Cmd"
    ENTRYPOINT = "Entrypoint"
    HEALTHCHECK = "Healthcheck"
    STOPSIGNAL = "StopSignal"
    SHELL = "Shell"
    EXPOSED_PORTS = "ExposedPorts"  # keyed by port, `8080/tcp`
    VOLUMES = "Volumes"  # keyed by path
    ENV = "Env"  # keyed by variable name
    LABELS = "Labels"  # keyed by label name


KEYED_FIELDS = frozenset({ConfigField.EXPOSED_PORTS, ConfigField.VOLUMES, ConfigField.ENV,
                          ConfigField.LABELS})


def _empty() -> Mapping[str, Instruction]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DockerfileMapping:
    """A Dockerfile that matches an image: the line behind each history step and config value.

    Steps before `first_step` came with the base image (the stage's FROM); a step the build
    options made (the classic builder's `docker build --label`) has no line."""

    dockerfile: Dockerfile
    stage: Stage  # the stage the image was built to: the final one unless a --target
    builder: Builder
    steps: Mapping[int, Instruction]  # history index -> the instruction that made the step
    first_step: int  # history index of the stage's first step (len(history) when none)
    # the last instruction that set each config value; keyed fields by "field:key"
    setters: Mapping[str, Instruction] = field(default_factory=_empty)
    option_step: int | None = None  # history index of the classic builder's `--label` step
    notes: tuple[str, ...] = ()  # what a reader should know about the match
    base_labels: str = ""  # the LABEL steps of the base image's history, as recorded
    option_labels: str = ""  # the `--label` step, as recorded

    @property
    def from_line(self) -> Instruction:
        """The FROM line of the stage the image was built to."""
        return self.stage.from_line

    def instruction_for_step(self, index: int) -> Instruction | None:
        """The instruction that made history step `index`; None for a base image or build
        option step."""
        return self.steps.get(index)

    def config_source(self, config: ConfigField, key: str = "") -> Instruction | None:
        """The instruction that set a config value, or the stage's FROM line when none of the
        image's own instructions did (the value is inherited, or missing: a finding such as
        "no USER" then belongs on FROM).

        Keyed fields (ports, volumes, env, labels) take the key; without one, the last
        instruction of that kind. None only for a label that the Dockerfile did not set and the
        base image's history does not show: `docker build --label` set it, and no line did.
        """
        if not (config in KEYED_FIELDS and key):
            return self.setters.get(config.value, self.from_line)
        found = self.setters.get(f"{config.value}:{key}")
        if found is not None or config is not ConfigField.LABELS:
            return found or self.from_line
        if _names_label(self.option_labels, key):
            return None
        return self.from_line if _names_label(self.base_labels, key) else None


def _names_label(recorded: str, key: str) -> bool:
    return re.search(rf'(?:^|\s)"?{re.escape(key)}"?=', recorded) is not None


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A Dockerfile that does not explain the image: nothing is mapped, and this says why."""

    path: str
    reason: str  # one line, whatever the history held: whitespace runs joined, controls escaped

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", printable(" ".join(self.reason.split())))

    def __str__(self) -> str:
        return f"{self.path} does not match the image's history: {self.reason}"
