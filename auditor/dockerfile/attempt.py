"""One reading of an image's history against a Dockerfile stage: by one builder, with or without
a `docker build --label` step, walking the stage's instructions over the steps they should have
made; it ends in a mapping or in the failure that stopped it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from auditor.dockerfile.errors import DockerfileError
from auditor.dockerfile.model import Builder, Dockerfile, DockerfileMapping, Instruction, Stage
from auditor.dockerfile.parse import parse_dockerfile
from auditor.dockerfile.recorded import RecordedStep
from auditor.dockerfile.walk import Walk
from auditor.model.image import HistoryStep, Origin
from auditor.redact import describe_step


@dataclass(frozen=True, slots=True)
class Failure:
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
class Attempt:
    """One way of reading the history: by this builder, with or without a build-option step.

    The stage the image was built to (the last one, unless a --target) and the stages it starts
    FROM make the last steps of the history, one per instruction the builder records: every
    instruction but FROM (and, for BuildKit, ONBUILD). The classic builder adds one more LABEL
    step at the end for `docker build --label`."""

    dockerfile: Dockerfile
    stage: Stage
    history: Sequence[HistoryStep]
    recorded: Sequence[RecordedStep]
    builder: Builder
    with_option: bool
    trust_origins: bool
    anchor: int | None = None  # the history index of the first step, to find where they differ
    matched: int = 0

    def fail(self, reason: str) -> Failure:
        return Failure(reason, self.matched + (1 if self.with_option else 0))

    def run(self) -> DockerfileMapping | Failure:
        lineage = self.dockerfile.lineage(self.stage)
        made = [instruction for stage in lineage for instruction in stage.instructions
                if _records(instruction, self.builder)]
        end = len(self.history)
        if self.with_option:
            last = self.recorded[-1] if self.recorded else None
            if last is None or last.builder is not Builder.CLASSIC or last.instruction != "LABEL":
                return Failure("the last step is no `docker build --label` step", -1)
            end -= 1
        start = end - len(made) if self.anchor is None else self.anchor
        if start < 0:
            return self.fail(f"{_stage_words(self.stage)} makes {len(made)} history steps, but "
                             f"the image has only {end}")
        walk = Walk(self.dockerfile, self.builder)
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

    def conclude(self, steps: dict[int, Instruction], start: int, end: int, walk: Walk
                 ) -> DockerfileMapping | Failure:
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
        walk = Walk(self.dockerfile, self.builder)
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
