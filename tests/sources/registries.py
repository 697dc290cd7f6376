"""Real registries for the registry-source tests: Debian's `docker-registry` binary run on
loopback (anonymous, htpasswd Basic, or Bearer tokens from a small token server that signs real
JWTs the registry verifies), a helper that pushes blobs and manifests over the registry API, and
a proxy that fails on purpose."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REGISTRY_BIN = Path("/usr/bin/docker-registry")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bcrypt_line(user: str, password: str) -> str:
    """An htpasswd line, bcrypt at the lowest cost (the registry checks it on every request)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # removed in 3.13; this suite runs on 3.11

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}"


@dataclass
class Registry:
    """One `docker-registry serve` on 127.0.0.1, storing under root."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    auth_header: Callable[[str], dict[str, str]] = field(default=lambda scope: {})

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repo: str, tag: str) -> str:
        return f"docker://{self.host}/{repo}:{tag}"

    def blob_file(self, digest: str) -> Path:
        hexpart = digest.removeprefix("sha256:")
        return (self.root / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2]
                / hexpart / "data")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # ------------------------------------------------------------------ the push side of the API

    def _headers(self, repo: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.auth_header(f"repository:{repo}:pull,push"), **(extra or {})}

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        head = requests.head(f"{self.url}/v2/{repo}/blobs/{digest}",
                             headers=self._headers(repo), timeout=30)
        if head.status_code == 200:
            return digest
        start = requests.post(f"{self.url}/v2/{repo}/blobs/uploads/",
                              headers=self._headers(repo), timeout=30)
        assert start.status_code == 202, (start.status_code, start.text)
        location = urllib.parse.urljoin(self.url, start.headers["Location"])
        joiner = "&" if "?" in location else "?"
        done = requests.put(f"{location}{joiner}digest={digest}", data=data, timeout=60,
                            headers=self._headers(repo, {"Content-Type":
                                                         "application/octet-stream"}))
        assert done.status_code == 201, (done.status_code, done.text)
        return digest

    def push_manifest(self, repo: str, tag: str, document: dict[str, Any]) -> str:
        raw = json.dumps(document, indent=2).encode()
        done = requests.put(f"{self.url}/v2/{repo}/manifests/{tag}", data=raw, timeout=30,
                            headers=self._headers(repo, {"Content-Type": document["mediaType"]}))
        assert done.status_code == 201, (done.status_code, done.text)
        return sha256(raw)

    def get_manifest(self, repo: str, reference: str) -> tuple[dict[str, Any], bytes]:
        got = requests.get(f"{self.url}/v2/{repo}/manifests/{reference}", timeout=30,
                           headers=self._headers(repo, {"Accept": ACCEPT}))
        assert got.status_code == 200, (got.status_code, got.text)
        return got.json(), got.content

    def get_blob(self, repo: str, digest: str) -> bytes:
        got = requests.get(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=60,
                           headers=self._headers(repo))
        assert got.status_code == 200, (got.status_code, got.text)
        return got.content


def start_registry(folder: Path, auth: str = "") -> Registry:
    """`docker-registry serve` on a free loopback port, answering before this returns."""
    port = free_port()
    root = folder / "storage"
    root.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: imgaudit-tests\n{auth}",
        encoding="utf-8",
    )
    log = folder / "registry.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen([str(REGISTRY_BIN), "serve", str(config)], stdout=sink,
                                   stderr=subprocess.STDOUT)
    registry = Registry(f"127.0.0.1:{port}", root, process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{registry.url}/v2/", timeout=1)
            return registry
        time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer: {log.read_text()[-2000:]}")


def copy_image(source: Registry, repo: str, tag: str, target: Registry, to_repo: str | None = None,
               to_tag: str | None = None) -> str:
    """One image (manifest, config, layers) from one registry to another, over the API."""
    to_repo, to_tag = to_repo or repo, to_tag or tag
    document, _ = source.get_manifest(repo, tag)
    for descriptor in [document["config"], *document["layers"]]:
        target.push_blob(to_repo, source.get_blob(repo, descriptor["digest"]))
    return target.push_manifest(to_repo, to_tag, document)


# ---------------------------------------------------------------------------- a token server


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The token half of the registry token spec: checks Basic credentials, grants what the scope
    asks, and signs an RS256 JWT (x5c: its self-signed certificate, the registry's root)."""

    def __init__(self, folder: Path, user: str, password: str, service: str, issuer: str) -> None:
        self.key = folder / "token.key"
        self.cert = folder / "token.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             str(self.key), "-out", str(self.cert), "-days", "2", "-subj",
             "/CN=imgaudit-test-token"],
            check=True, capture_output=True,
        )
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.user, self.password = user, password
        self.service, self.issuer = service, issuer
        self.issued: list[str] = []  # every token handed out
        self.requests: list[tuple[str, bool]] = []  # (scope, with credentials)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                scope = (query.get("scope") or [""])[0]
                given = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(
                    f"{server.user}:{server.password}".encode()).decode()
                server.requests.append((scope, bool(given)))
                if given and given != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                token = server.sign(scope if given else "", (query.get("service") or [""])[0])
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def sign(self, scope: str, service: str) -> str:
        access = []
        if scope:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.issuer, "sub": self.user if scope else "", "aud": service,
                  "exp": now + 300, "nbf": now - 30, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode()))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True).stdout
        token = signing_input + "." + _b64url(signature)
        self.issued.append(token)
        return token

    def auth_section(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.service}\n"
                f"    issuer: {self.issuer}\n    rootcertbundle: {self.cert}\n")

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------- a failing proxy


