"""The Docker Engine API, connected on first use: inspect, history, the list of local images and
an image's export, each failure one of imgaudit's errors with the engine's reason in a few words."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests

from auditor.errors import DaemonUnavailable, ImageNotFound, ImgauditError, SourceError
from auditor.sources.sockets import Endpoint, Engines, locate

EXPORT_CHUNK = 1 << 20
PODMAN_NOT_FOUND = ("check the name with `podman images`: podman names what it loads or builds "
                    "without a registry localhost/NAME")


def connect(timeout: int = 120, engines: Engines = Engines.ANY) -> tuple[Any, Endpoint]:
    """A client for the engine sockets.locate finds (DOCKER_HOST, else the first usual socket
    that answers), checked to answer, and where it is."""
    endpoint = locate(engines, os.environ)
    try:
        client = docker.from_env(timeout=timeout, environment=endpoint.environment(os.environ))
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise DaemonUnavailable(
            f"cannot reach {endpoint.name} at {endpoint.url} ({_reason(exc)})", endpoint.hint
        ) from exc
    return client, endpoint


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied",
                   "timed out", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return (text.splitlines() or [type(exc).__name__])[0][:100]


class _ChunkReader(io.RawIOBase):
    """The export's chunk iterator as a raw stream: readinto copies each chunk once, in place."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._chunk:
                self._chunk = memoryview(next(self._chunks, b""))
                if not self._chunk:
                    break
            count = min(len(view) - filled, len(self._chunk))
            view[filled : filled + count] = self._chunk[:count]
            self._chunk = self._chunk[count:]
            filled += count
        return filled


class Engine:
    """One engine, Docker or podman (`engines`); `client` connects on first use
    (DaemonUnavailable when it cannot)."""

    def __init__(self, client: Any | None = None, engines: Engines = Engines.ANY) -> None:
        self._client = client
        self.engines = engines
        self.endpoint: Endpoint | None = None  # where it answered, once connected
        self._info: dict[str, Any] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client, self.endpoint = connect(engines=self.engines)
        return self._client

    @property
    def name(self) -> str:
        """How messages call it: "the Docker engine", or "podman" once podman answered."""
        return self.endpoint.name if self.endpoint else self.engines.value

    def _not_found(self, ref: str) -> ImageNotFound:
        podman = self.endpoint is not None and self.endpoint.is_podman
        return ImageNotFound(f"no image named {ref} in {self.name}", PODMAN_NOT_FOUND if podman
                             else "")

    def reachable(self) -> bool:
        """Whether the engine answers (connecting to it if not yet connected)."""
        try:
            self.client  # noqa: B018 - connects
        except ImgauditError:
            return False
        return True

    def inspect(self, ref: str) -> dict[str, Any]:
        try:
            return dict(self.client.api.inspect_image(ref))
        except docker.errors.ImageNotFound as exc:
            raise self._not_found(ref) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                raise self._not_found(ref) from exc
            raise SourceError(f"the engine refused to inspect {ref}: {exc.explanation}") from exc
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise DaemonUnavailable(
                f"{self.name} stopped answering ({_reason(exc)})"
            ) from exc

    def info(self) -> dict[str, Any]:
        """`docker info`: the storage driver, DockerRootDir, security options; asked once."""
        if self._info is None:
            try:
                self._info = dict(self.client.info())
            except (docker.errors.DockerException, requests.RequestException) as exc:
                raise SourceError(f"the engine gave no info ({_reason(exc)})") from exc
        return self._info

    def history(self, ref: str) -> list[dict[str, Any]]:
        try:
            return list(self.client.api.history(ref))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SourceError(f"the engine gave no history for {ref} ({_reason(exc)})") from exc

    def image_ids(self) -> list[str]:
        """Every local image's ID, as the engine lists them (newest first)."""
        try:
            return [str(summary["Id"]) for summary in self.client.api.images()]
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SourceError(f"the engine did not list its images ({_reason(exc)})") from exc

    @contextmanager
    def export(self, image_id: str, label: str) -> Iterator[io.RawIOBase]:
        """The image's `docker save` archive (`GET /images/{name}/get`) as a stream read once;
        a failure while it is read, in the block too, is a SourceError naming `label`."""
        try:
            response = self.client.api.get_image(image_id, chunk_size=EXPORT_CHUNK)
            yield _ChunkReader(iter(response))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SourceError(f"{label} failed ({_reason(exc)})") from exc
