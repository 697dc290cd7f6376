"""Real registries for the registry-source and sweep tests: Debian's docker-registry in a local
FROM-scratch image (fixtures/registry/build.sh), started with testcontainers on 127.0.0.1, filled
from the locally built fixture images and in-memory factory images only, plus a fault-injecting
proxy in front of it."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import secrets
import socket
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import bcrypt
import pytest
import requests
import zstandard
from testcontainers.core.container import DockerContainer

from auditor.sources.documents import Digest
from tests.support.archives import saved_archive
from tests.support.engine import fixture_tag
from tests.support.faultproxy import FaultProxy
from tests.support.paths import DOCKER, ROOT
from tests.support.tokenauth import TokenServer

if TYPE_CHECKING:
    from tests.support.factory import ImageSpec

BUILD = ROOT / "fixtures" / "registry" / "build.sh"
HTPASSWD = "/etc/docker/registry/htpasswd"
USERNAME = "imgaudit"
REALM = "imgaudit-test-registry"
TOKEN_SERVICE = "imgaudit-test-registry"
TOKEN_CERTIFICATE = "/etc/docker/registry/token-issuer.pem"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)

# What `pushed_images` pushes with `docker push`: repository -> {tag: (fixture, builder)}.
# Nested names, several tags per repository, two tags of one image (same digest), and images
# that share the busybox base layers or the 76 MB python base layer.
PUSHED: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "fixtures/root-user": {"classic": ("root-user", "classic"),
                           "buildkit": ("root-user", "buildkit")},
    "fixtures/secrets": {"classic": ("secrets", "classic"), "buildkit": ("secrets", "buildkit")},
    "fixtures/pip-root-cache": {"classic": ("pip-root-cache", "classic"),
                                "buildkit": ("pip-root-cache", "buildkit")},
    "team/app": {"1.0": ("user-hardcoded", "buildkit"), "1.1": ("numeric-user", "buildkit"),
                 "latest": ("numeric-user", "buildkit")},
    "many-layers": {"latest": ("many-layers", "buildkit")},
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parsed(digest: str) -> Digest:
    """A digest the test trusts, parsed as the client takes it."""
    found = Digest.parse(digest)
    assert found is not None, digest
    return found


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def free_port() -> int:
    """A loopback port nothing listens on (for a registry that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ----------------------------------------------------------------------------- the HTTP API


class RegistryError(AssertionError):
    """The registry answered something a fixture did not expect."""


def challenge(header: str) -> tuple[str, dict[str, str]]:
    """The scheme and parameters of a `WWW-Authenticate` header."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class RegistryAPI:
    """The few registry v2 calls fixtures and tests need, over one `requests` session. With
    `auth`, it answers the registry's challenge: basic credentials, or a bearer token fetched
    from the realm with them (cached per scope)."""

    def __init__(self, host: str, auth: tuple[str, str] | None = None) -> None:
        self.host = host
        self.url = f"http://{host}"
        self.auth = auth
        self.session = requests.Session()
        self.tokens: dict[str, str] = {}

    def reference(self, repository: str, tag_or_digest: str) -> str:
        separator = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{repository}{separator}{tag_or_digest}"

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,),
                **options: Any) -> requests.Response:
        url = path if path.startswith("http") else self.url + path
        options.setdefault("timeout", 60)
        response = self.session.request(method, url, **options)
        if response.status_code == 401 and 401 not in expect and self.auth:
            response = self._authorized(method, url, response, options)
        if response.status_code not in expect:
            raise RegistryError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def _authorized(self, method: str, url: str, refused: requests.Response,
                    options: dict[str, Any]) -> requests.Response:
        assert self.auth is not None
        scheme, params = challenge(refused.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            self.session.auth = self.auth
            return self.session.request(method, url, **options)
        if scheme != "bearer":
            return refused
        scope = params.get("scope", "")
        if scope not in self.tokens:
            answer = requests.get(params["realm"], auth=self.auth, timeout=30, params={
                "service": params.get("service", ""), "scope": scope})
            answer.raise_for_status()
            self.tokens[scope] = answer.json()["token"]
        headers = {**options.pop("headers", {}), "Authorization": f"Bearer {self.tokens[scope]}"}
        return self.session.request(method, url, headers=headers, **options)

    def get(self, path: str, *, accept: str | tuple[str, ...] | None = None,
            expect: tuple[int, ...] = (200,)) -> requests.Response:
        headers = {"Accept": accept if isinstance(accept, str) else ", ".join(accept)} \
            if accept else {}
        return self.request("GET", path, headers=headers, expect=expect)

    def catalog(self, page: int | None = None) -> list[str]:
        """Every repository, following the `Link: <...>; rel="next"` pages of `page` entries."""
        return self._paged(f"/v2/_catalog?n={page}" if page else "/v2/_catalog", "repositories")

    def tags(self, repository: str, page: int | None = None) -> list[str]:
        path = f"/v2/{repository}/tags/list"
        return self._paged(f"{path}?n={page}" if page else path, "tags")

    def _paged(self, path: str | None, key: str) -> list[str]:
        found: list[str] = []
        while path:
            response = self.get(path)
            found += response.json().get(key) or []
            link = response.links.get("next", {}).get("url")
            path = link or None
        return found

    def manifest(self, repository: str, reference: str,
                 accept: tuple[str, ...] = MANIFEST_TYPES) -> tuple[bytes, str, str]:
        """(body, media type, Docker-Content-Digest) of a manifest."""
        response = self.get(f"/v2/{repository}/manifests/{reference}", accept=accept)
        return (response.content, response.headers["Content-Type"],
                response.headers["Docker-Content-Digest"])

    def blob(self, repository: str, digest: str) -> bytes:
        return self.get(f"/v2/{repository}/blobs/{digest}").content

    def has_blob(self, repository: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repository}/blobs/{digest}",
                            expect=(200, 404)).status_code == 200

    def upload_blob(self, repository: str, data: bytes, *, chunk: int | None = None) -> str:
        """Uploads a blob unless the repository has it: POST an upload, PATCH it `chunk` bytes at
        a time when asked (else one monolithic PUT), then PUT ?digest=. Returns the digest."""
        digest = sha256(data)
        if self.has_blob(repository, digest):
            return digest
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", expect=(202,))
        location = response.headers["Location"]
        rest = data
        if chunk:
            offset = 0
            while len(rest) > 0:
                part, rest = rest[:chunk], rest[chunk:]
                response = self.request(
                    "PATCH", location, data=part, expect=(202,),
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Range": f"{offset}-{offset + len(part) - 1}"})
                offset += len(part)
                location = response.headers["Location"]
        joiner = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{joiner}digest={digest}", data=rest, expect=(201,),
                     headers={"Content-Type": "application/octet-stream"})
        return digest

    def retag(self, repository: str, reference: str, tag: str) -> str:
        """Puts the manifest `reference` names under `tag` too (no blob moves); its digest."""
        body, media_type, _ = self.manifest(repository, reference)
        return self.put_manifest(repository, tag, body, media_type)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Deletes a manifest and every tag on it (the registry allows deletes)."""
        self.request("DELETE", f"/v2/{repository}/manifests/{digest}", expect=(202,))

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """PUTs a manifest under a tag (or its digest); returns the digest the registry gave."""
        response = self.request("PUT", f"/v2/{repository}/manifests/{reference}", data=body,
                                headers={"Content-Type": media_type}, expect=(201,))
        digest = response.headers["Docker-Content-Digest"]
        if digest != sha256(body):
            raise RegistryError(f"the registry stored {reference} as {digest}, not {sha256(body)}")
        return digest


@dataclass(frozen=True)
class Registry:
    """A running registry container: `host` is "127.0.0.1:PORT", `api` talks to it (with the
    credentials, for the auth registry). `storage` is the host directory mounted as its
    /var/lib/registry, for a registry whose stored bytes a test damages (else None)."""

    host: str
    container: str
    api: RegistryAPI
    username: str | None = None
    password: str | None = None
    realm: str | None = None     # the htpasswd realm, or the token server's URL
    token_server: TokenServer | None = None
    storage: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username and self.password else None

    def reference(self, repository: str, tag_or_digest: str) -> str:
        return self.api.reference(repository, tag_or_digest)

    def target(self, repository: str, tag_or_digest: str) -> str:
        """What imgaudit takes: docker://HOST/REPOSITORY:TAG (or @DIGEST)."""
        return f"docker://{self.reference(repository, tag_or_digest)}"

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (a manifest's too) on the host."""
        if self.storage is None:
            raise RegistryError(f"the registry at {self.host} has no host storage")
        hexdigest = digest.removeprefix("sha256:")
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2]
                / hexdigest / "data")