class FlakyProxy:
    """Forwards to a registry, but first answers each path `fail_times` times with `status`
    (and Retry-After when set), and cuts blob bodies after `cut_after` bytes once per blob."""

    def __init__(self, upstream: str, *, status: int = 503, fail_times: int = 0,
                 retry_after: str | None = None, cut_after: int | None = None) -> None:
        self.upstream = upstream
        self.status, self.fail_times, self.retry_after = status, fail_times, retry_after
        self.cut_after = cut_after
        self.seen: dict[str, int] = {}
        self.log: list[tuple[str, str, int]] = []  # (path, Range header, status sent)
        self.cut: set[str] = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                key = self.path.split("?")[0]
                count = proxy.seen.get(key, 0)
                proxy.seen[key] = count + 1
                if count < proxy.fail_times:
                    proxy.log.append((key, "", proxy.status))
                    self.send_response(proxy.status)
                    if proxy.retry_after is not None:
                        self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("accept", "authorization", "range")}
                answer = requests.get(proxy.upstream + self.path, headers=headers, timeout=60,
                                      allow_redirects=False)
                proxy.log.append((key, self.headers.get("Range", ""), answer.status_code))
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                body = answer.content
                if ("/blobs/" in key and proxy.cut_after is not None and key not in proxy.cut
                        and len(body) > proxy.cut_after):
                    proxy.cut.add(key)
                    self.wfile.write(body[: proxy.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def docker_config(folder: Path, document: dict[str, Any]) -> Path:
    """A Docker config folder holding config.json (for DOCKER_CONFIG)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def credential_helper(folder: Path, name: str, store: dict[str, tuple[str, str]]) -> Path:
    """A real `docker-credential-NAME` executable answering `get` from a fixed store."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / f"docker-credential-{name}"
    program.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"STORE = {json.dumps({k: list(v) for k, v in store.items()})}\n"
        "if sys.argv[1:] != ['get']:\n    sys.exit(2)\n"
        "server = sys.stdin.read().strip()\n"
        "if server not in STORE:\n"
        "    print('credentials not found in native keychain')\n    sys.exit(1)\n"
        "user, secret = STORE[server]\n"
        "print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    return program


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def environ_with_path(folder: Path) -> dict[str, str]:
    return dict(os.environ, PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
