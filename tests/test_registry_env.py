"""The registry test infrastructure itself, against the real registry containers: what the
fixtures put there is really there and readable as a client would read it, the auth registry
challenges, and the fault proxy injects each fault as planned and forwards faithfully otherwise."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import subprocess
import tarfile
import time
from collections.abc import Iterator

import pytest
import requests
import zstandard

from tests.support.engine import fixture_tag
from tests.support.factory import good
from tests.support.faultproxy import FaultKind, FaultProxy
from tests.support.paths import DOCKER
from tests.support.registry_env import (
    BUILD,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    PUSHED,
    MultiPlatform,
    PushedImage,
    Registry,
    RegistryAPI,
    RegistryContents,
    RegistryError,
    RegistryFactory,
    UploadedImage,
    challenge,
    sha256,
    upload_fixture,
    upload_index,
    upload_spec,
)

pytestmark = pytest.mark.engine


def image_id(image: str) -> str:
    return subprocess.run([DOCKER, "image", "inspect", "--format", "{{.Id}}", image],
                          capture_output=True, text=True, check=True).stdout.strip()


def uncompressed(media_type: str, blob: bytes) -> bytes:
    if media_type.endswith("+zstd"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return gzip.decompress(blob)


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


# ----------------------------------------------------------------------------- the image


def test_build_script_skips_an_up_to_date_image(registry_image: str) -> None:
    before = image_id(registry_image)
    started = time.monotonic()
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [registry_image]
    assert image_id(registry_image) == before
    assert time.monotonic() - started < 5


def test_registry_image_holds_only_the_registry(registry_image: str) -> None:
    done = subprocess.run([DOCKER, "image", "inspect", registry_image], capture_output=True,
                          text=True, check=True)
    image = json.loads(done.stdout)[0]
    assert image["Config"]["Entrypoint"] == ["/usr/bin/docker-registry"]
    assert image["Config"]["Labels"]["io.imgaudit.fixture-hash"]
    assert image["Size"] < 60_000_000  # the binary and libc, nothing else


def test_registry_answers_the_v2_api(registry: Registry) -> None:
    response = requests.get(f"{registry.url}/v2/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.host.startswith("127.0.0.1:")


# ----------------------------------------------------------------------------- docker push


def test_catalog_lists_the_pushed_repositories_on_every_page(
        registry: Registry, pushed_images: dict[str, PushedImage]) -> None:
    whole = registry.api.catalog()
    assert set(PUSHED) <= set(whole)
    assert registry.api.catalog(page=2) == whole


def test_tags_list_every_pushed_tag(registry: Registry,
                                    pushed_images: dict[str, PushedImage]) -> None:
    for repository, tags in PUSHED.items():
        assert sorted(registry.api.tags(repository)) == sorted(tags)
        assert sorted(registry.api.tags(repository, page=1)) == sorted(tags)


def test_pushed_images_are_schema2_manifests_of_the_local_fixtures(
        registry: Registry, pushed_images: dict[str, PushedImage]) -> None:
    assert len(pushed_images) == sum(len(tags) for tags in PUSHED.values())
    for reference, (source, digest) in pushed_images.items():
        repository, tag = reference.split("/", 1)[1].rsplit(":", 1)
        body, media_type, header = registry.api.manifest(repository, tag)
        assert (media_type, header, sha256(body)) == (DOCKER_MANIFEST, digest, digest)
        manifest = json.loads(body)
        assert manifest["config"]["mediaType"] == DOCKER_CONFIG
        assert manifest["config"]["digest"] == image_id(source)
        assert {layer["mediaType"] for layer in manifest["layers"]} == {DOCKER_LAYER}
    app = f"{registry.host}/team/app"
    assert pushed_images[f"{app}:1.1"].digest == pushed_images[f"{app}:latest"].digest
    assert pushed_images[f"{app}:1.0"].digest != pushed_images[f"{app}:1.1"].digest


# ----------------------------------------------------------------------------- HTTP API images


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_index_has_two_platforms_with_their_own_images(
        registry: Registry, multiplatform_image: MultiPlatform, kind: str) -> None:
    index = getattr(multiplatform_image, kind)
    index_type, child_type = (OCI_INDEX, OCI_MANIFEST) if kind == "oci" else \
        (DOCKER_LIST, DOCKER_MANIFEST)
    body, media_type, digest = registry.api.manifest(index.repository, index.tag)
    assert (media_type, digest) == (index_type, index.digest)
    entries = json.loads(body)["manifests"]
    platforms = {f"{e['platform']['os']}/{e['platform']['architecture']}": e for e in entries}
    assert set(platforms) == set(index.platforms) == {"linux/amd64", "linux/arm64"}
    assert platforms["linux/arm64"]["platform"]["variant"] == "v8"
    for name, entry in platforms.items():
        child = index.platforms[name]
        assert (entry["mediaType"], entry["digest"]) == (child_type, child.digest)
        child_body, child_media, _ = registry.api.manifest(index.repository, child.digest)
        assert child_media == child_type
        config_digest = json.loads(child_body)["config"]["digest"]
        assert config_digest == child.config_digest
        config = json.loads(registry.api.blob(index.repository, config_digest))
        assert f"{config['os']}/{config['architecture']}" == name
    assert index.platforms["linux/amd64"].digest != index.platforms["linux/arm64"].digest
    assert sorted(registry.api.tags(index.repository)) == ["docker", "oci"]


def test_oci_image_has_gzip_and_zstd_layers_that_decompress_to_its_tars(
        registry: Registry, oci_zstd_image: UploadedImage) -> None:
    image = oci_zstd_image
    body, media_type, digest = registry.api.manifest(image.repository, image.tag or "")
    assert (media_type, digest) == (OCI_MANIFEST, image.digest)
    manifest = json.loads(body)
    kinds = [layer["mediaType"] for layer in manifest["layers"]]
    assert OCI_LAYER_GZIP in kinds and OCI_LAYER_ZSTD in kinds
    config = registry.api.blob(image.repository, manifest["config"]["digest"])
    assert sha256(config) == image.config_digest == image_id(image.source)
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    for entry, diff_id in zip(manifest["layers"], diff_ids, strict=True):
        blob = registry.api.blob(image.repository, entry["digest"])
        assert sha256(blob) == entry["digest"] and len(blob) == entry["size"]
        tar = uncompressed(entry["mediaType"], blob)
        assert sha256(tar) == diff_id
        tar_names(tar)  # a tar archive, not just bytes
    zstd_layer = next(x for x in image.layers if x.media_type == OCI_LAYER_ZSTD)
    blob = registry.api.blob(image.repository, zstd_layer.digest)
    assert blob[:4] == b"\x28\xb5\x2f\xfd"  # the zstd frame magic


def test_corrupt_image_is_well_formed_but_its_diff_ids_lie(
        registry: Registry, corrupt_image: UploadedImage) -> None:
    image = corrupt_image
    body, _, _ = registry.api.manifest(image.repository, image.tag or "")
    manifest = json.loads(body)
    config = json.loads(registry.api.blob(image.repository, manifest["config"]["digest"]))
    assert tuple(config["rootfs"]["diff_ids"]) == image.diff_ids
    actual = []
    for entry in manifest["layers"]:
        blob = registry.api.blob(image.repository, entry["digest"])
        assert sha256(blob) == entry["digest"]  # each blob is what its digest says
        actual.append(sha256(uncompressed(entry["mediaType"], blob)))
    assert actual[:-1] == list(image.diff_ids[:-1])
    assert actual[-1] != image.diff_ids[-1]


def test_registry_contents_are_what_the_catalog_and_manifests_say(
        registry_contents: RegistryContents) -> None:
    contents = registry_contents
    api = contents.registry.api
    assert tuple(api.catalog()) == contents.repositories
    for reference, digest in contents.tags.items():
        repository, tag = reference.split("/", 1)[1].rsplit(":", 1)
        head = api.request("HEAD", f"/v2/{repository}/manifests/{tag}",
                           headers={"Accept": ", ".join(MANIFEST_TYPES)})
        assert head.headers["Docker-Content-Digest"] == digest
    listed = {api.reference(repository, tag) for repository in contents.repositories
              for tag in api.tags(repository)}
    assert listed == set(contents.tags)


def test_chunked_upload_stores_the_blob_under_its_digest(scratch_registry: Registry) -> None:
    api = scratch_registry.api
    data = bytes(range(256)) * 1000
    digest = api.upload_blob("scratch/uploads", data, chunk=70_000)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert api.blob("scratch/uploads", digest) == data
    assert api.upload_blob("scratch/uploads", data) == digest  # already there


def test_retag_and_delete(scratch_registry: Registry, fixture_images: list[str]) -> None:
    api = scratch_registry.api
    image = upload_fixture(scratch_registry, "scratch/retag", "1",
                           fixture_tag("no-workdir", "classic"), compressions=("zstd",))
    assert api.retag("scratch/retag", "1", "2") == image.digest
    assert sorted(api.tags("scratch/retag")) == ["1", "2"]
    api.delete_manifest("scratch/retag", image.digest)
    assert api.tags("scratch/retag") == []
    api.get("/v2/scratch/retag/manifests/1", expect=(404,))


def test_manifest_naming_missing_blobs_is_refused(scratch_registry: Registry) -> None:
    missing = {"mediaType": OCI_LAYER_GZIP, "digest": sha256(b"never uploaded"), "size": 14}
    config = {**missing, "mediaType": "application/vnd.oci.image.config.v1+json"}
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                       "layers": [missing]}).encode()
    with pytest.raises(RegistryError, match="400"):
        scratch_registry.api.put_manifest("scratch/broken", "1", body, OCI_MANIFEST)


def test_factory_images_go_in_plain_tar_layers(scratch_registry: Registry) -> None:
    spec = good()
    image = upload_spec(scratch_registry, "scratch/plain", "1", spec, compressions=("none",))
    assert {layer.media_type for layer in image.layers} == {OCI_LAYER_TAR}
    tars = spec.layer_tars()
    assert [scratch_registry.api.blob(image.repository, layer.digest)
            for layer in image.layers] == tars
    config = json.loads(scratch_registry.api.blob(image.repository, image.config_digest))
    assert config["rootfs"]["diff_ids"] == list(image.diff_ids) == [sha256(t) for t in tars]


def test_an_index_with_an_attestation(scratch_registry: Registry,
                                      fixture_images: list[str]) -> None:
    index = upload_index(scratch_registry, "scratch/attested", "1", OCI_INDEX, attestation=True)
    body, media_type, digest = scratch_registry.api.manifest(index.repository, "1")
    assert (media_type, digest) == (OCI_INDEX, index.digest)
    *platforms, attestation = json.loads(body)["manifests"]
    assert [e["digest"] for e in platforms] == [p.digest for p in index.platforms.values()]
    assert attestation["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert attestation["annotations"] == {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": index.platforms["linux/amd64"].digest}
    manifest = json.loads(scratch_registry.api.manifest(index.repository,
                                                        attestation["digest"])[0])
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.in-toto+json"]


def test_fresh_registry_keeps_its_blobs_on_the_host(fresh_registry: Registry) -> None:
    api = fresh_registry.api
    data = b"kept in a host directory " * 400
    digest = api.upload_blob("fresh/blobs", data)
    path = fresh_registry.blob_file(digest)
    assert fresh_registry.storage is not None and path.is_relative_to(fresh_registry.storage)
    assert path.read_bytes() == data
    path.write_bytes(data.upper())  # damaged, the same size
    assert api.blob("fresh/blobs", digest) == data.upper()  # served as it now is


def test_a_registry_stops_before_the_session_ends(registry_factory: RegistryFactory) -> None:
    stopping = registry_factory.open("stopping")
    assert requests.get(f"{stopping.url}/v2/", timeout=10).status_code == 200
    registry_factory.stop(stopping)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stopping.url}/v2/", timeout=5)
    gone = subprocess.run([DOCKER, "container", "inspect", stopping.container],
                          capture_output=True)
    assert gone.returncode != 0
    with pytest.raises(RegistryError, match="no host storage"):
        stopping.blob_file(sha256(b""))


# ----------------------------------------------------------------------------- auth


def test_auth_registry_challenges_then_accepts_basic_credentials(auth_registry: Registry,
                                                                 private_image: UploadedImage
                                                                 ) -> None:
    anonymous = requests.get(f"{auth_registry.url}/v2/", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == f'Basic realm="{auth_registry.realm}"'
    wrong = requests.get(f"{auth_registry.url}/v2/", auth=("imgaudit", "wrong"), timeout=10)
    assert wrong.status_code == 401
    assert auth_registry.auth is not None
    assert requests.get(f"{auth_registry.url}/v2/", auth=auth_registry.auth,
                        timeout=10).status_code == 200
    path = f"/v2/{private_image.repository}/manifests/{private_image.tag}"
    assert requests.get(auth_registry.url + path, timeout=10).status_code == 401
    _, media_type, digest = auth_registry.api.manifest(private_image.repository, "1")
    assert (media_type, digest) == (DOCKER_MANIFEST, private_image.digest)
    assert auth_registry.api.catalog() == ["private/app"]


def test_token_registry_sends_clients_to_its_token_server(token_registry: Registry,
                                                           token_image: UploadedImage) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.auth is not None
    path = f"/v2/{token_image.repository}/manifests/{token_image.tag}"
    refused = requests.get(token_registry.url + path, timeout=10)
    assert refused.status_code == 401
    scheme, params = challenge(refused.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params == {"realm": server.realm, "service": server.service,
                      "scope": f"repository:{token_image.repository}:pull"}
    assert requests.get(params["realm"], params=params, timeout=10).status_code == 401
    assert requests.get(params["realm"], params=params, auth=("imgaudit", "wrong"),
                        timeout=10).status_code == 401
    answer = requests.get(params["realm"], params=params, auth=token_registry.auth, timeout=10)
    token = answer.json()["token"]
    assert server.issued[-1] == token
    granted = requests.get(token_registry.url + path, timeout=10, headers={
        "Authorization": f"Bearer {token}", "Accept": DOCKER_MANIFEST})
    assert granted.status_code == 200
    assert granted.headers["Docker-Content-Digest"] == token_image.digest
    other = f"/v2/elsewhere/manifests/{token_image.tag}"  # the token names one repository
    assert requests.get(token_registry.url + other, timeout=10, headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    assert [(r.account, r.status) for r in server.requests[-3:]] == [
        (None, 401), ("imgaudit", 401), ("imgaudit", 200)]


def test_anonymous_tokens_pull_but_do_not_push(registry_factory: RegistryFactory) -> None:
    public = registry_factory.token("token-anonymous", anonymous=True)
    refused = requests.get(f"{public.url}/v2/library/app/tags/list", timeout=10)
    _, params = challenge(refused.headers["WWW-Authenticate"])
    token = requests.get(params["realm"], params=params, timeout=10).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    unknown = requests.get(f"{public.url}/v2/library/app/tags/list", headers=bearer, timeout=10)
    assert unknown.status_code == 404  # let in: the repository is just not there
    push = requests.post(f"{public.url}/v2/library/app/blobs/uploads/", headers=bearer,
                         timeout=10)
    assert push.status_code == 401


# ----------------------------------------------------------------------------- fault proxy


@pytest.fixture
def proxied(fault_proxy: FaultProxy) -> Iterator[RegistryAPI]:
    api = RegistryAPI(fault_proxy.host)
    yield api
    api.session.close()


def test_proxy_forwards_manifests_blobs_and_heads_unchanged(
        registry: Registry, oci_zstd_image: UploadedImage, fault_proxy: FaultProxy,
        proxied: RegistryAPI) -> None:
    image = oci_zstd_image
    assert proxied.manifest(image.repository, image.digest) == \
        registry.api.manifest(image.repository, image.digest)
    layer = image.layers[0]
    assert proxied.blob(image.repository, layer.digest) == \
        registry.api.blob(image.repository, layer.digest)
    head = proxied.request("HEAD", f"/v2/{image.repository}/blobs/{layer.digest}")
    assert head.headers["Content-Length"] == str(layer.size) and head.content == b""
    missing = proxied.get(f"/v2/{image.repository}/manifests/nope", expect=(404,))
    assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert [(e.method, e.status, e.fault, e.completed) for e in fault_proxy.exchanges] == [
        ("GET", 200, None, True), ("GET", 200, None, True), ("HEAD", 200, None, True),
        ("GET", 404, None, True)]


def test_proxy_rewrites_upload_locations_and_streams_request_bodies(
        scratch_registry: Registry) -> None:
    with FaultProxy(scratch_registry.host) as proxy:
        proxied = RegistryAPI(proxy.host)
        started = proxied.request("POST", "/v2/scratch/proxied/blobs/uploads/", expect=(202,))
        assert started.headers["Location"].startswith(f"{proxy.url}/v2/")
        data = b"through the proxy " * 5000
        digest = proxied.upload_blob("scratch/proxied", data, chunk=30_000)
        chunked = b"sent chunked " * 3000
        location = proxied.request("POST", "/v2/scratch/proxied/blobs/uploads/",
                                   expect=(202,)).headers["Location"]
        proxied.request("PUT", f"{location}&digest={sha256(chunked)}", expect=(201,),
                        data=iter([chunked[:10_000], chunked[10_000:]]))  # chunked encoding
        assert {e.status for e in proxy.exchanges} <= {201, 202, 404}
        assert [e.method for e in proxy.exchanges].count("PATCH") == 3
    api = scratch_registry.api
    assert api.blob("scratch/proxied", digest) == data
    assert api.blob("scratch/proxied", sha256(chunked)) == chunked


def test_proxy_drops_only_the_planned_request(fault_proxy: FaultProxy,
                                              proxied: RegistryAPI) -> None:
    fault_proxy.add("drop", r"^/v2/_catalog", nth=1)
    with pytest.raises(requests.ConnectionError):
        proxied.get("/v2/_catalog")
    assert proxied.get("/v2/_catalog").status_code == 200
    assert [(e.status, e.fault) for e in fault_proxy.matching("_catalog")] == [
        (None, FaultKind.DROP), (200, None)]


def test_proxy_answers_500_as_many_times_as_planned(fault_proxy: FaultProxy,
                                                    proxied: RegistryAPI) -> None:
    fault_proxy.add("500", r"/v2/$", times=2)
    statuses = [proxied.get("/v2/", expect=(200, 500)).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    assert len(fault_proxy.faulted) == 2


def test_proxy_throttles_with_retry_after(fault_proxy: FaultProxy, proxied: RegistryAPI) -> None:
    fault_proxy.add("429", r"/v2/$", nth={2, 3}, retry_after=7)
    responses = [proxied.get("/v2/", expect=(200, 429)) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 429, 429, 200]
    assert responses[1].headers["Retry-After"] == "7"
    assert responses[1].json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_proxy_stalls_past_the_client_timeout(fault_proxy: FaultProxy) -> None:
    fault_proxy.add(FaultKind.STALL, r"/v2/$", nth=1, seconds=1.5)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(f"{fault_proxy.url}/v2/", timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert requests.get(f"{fault_proxy.url}/v2/", timeout=5).status_code == 200
    deadline = time.monotonic() + 5
    while not fault_proxy.faulted and time.monotonic() < deadline:
        time.sleep(0.05)  # the stalled request is recorded once it has finished
    [stalled] = fault_proxy.faulted
    assert stalled.fault is FaultKind.STALL and stalled.seconds >= 1.5


def test_proxy_truncates_a_blob_body(oci_zstd_image: UploadedImage, fault_proxy: FaultProxy,
                                     proxied: RegistryAPI) -> None:
    fault_proxy.add("truncate", r"/blobs/", method="GET", nth=1)
    layer = oci_zstd_image.layers[0]
    path = f"/v2/{oci_zstd_image.repository}/blobs/{layer.digest}"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        proxied.get(path)
    assert sha256(proxied.get(path).content) == layer.digest
    first = fault_proxy.matching("/blobs/")[0]
    assert (first.status, first.fault, first.completed) == (200, FaultKind.TRUNCATE, False)


def test_proxy_truncates_after_so_many_bytes_and_records_ranges(
        oci_zstd_image: UploadedImage, fault_proxy: FaultProxy, proxied: RegistryAPI) -> None:
    layer = max(oci_zstd_image.layers, key=lambda item: item.size)
    fault_proxy.add("truncate", r"/blobs/", method="GET", nth=1, keep=1000)
    path = f"/v2/{oci_zstd_image.repository}/blobs/{layer.digest}"
    connection = http.client.HTTPConnection(fault_proxy.host, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.getheader("Content-Length") == str(layer.size)
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
    finally:
        connection.close()
    assert len(cut.value.partial) == 1000
    rest = proxied.request("GET", path, headers={"Range": "bytes=1000-"}, expect=(206,))
    assert sha256(cut.value.partial + rest.content) == layer.digest
    assert [(e.range, e.fault, e.completed) for e in fault_proxy.matching("/blobs/")] == [
        (None, FaultKind.TRUNCATE, False), ("bytes=1000-", None, True)]


def test_proxy_chance_is_repeatable_for_a_seed(registry: Registry) -> None:
    def run(seed: int) -> list[int]:
        with FaultProxy(registry.host, seed=seed) as proxy:
            proxy.add("500", r"/v2/$", probability=0.5)
            api = RegistryAPI(proxy.host)
            return [api.get("/v2/", expect=(200, 500)).status_code for _ in range(16)]

    first = run(7)
    assert first == run(7)
    assert 0 < first.count(500) < 16
    assert run(7) != run(8)


def test_proxy_matches_by_method(fault_proxy: FaultProxy, proxied: RegistryAPI) -> None:
    fault_proxy.add("500", r"/v2/$", method="HEAD")
    assert proxied.get("/v2/").status_code == 200
    assert proxied.request("HEAD", "/v2/", expect=(500,)).status_code == 500


def test_proxy_stops_promptly_with_idle_clients(registry: Registry) -> None:
    proxy = FaultProxy(registry.host).start()
    url = proxy.url
    with requests.Session() as session:
        assert session.get(f"{url}/v2/", timeout=5).status_code == 200  # kept alive
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/v2/", timeout=2)