class PushedImage(NamedTuple):
    """What `docker push` left in the registry for one reference."""

    source: str  # the fixture tag pushed, e.g. imgaudit-fixture/root-user:classic
    digest: str  # the manifest's digest (a Docker schema 2 manifest)


@dataclass(frozen=True)
class PlatformManifest:
    """One platform's image inside an index or a manifest list."""

    platform: str      # "linux/amd64" or "linux/arm64" (the latter with variant v8)
    digest: str        # its manifest's digest
    media_type: str    # OCI_MANIFEST in the OCI index, DOCKER_MANIFEST in the manifest list
    config_digest: str
    source: str        # the fixture tag its layers come from


@dataclass(frozen=True)
class IndexImage:
    """An image index or manifest list, put through the HTTP API."""

    reference: str
    repository: str
    tag: str
    digest: str
    media_type: str
    platforms: Mapping[str, PlatformManifest]


@dataclass(frozen=True)
class MultiPlatform:
    oci: IndexImage     # application/vnd.oci.image.index.v1+json, tag "oci"
    docker: IndexImage  # application/vnd.docker.distribution.manifest.list.v2+json, tag "docker"


@dataclass(frozen=True)
class Layer:
    digest: str        # of the blob as stored (compressed)
    media_type: str
    size: int
    diff_id: str       # of the uncompressed tar


