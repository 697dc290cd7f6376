"""The registry client against the real registry containers of tests/registry_env.py: catalog
and tags page by page, manifests and blobs verified, anonymous, Basic and Bearer authentication,
and one line for every failure (retries: test_session.py; a cut blob resumed: test_blobs.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import DigestMismatch, ManifestUnknown, RegistryUnauthorized
from auditor.sources.documents import DOCKER_LIST, OCI_MANIFEST
from auditor.sources.registry.auth import ANONYMOUS, Authenticator, Credentials
from auditor.sources.registry.client import RegistryClient
from tests.support.dockerconfig import docker_config
from tests.support.factory import good
from tests.support.registry_env import (
    MultiPlatform,
    Registry,
    RegistryFactory,
    UploadedImage,
    parsed,
    sha256,
    upload_spec,
)

pytestmark = pytest.mark.engine

# --------------------------------------------------------------------------- anonymous registry


@dataclass(frozen=True)
class Listed:
    digest: str                # of the image's manifest, in every repository
    document: dict[str, Any]   # the manifest


@pytest.fixture(scope="module")
def listed(scratch_registry: Registry) -> Listed:
    """Seven repositories `paging/r0..r6` of one tiny image, and seven tags t0..t6 on
    `paging/r6`, in the scratch registry."""
    spec = good()
    for number in range(7):
        image = upload_spec(scratch_registry, f"paging/r{number}", "t0", spec)
    for number in range(1, 7):
        scratch_registry.api.retag("paging/r6", "t0", f"t{number}")
    body, _, _ = scratch_registry.api.manifest("paging/r6", "t0")
    return Listed(image.digest, json.loads(body))


def test_catalog_and_tags_page_by_page(scratch_registry: Registry, listed: Listed) -> None:
    with RegistryClient(scratch_registry.host) as client:
        everything = list(client.repositories())
        before = client.requests_sent
        paged = list(client.repositories(page_size=2))
        # Link: next on every full page, so a last page that is full asks for one more, empty
        assert client.requests_sent - before == len(everything) // 2 + 1
        assert paged == everything
        assert [r for r in paged if r.startswith("paging/")] == [f"paging/r{n}" for n in range(7)]
        # this registry ignores n= for tags and sends all of them, in no order: still each once
        before = client.requests_sent
        assert sorted(client.tags("paging/r6", page_size=3)) == [f"t{n}" for n in range(7)]
        assert client.requests_sent - before <= 2


def test_manifest_by_tag_and_digest(scratch_registry: Registry, listed: Listed) -> None:
    with RegistryClient(scratch_registry.host) as client:
        by_tag = client.manifest("paging/r6", "t3")
        assert by_tag.digest == listed.digest == sha256(by_tag.raw)
        assert by_tag.media_type == OCI_MANIFEST and not by_tag.is_index
        assert by_tag.document == listed.document
        assert client.manifest("paging/r6", parsed(by_tag.digest)) == by_tag


def test_unknown_repository_and_tag(scratch_registry: Registry, listed: Listed) -> None:
    with RegistryClient(scratch_registry.host) as client:
        with pytest.raises(ManifestUnknown) as caught:
            client.manifest("paging/r6", "nosuch")
        assert "MANIFEST_UNKNOWN" in caught.value.message
        assert "paging/r6:nosuch" in caught.value.message
        assert "tags/list" in caught.value.hint
        with pytest.raises(ManifestUnknown) as caught:
            client.manifest("nosuch/repo", "1")
        assert (f"registry {scratch_registry.host} has no image nosuch/repo:1"
                in caught.value.message)
        with pytest.raises(ManifestUnknown):
            list(client.tags("nosuch/repo"))


def test_blobs_are_verified_and_counted(scratch_registry: Registry, listed: Listed) -> None:
    config = listed.document["config"]
    layer = listed.document["layers"][-1]
    with RegistryClient(scratch_registry.host) as client:
        data = client.blob("paging/r0", parsed(config["digest"]))
        assert sha256(data) == config["digest"]
        assert json.loads(data)["rootfs"]["type"] == "layers"
        with client.open_blob("paging/r0", parsed(layer["digest"]), layer["size"]) as stream:
            head = stream.read(10)
        assert stream.verified  # the rest was read, and checked, when the block ended
        assert len(head) == 10
        assert client.blobs_downloaded == 2
        assert client.bytes_downloaded == config["size"] + layer["size"]


def test_a_size_that_disagrees_is_a_mismatch(scratch_registry: Registry, listed: Listed) -> None:
    layer = listed.document["layers"][0]
    client = RegistryClient(scratch_registry.host)
    with (pytest.raises(DigestMismatch),
          client.open_blob("paging/r0", parsed(layer["digest"]), layer["size"] - 1) as stream):
        stream.read()


def test_altered_blobs_and_manifests_are_refused(fresh_registry: Registry) -> None:
    image = upload_spec(fresh_registry, "app", "1", good())
    layer = image.layers[-1]
    path = fresh_registry.blob_file(layer.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one bit pattern changed
    path.write_bytes(bytes(data))
    with RegistryClient(fresh_registry.host) as client:
        with (pytest.raises(DigestMismatch) as caught,
              client.open_blob("app", parsed(layer.digest), layer.size) as stream):
            stream.read()
        assert layer.digest[:19] in caught.value.message
        assert "do not trust" in caught.value.hint
        manifest_path = fresh_registry.blob_file(client.manifest("app", "1").digest)
        stored = manifest_path.read_bytes()
        manifest_path.write_bytes(stored.replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
        with pytest.raises(DigestMismatch) as caught:
            client.manifest("app", "1")
        assert "announced" in caught.value.message


def test_one_client_many_threads(scratch_registry: Registry, listed: Listed) -> None:
    digests = [layer["digest"] for layer in listed.document["layers"]]
    with RegistryClient(scratch_registry.host) as client:

        def fetch(number: int) -> tuple[str, int]:
            repo = f"paging/r{number % 7}"
            manifest = client.manifest(repo, "t0")
            sizes = 0
            for digest in digests:
                with client.open_blob(repo, parsed(digest)) as stream:
                    sizes += len(stream.read())
            return manifest.digest, sizes

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(40)))
        assert {digest for digest, _ in results} == {listed.digest}
        per_image = sum(layer["size"] for layer in listed.document["layers"])
        assert all(size == per_image for _, size in results)
        assert client.bytes_downloaded == 40 * per_image
        assert client.blobs_downloaded == 40 * len(digests)


def test_manifest_lists_say_they_are_indexes(registry: Registry,
                                             multiplatform_image: MultiPlatform) -> None:
    listing = multiplatform_image.docker
    with RegistryClient(registry.host) as client:
        found = client.manifest(listing.repository, listing.tag)
    assert found.is_index and found.media_type == DOCKER_LIST
    assert found.digest == listing.digest


# --------------------------------------------------------------------------- Basic auth


def test_basic_auth(auth_registry: Registry, private_image: UploadedImage) -> None:
    assert auth_registry.auth is not None
    user, password = auth_registry.auth
    repository = private_image.repository
    right = Credentials(user, password, source="test")
    with RegistryClient(auth_registry.host, credentials=right) as client:
        assert client.manifest(repository, "1").digest == private_image.digest
        sent = client.requests_sent
        client.manifest(repository, "1")
        assert client.requests_sent == sent + 1  # Basic is sent unasked once learnt
        assert repository in list(client.repositories())
    for credentials, why in ((ANONYMOUS, "needs credentials"),
                             (Credentials(user, "wrong-" + password, source="test"),
                              "refused the credentials")):
        client = RegistryClient(auth_registry.host, credentials=credentials, retries=0)
        with pytest.raises(RegistryUnauthorized) as caught:
            client.manifest(repository, "1")
        assert why in caught.value.message and auth_registry.host in caught.value.message
        assert f"docker login {auth_registry.host}" in caught.value.hint
        assert password not in f"{caught.value.message} {caught.value.hint}"


def test_basic_auth_from_the_docker_config(auth_registry: Registry, private_image: UploadedImage,
                                           tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert auth_registry.auth is not None
    auth = base64.b64encode(":".join(auth_registry.auth).encode()).decode()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(
        tmp_path, {"auths": {f"http://{auth_registry.host}": {"auth": auth}}})))
    with RegistryClient(auth_registry.host) as client:
        assert client.manifest(private_image.repository, "1").digest == private_image.digest
        assert str(tmp_path) in client.http.auth.credentials.source


# --------------------------------------------------------------------------- Bearer tokens


def test_bearer_tokens_fetched_once_per_scope(token_registry: Registry,
                                              token_image: UploadedImage) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.auth is not None
    user, password = token_registry.auth
    repository = token_image.repository
    before = len(server.requests)
    with RegistryClient(token_registry.host,
                        credentials=Credentials(user, password, source="test")) as client:
        manifest = client.manifest(repository, "1")
        assert manifest.digest == token_image.digest
        config = manifest.document["config"]
        assert sha256(client.blob(repository, parsed(config["digest"]))) == config["digest"]
        client.manifest(repository, "1")
        assert repository in list(client.repositories())
    # one token for the repository (three requests), one for the catalog; both with credentials
    assert [(r.account, r.scopes, r.status) for r in server.requests[before:]] == [
        (user, (f"repository:{repository}:pull",), 200), (user, ("registry:catalog:*",), 200)]


def test_bearer_refusals(token_registry: Registry, token_image: UploadedImage) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.auth is not None
    user, password = token_registry.auth
    # anonymous: the token server gives no token to anonymous clients
    client = RegistryClient(token_registry.host, credentials=ANONYMOUS, retries=0)
    with pytest.raises(RegistryUnauthorized) as caught:
        client.manifest(token_image.repository, "1")
    assert "needs credentials" in caught.value.message
    wrong = Credentials(user, "not-the-password", source="--username")
    client = RegistryClient(token_registry.host, credentials=wrong, retries=0)
    with pytest.raises(RegistryUnauthorized) as caught:
        client.manifest(token_image.repository, "1")
    text = f"{caught.value.message} {caught.value.hint}"
    assert "token server" in text and "refused the credentials" in text
    assert "--username" in text and "not-the-password" not in text and password not in text
    assert server.issued and not any(token in text for token in server.issued)


@pytest.fixture(scope="module")
def public_registry(registry_factory: RegistryFactory) -> Iterator[tuple[Registry, UploadedImage]]:
    """A bearer-token registry whose token server gives anonymous clients pull-only tokens (none
    for the catalog), and one image in it."""
    public = registry_factory.token("token-public", anonymous=True)
    try:
        yield public, upload_spec(public, "team/app", "1", good())
    finally:
        registry_factory.stop(public)


def test_anonymous_tokens_pull_and_an_empty_one_is_refused(
        public_registry: tuple[Registry, UploadedImage]) -> None:
    registry, image = public_registry
    server = registry.token_server
    assert server is not None
    before = len(server.requests)
    client = RegistryClient(registry.host, credentials=ANONYMOUS, retries=0)
    assert client.manifest("team/app", "1").digest == image.digest
    # the catalog token grants nothing: the registry refuses it
    with pytest.raises(RegistryUnauthorized) as caught:
        list(client.repositories())
    assert "needs credentials" in caught.value.message
    assert [(r.account, r.scopes, r.status) for r in server.requests[before:]] == [
        (None, ("repository:team/app:pull",), 200), (None, (), 200)]


def test_a_plain_http_token_server_gets_no_credentials_unless_loopback() -> None:
    authenticator = Authenticator("reg.example.com", Credentials("ann", "pw"))

    def send(*args: object, **kwargs: object) -> object:
        raise AssertionError("must not be called")

    with pytest.raises(RegistryUnauthorized) as caught:
        authenticator.answer('Bearer realm="http://auth.example.com/token",service="x"',
                             "repository:a:pull", send)  # type: ignore[arg-type]
    assert "plain-HTTP token server" in caught.value.message
