"""Where a finding is in a Dockerfile that matched its image: the line that made the history step
it is about, or that set the config value it is about (the FROM line when none did)."""

from __future__ import annotations

from auditor.dockerfile.model import ConfigField, DockerfileMapping, Instruction
from auditor.model.findings import SourceLocation, Subject, SubjectKind
from auditor.model.image import Origin

_FIELDS: dict[SubjectKind, ConfigField] = {
    SubjectKind.USER: ConfigField.USER,
    SubjectKind.WORKDIR: ConfigField.WORKDIR,
    SubjectKind.CMD: ConfigField.CMD,
    SubjectKind.ENTRYPOINT: ConfigField.ENTRYPOINT,
    SubjectKind.EXPOSED_PORTS: ConfigField.EXPOSED_PORTS,
    SubjectKind.ENV: ConfigField.ENV,
    SubjectKind.LABELS: ConfigField.LABELS,
    SubjectKind.HEALTHCHECK: ConfigField.HEALTHCHECK,
    SubjectKind.VOLUMES: ConfigField.VOLUMES,
}


def _instruction(mapping: DockerfileMapping, step: int | None, subject: Subject | None
                 ) -> Instruction | None:
    # A config value's setter says more than a step: "USER root" inherited from the base is
    # fixed on the FROM line, not on the base image's USER step.
    if subject is not None:
        if subject.kind is SubjectKind.BASE_IMAGE:
            return mapping.from_line
        return mapping.config_source(_FIELDS[subject.kind], subject.key)
    if step is not None:
        return mapping.instruction_for_step(step)
    return None


def locate(mapping: DockerfileMapping, origin: Origin, step: int | None,
           subject: Subject | None) -> SourceLocation | None:
    """The lines of the instruction a finding is about; None for a finding the base image
    brought (its line is in the base image's Dockerfile, not this one), one about a step no
    instruction made (a base image's step, a `docker build --label`), or one about neither a
    step nor a config value (the image's total size)."""
    if origin is Origin.BASE:
        return None
    instruction = _instruction(mapping, step, subject)
    if instruction is None:
        return None
    return SourceLocation(instruction.path, instruction.start_line, instruction.end_line,
                          instruction.summary())
