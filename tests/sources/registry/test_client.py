"""The registry client against the real `docker-registry` binary: catalog and tags page by page,
manifests and blobs verified, anonymous, Basic and Bearer authentication, retries on 5xx and 429,
a blob read resumed after a cut connection, and one line for every failure."""

from __future__ import annotations

import email.utils
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from auditor.errors import (
    DigestMismatch,
    ManifestUnknown,
    RegistryUnauthorized,
    RegistryUnavailable,
)
from auditor.sources.registry.auth import ANONYMOUS, Credentials
from auditor.sources.registry.client import (
    DOCKER_LIST,
    OCI_MANIFEST,
    RegistryClient,
    parse_retry_after,
)
from tests.factory import good
from tests.sources.conftest import PASSWORD, USER, PushSpec, push_image
from tests.sources.registries import (
    FlakyProxy,
    Registry,
    TokenServer,
    docker_config,
    free_port,
    sha256,
)

# --------------------------------------------------------------------------- Retry-After


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


# --------------------------------------------------------------------------- anonymous registry


@pytest.fixture(scope="module")
def listed(registry: Registry) -> dict[str, object]:
    """Seven repositories `paging/r0..r6`, and seven tags on `paging/r0`, of one tiny image."""
    spec = good()
    digest = ""
    for number in range(7):
        digest = push_image(registry, f"paging/r{number}", "t0", spec.config_document(),
                            spec.layer_tars())
    document, _ = registry.get_manifest("paging/r6", "t0")
    for number in range(1, 7):
        registry.push_manifest("paging/r6", f"t{number}", document)
    return {"digest": digest, "document": document}


def test_catalog_and_tags_page_by_page(registry: Registry, listed: dict[str, object]) -> None:
    with RegistryClient(registry.host) as client:
        everything = list(client.repositories())
        before = client.requests_sent
        paged = list(client.repositories(page_size=2))
        assert client.requests_sent - before == math.ceil(len(everything) / 2)  # Link: next
        assert paged == everything
        assert [r for r in paged if r.startswith("paging/")] == [f"paging/r{n}" for n in range(7)]
        # this registry ignores n= for tags and sends all of them, in no order: still each once
        before = client.requests_sent
        assert sorted(client.tags("paging/r6", page_size=3)) == [f"t{n}" for n in range(7)]
        assert client.requests_sent - before <= 2


def test_manifest_by_tag_and_digest(registry: Registry, listed: dict[str, object]) -> None:
    with RegistryClient(registry.host) as client:
        by_tag = client.manifest("paging/r6", "t3")
        assert by_tag.digest == listed["digest"] == sha256(by_tag.raw)
        assert by_tag.media_type == OCI_MANIFEST and not by_tag.is_index
        assert by_tag.document == listed["document"]
        assert client.manifest("paging/r6", by_tag.digest) == by_tag


def test_unknown_repository_and_tag(registry: Registry, listed: dict[str, object]) -> None:
    with RegistryClient(registry.host) as client:
        with pytest.raises(ManifestUnknown) as caught:
            client.manifest("paging/r6", "nosuch")
        assert "MANIFEST_UNKNOWN" in caught.value.message
        assert "paging/r6:nosuch" in caught.value.message
        assert "tags/list" in caught.value.hint
        with pytest.raises(ManifestUnknown) as caught:
            client.manifest("nosuch/repo", "1")
        assert f"registry {registry.host} has no image nosuch/repo:1" in caught.value.message
        with pytest.raises(ManifestUnknown):
            list(client.tags("nosuch/repo"))


def test_blobs_are_verified_and_counted(registry: Registry, listed: dict[str, object]) -> None:
    document = listed["document"]
    assert isinstance(document, dict)
    config = document["config"]
    layer = document["layers"][-1]
    with RegistryClient(registry.host) as client:
        data = client.blob("paging/r0", config["digest"])
        assert sha256(data) == config["digest"]
        assert json.loads(data)["rootfs"]["type"] == "layers"
        with client.open_blob("paging/r0", layer["digest"], layer["size"]) as stream:
            head = stream.read(10)
        assert stream.verified  # the rest was read, and checked, when the block ended
        assert len(head) == 10
        assert client.blobs_downloaded == 2
        assert client.bytes_downloaded == config["size"] + layer["size"]


def test_a_size_that_disagrees_is_a_mismatch(registry: Registry,
                                             listed: dict[str, object]) -> None:
    document = listed["document"]
    assert isinstance(document, dict)
    layer = document["layers"][0]
    client = RegistryClient(registry.host)
    with (pytest.raises(DigestMismatch),
          client.open_blob("paging/r0", layer["digest"], layer["size"] - 1) as stream):
        stream.read()


