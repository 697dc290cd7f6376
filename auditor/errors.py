"""The package's own errors: the only exceptions that cross module boundaries.

Each carries a one-line message stating a fact and a hint saying what to do about it, their
control characters escaped (messages quote names and media types that registries and images
supply, and end up on terminals and in sweep databases).
"""

from __future__ import annotations

from auditor.text import printable


class ImgauditError(Exception):
    """Base of every expected failure; the CLI prints `message` and `hint` and exits 2."""

    default_hint = ""

    def __init__(self, message: str, hint: str = "") -> None:
        message = printable(message)
        super().__init__(message)
        self.message = message
        self.hint = printable(hint or self.default_hint)

    def __str__(self) -> str:
        return self.message


class SourceError(ImgauditError):
    """An image could not be read from where it was said to be."""


class DaemonUnavailable(SourceError):
    default_hint = (
        "start the engine (for example `sudo systemctl start docker` or `dockerd &`), "
        "set DOCKER_HOST, or audit a saved archive: imgaudit docker-archive:image.tar"
    )


class ImageNotFound(SourceError):
    default_hint = "check the name with `docker images`, or build or load the image first"


class ArchiveError(SourceError):
    default_hint = "write the archive again with `docker save IMAGE -o image.tar`"


class ArchiveTampered(ArchiveError):
    """What an archive or layout holds is not what it names: a blob whose bytes do not match its
    digest, a layer that unpacks to another diff_id than its config says."""

    default_hint = ("the archive was altered (or damaged) after it was written: do not trust "
                    "it; save the image again with `docker save IMAGE -o image.tar`")


class AmbiguousReference(SourceError):
    pass


class UnsupportedSource(SourceError):
    default_hint = "use NAME[:TAG], IMAGE_ID, NAME@sha256:..., or docker-archive:PATH[:REF]"


class BaseImageError(SourceError):
    default_hint = "--base must name an image whose layers begin this image's layers"


class UsageError(ImgauditError):
    """A command-line value or setting is not one imgaudit can use."""


class StoreError(ImgauditError):
    """A sweep results database cannot be opened, read or written."""

    default_hint = (
        "give the --db file a sweep wrote (`imgaudit sweep HOST --db sweep.db`), "
        "or a new path to start one"
    )


class BaselineError(ImgauditError):
    """A baseline report could not be read or is not one imgaudit can compare with."""

    default_hint = ("pass a JSON report of an earlier build, written by "
                    "`imgaudit IMAGE --format json -o baseline.json`")


class ConfigError(UsageError):
    """A policy file, or a policy option, holds a key or value imgaudit cannot use."""

    default_hint = "the README's Policy file section lists every key and its values"


class RegistryError(SourceError):
    """A registry could not give what was asked of it (see the subclasses for why)."""

    default_hint = "check the reference with `docker manifest inspect --insecure HOST/REPO:TAG`"


class InvalidReference(RegistryError):
    default_hint = (
        "write docker://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST], for example "
        "docker://registry.example.com/team/app:1 (Docker Hub: docker://registry-1.docker.io/"
        "library/NAME:TAG)"
    )


class RegistryUnavailable(RegistryError):
    default_hint = (
        "check the host and port and that the registry runs; plain HTTP is used only for "
        "loopback hosts or with --insecure"
    )


class RegistryUnauthorized(RegistryError):
    default_hint = "log in with `docker login HOST`, or pass --username USER --password-stdin"


class ManifestUnknown(RegistryError):
    default_hint = "check the repository and tag (GET /v2/REPO/tags/list lists the tags)"


class BlobUnknown(RegistryError):
    default_hint = "the registry lost a blob its manifest names: push the image again"


class DigestMismatch(RegistryError):
    default_hint = (
        "the registry (or something between it and you) served altered content: do not trust "
        "this image; push it again and check the registry's storage"
    )


class UnsupportedManifest(RegistryError):
    default_hint = "push the image again with a current Docker or buildah (Docker schema 2 or OCI)"


class NotAnImage(UnsupportedManifest):
    """What a tag names is no container image imgaudit reads: another artifact (a Helm chart, a
    signature, an attestation), a Docker schema 1 image, an index of no image. A sweep records it
    as skipped, not as a failure: sweeping again will not change it."""

    default_hint = ("imgaudit audits container images, not other artifacts (Helm charts, "
                    "signatures, attestations)")


class PlatformUnavailable(RegistryError):
    default_hint = "pick one with --platform OS/ARCH[/VARIANT], or audit each with --all-platforms"
