"""A registry blob read over HTTP as a stream: hashed as it is read, resumed with a Range request
when the connection breaks, and its digest (and size) checked at its end."""

from __future__ import annotations

import io
from typing import Any

import requests
import urllib3.exceptions
from urllib3.util.retry import Retry

from auditor.errors import BlobUnknown, DigestMismatch, RegistryError, RegistryUnavailable
from auditor.sources.documents import Digest
from auditor.sources.registry.session import (
    TRANSIENT,
    RegistrySession,
    error_codes,
    pull_scope,
    reason,
)
from auditor.sources.streams import CHUNK


class BlobStream(io.RawIOBase):
    """A blob's body as a raw stream, hashed as it is read, resumed with Range when the connection
    breaks. Made by RegistryClient.open_blob; `read`/`readinto` as any stream."""

    def __init__(self, http: RegistrySession, repo: str, digest: Digest,
                 size: int | None) -> None:
        self.http = http
        self.repo = repo
        self.digest = digest
        self.size = size
        self.position = 0
        self.verified = False
        self._hash = digest.hasher()
        self._what = f"blob {str(digest)[:19]} of {http.host}/{repo}"
        self._response: requests.Response | None = None
        self._retry: Retry = http.retry
        http.count(blobs=1)
        self._open()

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.position}-"} if self.position else {}
        path = f"/v2/{self.repo}/blobs/{self.digest}"
        response = self.http.request("GET", path, pull_scope(self.repo), headers=headers)
        if response.status_code == 404:
            codes = error_codes(response)
            response.close()
            raise BlobUnknown(f"registry {self.http.host} has no {self._what[:24]} "
                              f"({codes or 404}) though {self.repo}'s manifest names it")
        if self.position and response.status_code == 206:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start != str(self.position):
                response.close()
                raise RegistryUnavailable(f"registry {self.http.host} resumed {self._what} "
                                          "at the wrong offset", hint="try again later")
        elif self.position and response.status_code == 200:
            self._skip(response, self.position)  # no Range support: pass what was hashed
        else:
            try:
                self.http.expect(response, 200, self._what)
            except RegistryError:
                response.close()
                raise
        self._response = response

    def _skip(self, response: requests.Response, count: int) -> None:
        while count:
            data = response.raw.read(min(count, CHUNK), decode_content=True)
            if not data:
                break
            count -= len(data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view) or self._response is None:
            return 0
        while True:
            try:
                data = self._response.raw.read(len(view), decode_content=True)
                break
            except TRANSIENT as exc:
                self._response.close()
                self._response = None
                try:
                    # no error passed: a cut body is always resumed, and only the count of
                    # retries and the backoff between them are Retry's to keep
                    self._retry = self._retry.increment("GET", self._what)
                except urllib3.exceptions.MaxRetryError:
                    raise RegistryUnavailable(
                        f"registry {self.http.host} broke off {self._what} at byte "
                        f"{self.position} ({reason(exc)}, {len(self._retry.history) + 1} "
                        "attempts)", hint="try again later") from None
                self._retry.sleep()
                self._open()
                assert self._response is not None
        count = len(data)
        if count:
            view[:count] = data
            self._hash.update(data)
            self.position += count
            self.http.count(body=count)
            if self.size is not None and self.position > self.size:
                raise DigestMismatch(f"{self._what} is longer than the {self.size} bytes its "
                                     "descriptor says")
            return count
        self._verify()
        return 0

    def _verify(self) -> None:
        if self.verified:
            return
        if self.size is not None and self.position != self.size:
            raise DigestMismatch(f"{self._what} has {self.position} bytes, not the {self.size} "
                                 "its descriptor says")
        got = Digest(self.digest.algorithm, self._hash.hexdigest())
        if got != self.digest:
            raise DigestMismatch(f"{self._what} has digest {got}")
        self.verified = True

    def finish(self) -> None:
        """Reads what is left and checks the digest."""
        scratch = bytearray(CHUNK)
        while self.readinto(scratch):
            pass
        self._verify()

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        super().close()