def test_altered_blobs_and_manifests_are_refused(fresh_registry: Registry,
                                                 push_spec: PushSpec) -> None:
    push_spec(fresh_registry, "app", "1", good())
    document, _ = fresh_registry.get_manifest("app", "1")
    layer = document["layers"][-1]
    path = fresh_registry.blob_file(layer["digest"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one bit pattern changed
    path.write_bytes(bytes(data))
    with RegistryClient(fresh_registry.host) as client:
        with (pytest.raises(DigestMismatch) as caught,
              client.open_blob("app", layer["digest"], layer["size"]) as stream):
            stream.read()
        assert layer["digest"][:19] in caught.value.message
        assert "do not trust" in caught.value.hint
        manifest_path = fresh_registry.blob_file(client.manifest("app", "1").digest)
        manifest_path.write_bytes(manifest_path.read_bytes().replace(b"  ", b" "))
        with pytest.raises(DigestMismatch) as caught:
            client.manifest("app", "1")
        assert "announced" in caught.value.message


def test_one_client_many_threads(registry: Registry, listed: dict[str, object]) -> None:
    document = listed["document"]
    assert isinstance(document, dict)
    digests = [layer["digest"] for layer in document["layers"]]
    with RegistryClient(registry.host) as client:

        def fetch(number: int) -> tuple[str, int]:
            repo = f"paging/r{number % 7}"
            manifest = client.manifest(repo, "t0")
            sizes = 0
            for digest in digests:
                with client.open_blob(repo, digest) as stream:
                    sizes += len(stream.read())
            return manifest.digest, sizes

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(40)))
        assert {digest for digest, _ in results} == {listed["digest"]}
        per_image = sum(layer["size"] for layer in document["layers"])
        assert all(size == per_image for _, size in results)
        assert client.bytes_downloaded == 40 * per_image
        assert client.blobs_downloaded == 40 * len(digests)


# --------------------------------------------------------------------------- failures and retries


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
    client.base_url = f"https://{registry.host}"  # as for a registry that is not on loopback
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable) as caught:
        client.manifest("app", "1")
    assert time.monotonic() - started < 1.0  # not retried
    assert "TLS with registry" in caught.value.message
    assert "--insecure" in caught.value.hint and "REQUESTS_CA_BUNDLE" in caught.value.hint


def test_server_errors_are_retried_then_succeed(registry: Registry,
                                                listed: dict[str, object]) -> None:
    proxy = FlakyProxy(registry.url, status=503, fail_times=2)
    try:
        client = RegistryClient(proxy.host, retries=3, backoff=0.01)
        assert client.manifest("paging/r1", "t0").digest == listed["digest"]
        assert [status for _, _, status in proxy.log] == [503, 503, 200]
    finally:
        proxy.stop()


def test_too_many_requests_waits_as_retry_after_says(registry: Registry,
                                                     listed: dict[str, object]) -> None:
    proxy = FlakyProxy(registry.url, status=429, fail_times=1, retry_after="1")
    try:
        client = RegistryClient(proxy.host, retries=2, backoff=0.0)
        started = time.monotonic()
        assert client.manifest("paging/r2", "t0").digest == listed["digest"]
        assert time.monotonic() - started >= 1.0
    finally:
        proxy.stop()


def test_errors_after_the_last_retry(registry: Registry, listed: dict[str, object]) -> None:
    proxy = FlakyProxy(registry.url, status=500, fail_times=99)
    try:
        client = RegistryClient(proxy.host, retries=2, backoff=0.0)
        with pytest.raises(RegistryUnavailable) as caught:
            client.manifest("paging/r3", "t0")
        assert "answered 500" in caught.value.message and "3 times" in caught.value.message
        assert len(proxy.log) == 3
    finally:
        proxy.stop()


def test_a_cut_blob_resumes_with_range(registry: Registry) -> None:
    blob = os.urandom(300_000)
    digest = registry.push_blob("paging/big", blob)
    proxy = FlakyProxy(registry.url, cut_after=100_000)
    try:
        client = RegistryClient(proxy.host, retries=2, backoff=0.0)
        with client.open_blob("paging/big", digest, len(blob)) as stream:
            chunks = []
            while chunk := stream.read(4096):
                chunks.append(chunk)
        assert b"".join(chunks) == blob
        ranges = [rng for path, rng, _ in proxy.log if digest in path]
        assert len(ranges) == 2 and ranges[0] == ""
        start = int(ranges[1].removeprefix("bytes=").rstrip("-"))
        assert 0 < start <= 100_000  # what arrived before the cut is not fetched again
        assert client.bytes_downloaded == len(blob)
        assert client.blobs_downloaded == 1
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- Basic auth


