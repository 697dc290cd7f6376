"""Which Dockerfile an audit locates findings on: one named with --dockerfile, or ./Dockerfile
found in the working directory; and what came of matching it with each image. A named one that
does not match is reported; a found one that does not match changes nothing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from auditor.dockerfile.errors import DockerfileError
from auditor.dockerfile.match import match_image
from auditor.dockerfile.model import Dockerfile, DockerfileMapping, Mismatch
from auditor.dockerfile.parse import read_dockerfile
from auditor.model.image import Image
from auditor.model.report import DockerfileMatch

DEFAULT_NAME = "Dockerfile"


@dataclass(frozen=True, slots=True)
class DockerfileChoice:
    """A Dockerfile to locate an image's findings on, read once for every image."""

    dockerfile: Dockerfile  # its path as findings show it (see shown_path)
    detected: bool = False  # found in the working directory: used only where it matches
    root: str = ""  # the absolute folder a relative path starts from


def shown_path(path: Path | str, cwd: Path | None = None) -> tuple[str, str]:
    """How findings name a Dockerfile, and the folder that name starts from: relative to the
    working directory when the file is inside it (`./Dockerfile` as `Dockerfile`), else absolute
    with no folder. Always with forward slashes, as SARIF and GitHub want."""
    here = Path(os.path.normpath(cwd or Path.cwd()))
    absolute = Path(os.path.normpath(here / path))
    try:
        return absolute.relative_to(here).as_posix(), str(here)
    except ValueError:
        return absolute.as_posix(), ""


def open_dockerfile(path: Path | str, cwd: Path | None = None) -> DockerfileChoice:
    """The Dockerfile named on the command line; DockerfileError when it cannot be read or would
    not build."""
    shown, root = shown_path(path, cwd)
    dockerfile = read_dockerfile((cwd or Path.cwd()) / path, shown)
    return DockerfileChoice(dockerfile, detected=False, root=root)


def find_dockerfile(cwd: Path | None = None) -> DockerfileChoice | None:
    """./Dockerfile when it exists and reads as a Dockerfile; None otherwise. Never raises: a
    file that is not the image's Dockerfile must change nothing."""
    here = cwd or Path.cwd()
    if not (here / DEFAULT_NAME).is_file():
        return None
    try:
        choice = open_dockerfile(DEFAULT_NAME, here)
    except DockerfileError:
        return None
    return DockerfileChoice(choice.dockerfile, detected=True, root=choice.root)


def match_choice(choice: DockerfileChoice, image: Image
                 ) -> tuple[DockerfileMapping | None, DockerfileMatch | None]:
    """The mapping to locate the image's findings with (None: locate none), and what to tell
    the reader: a named Dockerfile that matches or not, a found one only when it matches."""
    path = choice.dockerfile.path
    try:
        result = match_image(choice.dockerfile, image)
    except DockerfileError as exc:  # an instruction a build could not expand either
        result = Mismatch(path, exc.message)
    if isinstance(result, Mismatch):
        if choice.detected:
            return None, None
        return None, DockerfileMatch(path, reason=result.reason, root=choice.root)
    return result, DockerfileMatch(path, detected=choice.detected, root=choice.root)
