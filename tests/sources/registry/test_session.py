"""The registry session's HTTP against real registry containers and the fault proxy: Retry-After
read, 5xx and 429 retried, TLS and connection failures one line with a hint, and an error or
retried answer (or an overlong page of names) read no further than needed."""

from __future__ import annotations

import email.utils
import time

import pytest

from auditor.errors import (
    BlobUnknown,
    ManifestUnknown,
    RegistryError,
    RegistryUnauthorized,
    RegistryUnavailable,
)
from auditor.sources.registry.client import MAX_PAGE, RegistryClient
from auditor.sources.registry.session import parse_retry_after
from tests.support.faultproxy import FaultKind, FaultProxy
from tests.support.registry_env import Registry, UploadedImage, free_port, parsed

pytestmark = pytest.mark.engine


def test_retry_after_seconds_and_dates() -> None:
    now = time.time()
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-3") == 0.0
    future = email.utils.formatdate(now + 10, usegmt=True)
    assert 8.5 <= (parse_retry_after(future, now) or 0) <= 10.5
    past = email.utils.formatdate(now - 100, usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_registry_down_is_one_line_with_a_hint() -> None:
    client = RegistryClient(f"127.0.0.1:{free_port()}", retries=2, backoff=0.01)
    with pytest.raises(RegistryUnavailable) as caught:
        client.manifest("app", "1")
    assert "connection refused" in caught.value.message
    assert "3 attempts" in caught.value.message
    assert "\n" not in caught.value.message
    assert "registry runs" in caught.value.hint
    assert client.requests_sent == 3


def test_tls_to_a_plain_http_registry_fails_at_once_with_a_hint(registry: Registry) -> None:
    client = RegistryClient(registry.host, retries=3, backoff=1.0)
    client.http.base_url = f"https://{registry.host}"  # as for a registry that is not on loopback
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable) as caught:
        client.manifest("app", "1")
    assert time.monotonic() - started < 1.0  # not retried
    assert "TLS with registry" in caught.value.message
    assert "--insecure" in caught.value.hint and "REQUESTS_CA_BUNDLE" in caught.value.hint


def test_server_errors_are_retried_then_succeed(fault_proxy: FaultProxy,
                                                oci_zstd_image: UploadedImage) -> None:
    fault_proxy.add("500", r"/manifests/", status=503, times=2)
    client = RegistryClient(fault_proxy.host, retries=3, backoff=0.01)
    image = oci_zstd_image
    assert client.manifest(image.repository, image.tag or "").digest == image.digest
    assert [e.status for e in fault_proxy.exchanges] == [503, 503, 200]


def test_too_many_requests_waits_as_retry_after_says(fault_proxy: FaultProxy,
                                                     oci_zstd_image: UploadedImage) -> None:
    fault_proxy.add("429", r"/manifests/", nth=1, retry_after=1)
    client = RegistryClient(fault_proxy.host, retries=2, backoff=0.0)
    image = oci_zstd_image
    started = time.monotonic()
    assert client.manifest(image.repository, image.tag or "").digest == image.digest
    assert time.monotonic() - started >= 1.0
    assert [e.status for e in fault_proxy.exchanges] == [429, 200]


def test_errors_after_the_last_retry(fault_proxy: FaultProxy,
                                     oci_zstd_image: UploadedImage) -> None:
    fault_proxy.add("500", r"/manifests/")
    client = RegistryClient(fault_proxy.host, retries=2, backoff=0.0)
    with pytest.raises(RegistryUnavailable) as caught:
        client.manifest(oci_zstd_image.repository, oci_zstd_image.tag or "")
    assert "answered 500" in caught.value.message and "3 times" in caught.value.message
    assert len(fault_proxy.exchanges) == 3


# An answer far larger than anything a client needs to read of it (and than socket buffers).
FLOOD = 64 * 1024 * 1024


def test_an_error_answer_is_read_only_for_its_error_codes(fault_proxy: FaultProxy) -> None:
    """404, 403 and 400 answers, to manifest and blob requests, each with a 64 MiB body: the
    client reads the error codes at its start and hangs up."""
    for path, status in (("/manifests/flooded$", 404), ("/manifests/refused$", 403),
                         ("/manifests/odd$", 400), ("/blobs/", 404)):
        fault_proxy.add(FaultKind.FLOOD, path, status=status, size=FLOOD)
    client = RegistryClient(fault_proxy.host, retries=0)
    with pytest.raises(ManifestUnknown, match=r"\(UNKNOWN\)"):
        client.manifest("app", "flooded")
    with pytest.raises(RegistryUnauthorized, match="UNKNOWN"):
        client.manifest("app", "refused")
    with pytest.raises(RegistryError, match=r"answered 400 \(UNKNOWN\)"):
        client.manifest("app", "odd")
    with pytest.raises(BlobUnknown, match="UNKNOWN"):
        client.blob("app", parsed("sha256:" + "0" * 64))
    exchanges = fault_proxy.exchanges
    assert [e.status for e in exchanges] == [404, 403, 400, 404]
    assert not any(e.completed for e in exchanges)  # no client read a whole answer


def test_a_retried_answer_is_not_read(fault_proxy: FaultProxy,
                                      oci_zstd_image: UploadedImage) -> None:
    """A 503 with a 64 MiB body is hung up on and the request tried again, not read to its end
    first."""
    fault_proxy.add(FaultKind.FLOOD, r"/manifests/", status=503, size=FLOOD, times=1)
    client = RegistryClient(fault_proxy.host, retries=1, backoff=0.0)
    image = oci_zstd_image
    assert client.manifest(image.repository, image.tag or "").digest == image.digest
    assert [(e.status, e.completed) for e in fault_proxy.exchanges] == [(503, False), (200, True)]
    assert client.requests_sent == 2


def test_a_page_of_names_has_a_size_limit(fault_proxy: FaultProxy) -> None:
    """A catalog or tag-list page is read up to MAX_PAGE (16 MiB): a larger one is one error
    with a hint, read no further; a large one under the limit is read."""
    fault_proxy.add(FaultKind.FLOOD, r"/v2/_catalog\?n=5$", status=200, size=4 * 1024 * 1024,
                    body=b'{"repositories": ["big/app"]}')
    fault_proxy.add(FaultKind.FLOOD, r"/v2/_catalog", status=200, size=FLOOD,
                    body=b'{"repositories": ["a"]}')
    fault_proxy.add(FaultKind.FLOOD, r"/tags/list", status=200, size=FLOOD,
                    body=b'{"name": "a", "tags": ["1"]}')
    client = RegistryClient(fault_proxy.host, retries=0)
    assert list(client.repositories(page_size=5)) == ["big/app"]
    with pytest.raises(RegistryError, match=f"a page of the catalog .* is over {MAX_PAGE} "
                                            "bytes") as caught:
        list(client.repositories())
    assert "registry" in caught.value.hint
    with pytest.raises(RegistryError, match=f"a page of repository a .* is over {MAX_PAGE}"):
        list(client.tags("a"))
    assert [e.completed for e in fault_proxy.exchanges] == [True, False, False]
