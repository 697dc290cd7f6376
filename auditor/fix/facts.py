"""What every fix reads and none changes: the audited image, its findings, the Dockerfile stage
that built it with the line behind each step, and the build context; plus the readings several
fixes share (the user and working directory in effect at a line, a path of the image)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from auditor.dockerfile import ConfigField, DockerfileMapping, Instruction, Stage
from auditor.fix.model import Context
from auditor.model.findings import Finding
from auditor.model.image import Image, Origin, PlacedFile
from auditor.model.report import ImageReport, ScoredFinding

_STEP = re.compile(r"history\[(\d+)\]")
_KEYED = re.compile(r"config\.(?:Env|Labels): ([^=\s]+)=")
# Which config value a config-level finding is about (the rest point at a layer or a step).
_CONFIG_OF: Mapping[str, ConfigField] = MappingProxyType({
    "IA201": ConfigField.USER,
    "IA202": ConfigField.USER,
    "IA601": ConfigField.WORKDIR,
    "IA701": ConfigField.EXPOSED_PORTS,
    "IA702": ConfigField.EXPOSED_PORTS,
    "IA703": ConfigField.EXPOSED_PORTS,
    "IA1101": ConfigField.ENV,
    "IA1102": ConfigField.LABELS,
})
ROOT_USERS = frozenset({"", "root", "0"})


def is_root(user: str) -> bool:
    """Whether a USER value (NAME|UID[:GROUP]) is root."""
    return user.partition(":")[0].strip() in ROOT_USERS


@dataclass(frozen=True, slots=True)
class Facts:
    report: ImageReport
    mapping: DockerfileMapping
    context: Context

    @property
    def image(self) -> Image:
        return self.report.image

    @property
    def stage(self) -> Stage:
        return self.mapping.stage

    @property
    def escape(self) -> str:
        return self.mapping.dockerfile.escape

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        """The stage's instructions and those of the stages it starts FROM, in build order."""
        return tuple(instruction for stage in self.mapping.dockerfile.lineage(self.stage)
                     for instruction in stage.instructions)

    def findings(self, *rules: str) -> tuple[ScoredFinding, ...]:
        """The findings of these rules (all, without any) that no waiver accepted."""
        return tuple(scored for scored in self.report.findings
                     if scored.finding.waiver is None and (not rules or scored.rule.id in rules))

    def own(self, *rules: str) -> tuple[Finding, ...]:
        """The image's own findings of these rules: the ones its Dockerfile can fix."""
        return tuple(scored.finding for scored in self.findings(*rules)
                     if scored.finding.origin is Origin.OWN)

    # --------------------------------------------------------------------- lines behind things

    def instruction_for_layer(self, number: int | None) -> Instruction | None:
        if number is None or not 1 <= number <= len(self.image.layers):
            return None
        index = self.image.layers[number - 1].history_index
        return None if index is None else self.mapping.instruction_for_step(index)

    def locate(self, finding: Finding, rule: str) -> Instruction | None:
        """The line behind a finding: the step that made its layer or that its evidence names,
        or the instruction that set the config value it is about (the FROM line when none did)."""
        found = self.instruction_for_layer(finding.layer)
        if found is not None:
            return found
        step = _STEP.search(finding.evidence)
        if step is not None and (found := self.mapping.instruction_for_step(int(step[1]))):
            return found
        config = _CONFIG_OF.get(rule)
        if rule in ("IA1001", "IA1002"):
            config = ConfigField.ENTRYPOINT if self.image.config.entrypoint else ConfigField.CMD
        if config is None:
            return self.mapping.from_line if finding.origin is Origin.BASE else None
        keyed = _KEYED.search(finding.evidence)
        key = keyed[1] if keyed and config in (ConfigField.ENV, ConfigField.LABELS) else ""
        if config is ConfigField.EXPOSED_PORTS and rule == "IA703":
            key = "22/tcp"
        return self.mapping.config_source(config, key)

    def where(self, finding: Finding, rule: str) -> str:
        found = self.locate(finding, rule)
        return found.location if found is not None else "image"

    # --------------------------------------------------------------------- state at a line

    def _base_value(self, instruction: str) -> str:
        """The last value a base image step set (USER, WORKDIR), "" when none did."""
        steps = [step for step in self.image.history
                 if step.origin is Origin.BASE and step.instruction == instruction]
        return steps[-1].body.strip() if steps else ""

    def user_at(self, line: int) -> str:
        """The USER in effect for an instruction starting at `line` ("" for root)."""
        user = self._base_value("USER")
        for instruction in self.instructions:
            if instruction.start_line >= line:
                break
            if instruction.keyword == "USER":
                user = instruction.arguments[0] if instruction.arguments else ""
        return user

    def workdir_at(self, line: int) -> str | None:
        """The working directory for an instruction starting at `line`; None when a variable
        makes it unknown."""
        workdir: str | None = self._base_value("WORKDIR") or "/"
        for instruction in self.instructions:
            if instruction.start_line >= line:
                break
            if instruction.keyword == "WORKDIR" and instruction.arguments:
                value = instruction.arguments[0]
                if "$" in value or workdir is None:
                    workdir = None
                else:
                    workdir = posixpath.normpath(posixpath.join(workdir, value))
        return workdir

    def shell_changed(self, instruction: Instruction) -> bool:
        """Whether its shell form is not run by `/bin/sh -c`: a SHELL instruction comes before
        it, or the image is a Windows one (cmd /S /C)."""
        return self.image.os == "windows" or any(
            other.keyword == "SHELL" and other.start_line < instruction.start_line
            for other in self.instructions)

    def has_workdir(self) -> bool:
        return any(instruction.keyword == "WORKDIR" for instruction in self.instructions)

    # --------------------------------------------------------------------- the image's files

    @property
    def files(self) -> Mapping[str, PlacedFile]:
        return self.image.files or MappingProxyType({})

    def placed(self, path: str) -> PlacedFile | None:
        """The file at an absolute or relative path of the image, through a symlinked top
        folder (a merged /usr: bin -> usr/bin)."""
        path = path.strip("/")
        found = self.files.get(path)
        if found is not None:
            return found
        top, _, rest = path.partition("/")
        link = self.files.get(top)
        if rest and link is not None and link.entry.linkname:
            target = posixpath.normpath(posixpath.join("/", link.entry.linkname)).strip("/")
            return self.files.get(f"{target}/{rest}")
        return None

    def exists(self, path: str) -> bool:
        return self.placed(path) is not None


# Instructions that change the image's files or who runs the next one: settings for the running
# container go after the last of them.
BUILD_STEPS = frozenset({"RUN", "COPY", "ADD", "USER", "WORKDIR", "ONBUILD", "SHELL", "VOLUME"})


def last_build_step(facts: Facts) -> Instruction | None:
    steps = [instruction for instruction in facts.stage.instructions
             if instruction.keyword in BUILD_STEPS]
    return steps[-1] if steps else None
