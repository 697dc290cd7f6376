"""From a built image back to its Dockerfile: parse the Dockerfile, match its final stage with the
image's history, and tell which line made each step and set each config value.

    dockerfile = read_dockerfile("Dockerfile")
    mapping = match_image(dockerfile, image)      # or match_history(dockerfile, image.history)
    if isinstance(mapping, Mismatch):
        warn(str(mapping))                        # one line; map nothing
    else:
        mapping.instruction_for_step(5)           # Instruction: path, start_line, end_line, ...
        mapping.config_source(ConfigField.USER)   # the USER line, or the stage's FROM line

An audit reads the Dockerfile once (open_dockerfile, or find_dockerfile for ./Dockerfile),
matches it with each image (match_choice) and places each finding with locate().
"""

from __future__ import annotations

from auditor.dockerfile.choice import (
    DockerfileChoice,
    find_dockerfile,
    match_choice,
    open_dockerfile,
    shown_path,
)
from auditor.dockerfile.errors import DockerfileError
from auditor.dockerfile.locate import locate
from auditor.dockerfile.match import detect_dockerfile, match_history, match_image
from auditor.dockerfile.model import (
    Builder,
    ConfigField,
    Dockerfile,
    DockerfileMapping,
    Heredoc,
    Instruction,
    Mismatch,
    Stage,
)
from auditor.dockerfile.parse import parse_dockerfile, read_dockerfile

__all__ = [
    "Builder",
    "ConfigField",
    "Dockerfile",
    "DockerfileChoice",
    "DockerfileError",
    "DockerfileMapping",
    "Heredoc",
    "Instruction",
    "Mismatch",
    "Stage",
    "detect_dockerfile",
    "find_dockerfile",
    "locate",
    "match_choice",
    "match_history",
    "match_image",
    "open_dockerfile",
    "parse_dockerfile",
    "read_dockerfile",
    "shown_path",
]