@dataclass(frozen=True)
class UploadedImage:
    """An image put through the HTTP API (blobs, then the manifest): a fixture's, from its
    `docker save`, or an in-memory one (tests/support/factory.py)."""

    reference: str     # HOST/REPOSITORY:TAG, or HOST/REPOSITORY@DIGEST when untagged
    repository: str
    tag: str | None
    digest: str        # the manifest's
    media_type: str    # the manifest's
    config_digest: str
    layers: tuple[Layer, ...]
    source: str        # the fixture tag it was made from ("factory" for an in-memory image)
    diff_ids: tuple[str, ...]  # as the config says: for the corrupt image, not the layers' own


# ----------------------------------------------------------------------------- image material


@dataclass(frozen=True)
class Saved:
    """A local image's config bytes and uncompressed layer tars, from `docker save`."""

    config: bytes
    layers: tuple[bytes, ...]


@functools.lru_cache(maxsize=8)
def saved(image: str) -> Saved:
    with tarfile.open(saved_archive(image)) as tar:
        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            assert member is not None, name
            return member.read()

        entry = json.loads(read("manifest.json"))[0]
        return Saved(read(entry["Config"]), tuple(read(name) for name in entry["Layers"]))


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def zstded(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def image_manifest(media_type: str, config_type: str, config: bytes,
                   layers: list[tuple[str, bytes]]) -> bytes:
    return canonical({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": [descriptor(kind, blob) for kind, blob in layers],
    })


# ----------------------------------------------------------------------------- containers


@pytest.fixture(scope="session")
def registry_image(engine: None) -> str:
    """Builds (or finds up to date) the local registry image; returns its tag."""
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{BUILD.relative_to(ROOT)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.split()[-1]


def start_registry(image: str, role: str, env: Mapping[str, str] | None = None,
                   files: Mapping[str, bytes] | None = None, storage: Path | None = None
                   ) -> DockerContainer:
    """Starts a registry container published on 127.0.0.1 at a random port and waits until
    `GET /v2/` answers (200, or 401 when auth is on). With `storage`, that host directory is
    its /var/lib/registry (made writable for the registry's user, 65534)."""
    container = DockerContainer(image).with_name(
        f"imgaudit-test-registry-{role}-{uuid.uuid4().hex[:8]}")
    # a random host port on loopback only (with_bind_ports cannot give an address alone)
    container.ports["5000/tcp"] = ("127.0.0.1",)  # type: ignore[assignment]
    container.with_kwargs(labels={"io.imgaudit.test": "registry"})
    for key, value in (env or {}).items():
        container.with_env(key, value)
    for path, data in (files or {}).items():
        container.with_copy_into_container(data, path, 0o444)
    if storage is not None:
        storage.mkdir(parents=True, exist_ok=True)
        storage.chmod(0o777)
        container.with_volume_mapping(storage, "/var/lib/registry", "rw")
    container.start()
    try:
        port = container.get_exposed_port(5000)
        deadline = time.monotonic() + 30
        while True:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code
                if status in (200, 401):
                    return container
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                logs = b"".join(container.get_logs()).decode(errors="replace")
                raise RuntimeError(f"the {role} registry did not answer in 30 s:\n{logs}")
            time.sleep(0.1)
    except BaseException:
        container.stop()
        raise


class RegistryFactory:
    """Starts registry containers on demand and stops them all at the end of the session."""

    def __init__(self, image: str) -> None:
        self.image = image
        self._containers: list[DockerContainer] = []
        self._token_servers: list[TokenServer] = []

    def open(self, role: str = "scratch", storage: Path | None = None) -> Registry:
        """An empty anonymous registry; with `storage`, keeping its blobs in that host
        directory (`Registry.blob_file`), where a test may damage them."""
        return self._registry(role, start_registry(self.image, role, storage=storage),
                              storage=storage)

    def htpasswd(self, role: str = "auth", username: str = USERNAME) -> Registry:
        """An empty registry with basic auth: `username` and a random password."""
        password = secrets.token_urlsafe(12)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        container = start_registry(
            self.image, role,
            env={"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM": REALM,
                 "REGISTRY_AUTH_HTPASSWD_PATH": HTPASSWD},
            files={HTPASSWD: f"{username}:{hashed}\n".encode()},
        )
        return self._registry(role, container, username, password, REALM)

    def token(self, role: str = "token", username: str = USERNAME,
              anonymous: bool = False) -> Registry:
        """An empty registry with bearer-token auth: its token server (`.token_server`, on
        loopback) gives tokens to `username` with a random password, and pull-only tokens to
        anonymous clients when `anonymous`."""
        password = secrets.token_urlsafe(12)
        server = TokenServer(TOKEN_SERVICE, {username: password}, anonymous=anonymous).start()
        self._token_servers.append(server)
        container = start_registry(
            self.image, role,
            env={"REGISTRY_AUTH": "token", "REGISTRY_AUTH_TOKEN_REALM": server.realm,
                 "REGISTRY_AUTH_TOKEN_SERVICE": TOKEN_SERVICE,
                 "REGISTRY_AUTH_TOKEN_ISSUER": server.issuer,
                 "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": TOKEN_CERTIFICATE},
            files={TOKEN_CERTIFICATE: server.certificate_pem},
        )
        return self._registry(role, container, username, password, server.realm, server)

    def _registry(self, role: str, container: DockerContainer, username: str | None = None,
                  password: str | None = None, realm: str | None = None,
                  token_server: TokenServer | None = None, storage: Path | None = None
                  ) -> Registry:
        self._containers.append(container)
        host = f"127.0.0.1:{container.get_exposed_port(5000)}"
        auth = (username, password) if username and password else None
        return Registry(host, container.get_container_id(), RegistryAPI(host, auth),
                        username=username, password=password, realm=realm,
                        token_server=token_server, storage=storage)

    def stop(self, registry: Registry) -> None:
        """Stops (and removes) one registry before the session ends."""
        for container in self._containers:
            if container.get_container_id() == registry.container:
                self._containers.remove(container)
                container.stop()
                break
        server = registry.token_server
        if server is not None and server in self._token_servers:
            self._token_servers.remove(server)
            server.stop()

    def close(self) -> None:
        for container in reversed(self._containers):
            container.stop()
        for server in self._token_servers:
            server.stop()


@pytest.fixture(scope="session")
def registry_factory(registry_image: str) -> Iterator[RegistryFactory]:
    """Starts more registries (`.open()`, `.htpasswd()`, `.token()`), empty, for tests that
    write to one or need one of their own; all are stopped when the session ends."""
    factory = RegistryFactory(registry_image)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def registry(registry_factory: RegistryFactory) -> Registry:
    """The shared anonymous registry, fresh each session. Only the content fixtures below write
    to it (request `registry_contents` for all of them at once); a test that writes uses
    `scratch_registry` or its own from `registry_factory`."""
    return registry_factory.open("open")


@pytest.fixture(scope="session")
def scratch_registry(registry_factory: RegistryFactory) -> Registry:
    """An anonymous registry that any test may write to."""
    return registry_factory.open("scratch")


@pytest.fixture(scope="session")
def auth_registry(registry_factory: RegistryFactory) -> Registry:
    """A registry with htpasswd (basic) auth: user `imgaudit`, a random password per session.
    Anonymous requests get 401 with `WWW-Authenticate: Basic realm="imgaudit-test-registry"`."""
    return registry_factory.htpasswd("auth")


@pytest.fixture(scope="session")
def token_registry(registry_factory: RegistryFactory) -> Registry:
    """A registry with bearer-token auth: anonymous requests get 401 with
    `WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service=...,scope=...`; the
    token server gives tokens for user `imgaudit` and `.password`, none to anonymous clients."""
    return registry_factory.token("token")


@pytest.fixture
def fresh_registry(registry_factory: RegistryFactory, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Registry]:
    """An empty anonymous registry of this test's own, its storage in a host directory
    (`.storage`, `.blob_file(digest)`) so that the test may damage what it stores; stopped when
    the test ends."""
    fresh = registry_factory.open("fresh", storage=tmp_path_factory.mktemp("registry-storage"))
    try:
        yield fresh
    finally:
        registry_factory.stop(fresh)


@pytest.fixture
def fault_proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A fault proxy in front of `registry`, with an empty plan (seed 0)."""
    with FaultProxy(registry.host, seed=0) as proxy:
        yield proxy


# ----------------------------------------------------------------------------- contents


def docker_push(api: RegistryAPI, repository: str, tags: Mapping[str, tuple[str, str]]
                ) -> dict[str, PushedImage]:
    """Tags the fixtures as HOST/REPOSITORY:TAG, pushes each (dockerd treats 127.0.0.0/8 as an
    insecure registry, so plain HTTP works) and drops the local tag again."""
    pushed = {}
    for tag, (name, builder) in tags.items():
        source = fixture_tag(name, builder)
        target = f"{api.host}/{repository}:{tag}"
        subprocess.run([DOCKER, "tag", source, target], check=True, capture_output=True)
        try:
            done = subprocess.run([DOCKER, "push", target], capture_output=True, text=True)
        finally:
            subprocess.run([DOCKER, "rmi", target], capture_output=True)
        if done.returncode != 0:
            raise RegistryError(f"docker push {target} failed:\n{done.stdout}{done.stderr}")
        _, _, digest = api.manifest(repository, tag, accept=(DOCKER_MANIFEST,))
        if f"digest: {digest} " not in done.stdout:
            raise RegistryError(f"docker push {target} said\n{done.stdout}\nbut the registry "
                                f"holds {digest}")
        pushed[target] = PushedImage(source, digest)
    return pushed


@pytest.fixture(scope="session")
def pushed_images(registry: Registry, fixture_images: list[str]) -> Mapping[str, PushedImage]:
    """The PUSHED fixtures in `registry`, by reference (HOST/REPOSITORY:TAG)."""
    # One repository per job: layers shared inside a repository are pushed once, and the
    # repositories go in parallel.
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = [pool.submit(docker_push, RegistryAPI(registry.host), repository, tags)
                for repository, tags in PUSHED.items()]
        pushed = {reference: image for job in jobs for reference, image in job.result().items()}
    return MappingProxyType(pushed)


def upload_image(registry: Registry, repository: str, tag: str | None, config: bytes,
                 tars: Sequence[bytes], *, media_type: str = OCI_MANIFEST,
                 compressions: tuple[str, ...] = ("gzip",), source: str = "",
                 diff_ids: Sequence[str] | None = None) -> UploadedImage:
    """Puts an image into `registry` through the HTTP API: the `config` bytes as given, each of
    the uncompressed layer `tars` compressed in turn with each of `compressions` ("gzip",
    "zstd", or "none" for a plain tar; the last two only in an OCI manifest), then a manifest
    of `media_type` under `tag` (or only by digest). `diff_ids`: what the config says, when the
    caller made it say otherwise than the tars."""
    oci = media_type == OCI_MANIFEST
    layers = []
    for i, raw in enumerate(tars):
        match compressions[i % len(compressions)]:
            case "gzip":
                layers.append((OCI_LAYER_GZIP if oci else DOCKER_LAYER, gzipped(raw)))
            case "zstd" if oci:
                layers.append((OCI_LAYER_ZSTD, zstded(raw)))
            case "none" if oci:
                layers.append((OCI_LAYER_TAR, raw))
            case other:
                raise ValueError(f"no {other} layers in a {media_type}")
    api = registry.api
    api.upload_blob(repository, config)
    for _, blob in layers:
        api.upload_blob(repository, blob)
    manifest = image_manifest(media_type, OCI_CONFIG if oci else DOCKER_CONFIG, config, layers)
    digest = api.put_manifest(repository, tag or sha256(manifest), manifest, media_type)
    return UploadedImage(
        reference=registry.reference(repository, tag or digest), repository=repository, tag=tag,
        digest=digest, media_type=media_type, config_digest=sha256(config),
        layers=tuple(Layer(sha256(blob), kind, len(blob), sha256(raw))
                     for (kind, blob), raw in zip(layers, tars, strict=True)),
        source=source,
        diff_ids=tuple(diff_ids if diff_ids is not None else (sha256(raw) for raw in tars)),
    )


def upload_fixture(registry: Registry, repository: str, tag: str | None, source: str, *,
                   media_type: str = OCI_MANIFEST, compressions: tuple[str, ...] = ("gzip",),
                   config_fields: Mapping[str, Any] | None = None, corrupt: bool = False
                   ) -> UploadedImage:
    """Puts a local image into `registry` through the HTTP API (`upload_image`): its config (as
    built, byte for byte, unless `config_fields` changes it) and its layers from `docker save`.
    When `corrupt`, the config's last diff_id names other bytes than that layer's: every blob
    matches its own digest, but the image does not add up."""
    image = saved(source)
    document = json.loads(image.config)
    diff_ids = [sha256(layer) for layer in image.layers]
    if diff_ids != document["rootfs"]["diff_ids"]:
        raise RegistryError(f"docker save of {source}: layers do not match the config's diff_ids")
    config = image.config  # as built: its digest is the engine's image ID
    if corrupt:
        diff_ids[-1] = sha256(b"not the bytes of this layer")
        document["rootfs"]["diff_ids"] = diff_ids
    if corrupt or config_fields:
        document.update(config_fields or {})
        config = canonical(document)
    return upload_image(registry, repository, tag, config, image.layers, media_type=media_type,
                        compressions=compressions, source=source, diff_ids=diff_ids)


def upload_spec(registry: Registry, repository: str, tag: str | None, spec: ImageSpec, *,
                compressions: tuple[str, ...] = ("gzip",), media_type: str = OCI_MANIFEST
                ) -> UploadedImage:
    """Puts an in-memory image (tests/support/factory.py) into `registry` (`upload_image`)."""
    return upload_image(registry, repository, tag, canonical(spec.config_document()),
                        spec.layer_tars(), media_type=media_type, compressions=compressions,
                        source="factory")


# The two platforms of the multi-platform images: the fixture each is made of, and the config
# fields (and index entry's platform) that say which platform it is.
PLATFORMS: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "linux/amd64": ("root-user", {"architecture": "amd64", "os": "linux"}),
    "linux/arm64": ("user-hardcoded", {"architecture": "arm64", "os": "linux", "variant": "v8"}),
}


def upload_index(registry: Registry, repository: str, tag: str, index_type: str = OCI_INDEX,
                 *, attestation: bool = False) -> IndexImage:
    """An image index (OCI_INDEX, of OCI manifests) or a manifest list (DOCKER_LIST, of schema
    2 manifests) of the PLATFORMS, each made of its fixture (buildkit) with the platform's
    config fields, the platform manifests untagged, as in real multi-arch images. With
    `attestation`, the index also names a BuildKit-style attestation manifest (platform
    unknown/unknown, one in-toto layer) for the amd64 image, which is no platform of its own."""
    manifest_type = OCI_MANIFEST if index_type == OCI_INDEX else DOCKER_MANIFEST
    children: dict[str, PlatformManifest] = {}
    entries = []
    for platform, (name, fields) in PLATFORMS.items():
        child = upload_fixture(registry, repository, None, fixture_tag(name, "buildkit"),
                               media_type=manifest_type, config_fields=fields)
        children[platform] = PlatformManifest(platform, child.digest, manifest_type,
                                              child.config_digest, child.source)
        body, _, _ = registry.api.manifest(repository, child.digest, accept=(manifest_type,))
        entries.append({**descriptor(manifest_type, body), "platform": dict(fields)})
    if attestation:
        statement = canonical({"_type": "https://in-toto.io/Statement/v0.1"})
        config = canonical({"architecture": "unknown", "os": "unknown"})
        registry.api.upload_blob(repository, statement)
        registry.api.upload_blob(repository, config)
        body = image_manifest(OCI_MANIFEST, OCI_CONFIG, config,
                              [("application/vnd.in-toto+json", statement)])
        registry.api.put_manifest(repository, sha256(body), body, OCI_MANIFEST)
        entries.append({**descriptor(OCI_MANIFEST, body),
                        "platform": {"architecture": "unknown", "os": "unknown"},
                        "annotations": {
                            "vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": children["linux/amd64"].digest}})
    body = canonical({"schemaVersion": 2, "mediaType": index_type, "manifests": entries})
    digest = registry.api.put_manifest(repository, tag, body, index_type)
    return IndexImage(registry.reference(repository, tag), repository, tag, digest, index_type,
                      MappingProxyType(children))


@pytest.fixture(scope="session")
def multiplatform_image(registry: Registry, fixture_images: list[str]) -> MultiPlatform:
    """`multiarch/app:oci` (an OCI image index of OCI manifests) and `multiarch/app:docker` (a
    Docker manifest list of schema 2 manifests), each with linux/amd64 (the root-user fixture)
    and linux/arm64 variant v8 (the user-hardcoded fixture, its config relabelled arm64), put
    through the HTTP API (`upload_index`)."""
    return MultiPlatform(oci=upload_index(registry, "multiarch/app", "oci", OCI_INDEX),
                         docker=upload_index(registry, "multiarch/app", "docker", DOCKER_LIST))


@pytest.fixture(scope="session")
def oci_zstd_image(registry: Registry, fixture_images: list[str]) -> UploadedImage:
    """`oci/secrets:zstd`: the secrets fixture (buildkit) as an OCI image manifest whose layers
    alternate gzip and zstd (the first gzip); its config is the engine's, byte for byte."""
    return upload_fixture(registry, "oci/secrets", "zstd", fixture_tag("secrets", "buildkit"),
                          compressions=("gzip", "zstd"))


@pytest.fixture(scope="session")
def corrupt_image(registry: Registry, fixture_images: list[str]) -> UploadedImage:
    """`oci/corrupt:diff-id`: like oci_zstd_image, but its config's last diff_id does not match
    the last layer's uncompressed digest. A client must refuse it."""
    return upload_fixture(registry, "oci/corrupt", "diff-id", fixture_tag("secrets", "buildkit"),
                          compressions=("gzip", "zstd"), corrupt=True)


@pytest.fixture(scope="session")
def private_image(auth_registry: Registry, fixture_images: list[str]) -> UploadedImage:
    """`private/app:1` in `auth_registry`: the root-user fixture (classic) as a Docker schema 2
    manifest with gzip layers, put with the registry's credentials."""
    return upload_fixture(auth_registry, "private/app", "1", fixture_tag("root-user", "classic"),
                          media_type=DOCKER_MANIFEST)


@pytest.fixture(scope="session")
def token_image(token_registry: Registry, fixture_images: list[str]) -> UploadedImage:
    """`private/app:1` in `token_registry`, as `private_image` is in `auth_registry`."""
    return upload_fixture(token_registry, "private/app", "1", fixture_tag("root-user", "classic"),
                          media_type=DOCKER_MANIFEST)


@dataclass(frozen=True)
class RegistryContents:
    """Everything the content fixtures put in `registry`, for tests that read it whole."""

    registry: Registry
    pushed: Mapping[str, PushedImage]
    multiplatform: MultiPlatform
    oci_zstd: UploadedImage
    corrupt: UploadedImage

    @property
    def repositories(self) -> tuple[str, ...]:
        """What `_catalog` lists, sorted."""
        return tuple(sorted({*PUSHED, self.multiplatform.oci.repository,
                             self.oci_zstd.repository, self.corrupt.repository}))

    @property
    def tags(self) -> Mapping[str, str]:
        """Every tagged reference (HOST/REPOSITORY:TAG) and the digest of its manifest (an
        index or manifest list for the multi-platform tags)."""
        found = {reference: image.digest for reference, image in self.pushed.items()}
        for index in (self.multiplatform.oci, self.multiplatform.docker):
            found[index.reference] = index.digest
        for image in (self.oci_zstd, self.corrupt):
            found[image.reference] = image.digest
        return MappingProxyType(found)


@pytest.fixture(scope="session")
def registry_contents(registry: Registry, pushed_images: Mapping[str, PushedImage],
                      multiplatform_image: MultiPlatform, oci_zstd_image: UploadedImage,
                      corrupt_image: UploadedImage) -> RegistryContents:
    """`registry` with all its contents in place: what a sweep of it must find."""
    return RegistryContents(registry, pushed_images, multiplatform_image, oci_zstd_image,
                            corrupt_image)
