"""The error of the dockerfile package: a Dockerfile that cannot be read as one BuildKit builds."""

from __future__ import annotations

from auditor.errors import ImgauditError


class DockerfileError(ImgauditError):
    """A Dockerfile could not be read, or is not one a builder would accept; the message names
    the file and, when known, the line."""

    default_hint = (
        "check that the file builds (`docker build -f PATH .`) and that it is the Dockerfile "
        "the image was built from"
    )
