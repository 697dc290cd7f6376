"""A blob stream from a real registry container, through the fault proxy: a read cut short is
resumed with a Range request and the whole blob verified."""

from __future__ import annotations

import pytest

from auditor.sources.registry.client import RegistryClient
from tests.support.faultproxy import FaultKind, FaultProxy
from tests.support.registry_env import UploadedImage, parsed, sha256

pytestmark = pytest.mark.engine


def test_a_cut_blob_resumes_with_range(fault_proxy: FaultProxy,
                                       oci_zstd_image: UploadedImage) -> None:
    layer = max(oci_zstd_image.layers, key=lambda item: item.size)
    keep = layer.size // 3
    assert keep > 100_000  # enough that the cut comes mid-stream
    fault_proxy.add(FaultKind.TRUNCATE, f"/blobs/{layer.digest}", method="GET", nth=1,
                    keep=keep)
    client = RegistryClient(fault_proxy.host, retries=2, backoff=0.0)
    with client.open_blob(oci_zstd_image.repository, parsed(layer.digest), layer.size) as stream:
        chunks = []
        while chunk := stream.read(4096):
            chunks.append(chunk)
    data = b"".join(chunks)
    assert len(data) == layer.size and sha256(data) == layer.digest
    gets = fault_proxy.matching(layer.digest, method="GET")
    assert [(e.fault, e.completed) for e in gets] == [(FaultKind.TRUNCATE, False), (None, True)]
    assert gets[0].range is None and gets[1].range is not None
    start = int(gets[1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= keep  # what arrived before the cut is not fetched again
    assert client.bytes_downloaded == layer.size
    assert client.blobs_downloaded == 1