@pytest.fixture(scope="module")
def basic_image(basic_registry: Registry) -> str:
    spec = good()
    return push_image(basic_registry, "team/app", "1", spec.config_document(), spec.layer_tars())


def test_basic_auth(basic_registry: Registry, basic_image: str) -> None:
    right = Credentials(USER, PASSWORD, source="test")
    with RegistryClient(basic_registry.host, credentials=right) as client:
        assert client.manifest("team/app", "1").digest == basic_image
        sent = client.requests_sent
        client.manifest("team/app", "1")
        assert client.requests_sent == sent + 1  # Basic is sent unasked once learnt
        assert "team/app" in list(client.repositories())
    for credentials, why in ((ANONYMOUS, "needs credentials"),
                             (Credentials(USER, "wrong-" + PASSWORD, source="test"),
                              "refused the credentials")):
        client = RegistryClient(basic_registry.host, credentials=credentials, retries=0)
        with pytest.raises(RegistryUnauthorized) as caught:
            client.manifest("team/app", "1")
        assert why in caught.value.message and basic_registry.host in caught.value.message
        assert f"docker login {basic_registry.host}" in caught.value.hint
        assert PASSWORD not in f"{caught.value.message} {caught.value.hint}"


def test_basic_auth_from_the_docker_config(basic_registry: Registry, basic_image: str,
                                           tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(
        tmp_path, {"auths": {f"http://{basic_registry.host}": {"auth": auth}}})))
    with RegistryClient(basic_registry.host) as client:
        assert client.manifest("team/app", "1").digest == basic_image
        assert str(tmp_path) in client.auth.credentials.source


# --------------------------------------------------------------------------- Bearer tokens


@pytest.fixture(scope="module")
def token_image(token_registry: Registry) -> str:
    spec = good()
    return push_image(token_registry, "team/app", "1", spec.config_document(), spec.layer_tars())


def test_bearer_tokens_fetched_once_per_scope(token_registry: Registry, token_image: str,
                                              token_server: TokenServer) -> None:
    token_server.requests.clear()
    credentials = Credentials(USER, PASSWORD, source="test")
    with RegistryClient(token_registry.host, credentials=credentials) as client:
        manifest = client.manifest("team/app", "1")
        assert manifest.digest == token_image
        config = manifest.document["config"]
        assert sha256(client.blob("team/app", config["digest"])) == config["digest"]
        client.manifest("team/app", "1")
        assert "team/app" in list(client.repositories())
    # one token for the repository (three requests), one for the catalog; both with credentials
    assert token_server.requests == [("repository:team/app:pull", True),
                                     ("registry:catalog:*", True)]


def test_bearer_refusals(token_registry: Registry, token_image: str,
                         token_server: TokenServer) -> None:
    # anonymous: the token server grants nothing, the registry refuses the empty token
    client = RegistryClient(token_registry.host, credentials=ANONYMOUS, retries=0)
    with pytest.raises(RegistryUnauthorized) as caught:
        client.manifest("team/app", "1")
    assert "needs credentials" in caught.value.message
    wrong = Credentials(USER, "not-the-password", source="--username")
    client = RegistryClient(token_registry.host, credentials=wrong, retries=0)
    with pytest.raises(RegistryUnauthorized) as caught:
        client.manifest("team/app", "1")
    text = f"{caught.value.message} {caught.value.hint}"
    assert "token server" in text and "refused the credentials" in text
    assert "--username" in text and "not-the-password" not in text
    assert not any(token in text for token in token_server.issued)


def test_a_plain_http_token_server_gets_no_credentials_unless_loopback() -> None:
    from auditor.sources.registry.auth import Authenticator

    authenticator = Authenticator("reg.example.com", Credentials(USER, PASSWORD))

    def send(*args: object, **kwargs: object) -> object:
        raise AssertionError("must not be called")

    with pytest.raises(RegistryUnauthorized) as caught:
        authenticator.answer('Bearer realm="http://auth.example.com/token",service="x"',
                             "repository:a:pull", send)  # type: ignore[arg-type]
    assert "plain-HTTP token server" in caught.value.message


def test_manifest_lists_say_they_are_indexes(registry: Registry,
                                             listed: dict[str, object]) -> None:
    document = listed["document"]
    assert isinstance(document, dict)
    raw = json.dumps(document, indent=2).encode()
    registry.push_manifest("paging/r5", "list", {
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(raw), "size": len(raw),
                       "platform": {"os": "linux", "architecture": "amd64"}}]})
    with RegistryClient(registry.host) as client:
        listing = client.manifest("paging/r5", "list")
    assert listing.is_index and listing.media_type == DOCKER_LIST

