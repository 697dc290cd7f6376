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

EXPORT_CHUNK = 1 << 20


def engine_host() -> str:
    """Where the engine is reached: DOCKER_HOST, or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout: int = 120) -> Any:
    """A client for the engine DOCKER_HOST names (or the default socket), checked to answer."""
    host = engine_host()
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise DaemonUnavailable(
            f"cannot reach the Docker engine at {host} ({_reason(exc)})"
        ) from exc
    return client


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
    """One Docker engine; `client` connects on first use (DaemonUnavailable when it cannot)."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client
        self._info: dict[str, Any] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

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
            raise ImageNotFound(f"no image named {ref} in the Docker engine") from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                raise ImageNotFound(f"no image named {ref} in the Docker engine") from exc
            raise SourceError(f"the engine refused to inspect {ref}: {exc.explanation}") from exc
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise DaemonUnavailable(
                f"the Docker engine stopped answering ({_reason(exc)})"
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
