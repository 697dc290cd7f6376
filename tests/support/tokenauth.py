"""A bearer-token server for the registry's `auth: token` mode, on loopback: checks basic
credentials, then issues RS256 JWTs that a self-signed certificate (the registry's
rootcertbundle) vouches for, as Docker Hub's auth service does. Records every token request and
every token issued."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "imgaudit-test-token-issuer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One request to the token endpoint: who asked (None: anonymous), for which scopes, and the
    status the server answered (200 with a token, 401 for bad or missing credentials)."""

    account: str | None
    service: str | None
    scopes: tuple[str, ...]
    status: int


class TokenServer:
    """`realm` is the URL a registry names in `WWW-Authenticate: Bearer realm=...`.
    `users` maps user names to passwords; with `anonymous`, requests without credentials get
    pull-only tokens, else 401."""

    def __init__(self, service: str, users: Mapping[str, str], *, anonymous: bool = False,
                 lifetime: int = 300) -> None:
        self.service = service
        self.issuer = ISSUER
        self.users = dict(users)
        self.anonymous = anonymous
        self.lifetime = lifetime
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate = self._self_signed()
        self._requests: list[TokenRequest] = []
        self._issued: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def _self_signed(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def certificate_pem(self) -> bytes:
        """The registry's REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def mint(self, scopes: Iterable[str], subject: str = "") -> str:
        """A signed token granting every action of `scopes` ("repository:NAME:pull,push",
        "registry:catalog:*")."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(
            self.certificate.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "iat": now,
                  "nbf": now - 60, "exp": now + self.lifetime, "jti": secrets.token_hex(8),
                  "access": access}
        signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (header, claims))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{b64url(signature)}"
        with self._lock:
            self._issued.append(token)
        return token

    # -- the record

    @property
    def requests(self) -> tuple[TokenRequest, ...]:
        with self._lock:
            return tuple(self._requests)

    @property
    def issued(self) -> tuple[str, ...]:
        """Every token minted so far (for tests that no output shows one)."""
        with self._lock:
            return tuple(self._issued)

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # -- life

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the token server is not started")
        return int(self._server.server_address[1])

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        if self._server is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.tokens = self  # type: ignore[attr-defined]
            self._server = server
            threading.Thread(target=server.serve_forever, name="token-server",
                             kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _account(self, tokens: TokenServer) -> tuple[str | None, bool]:
        """(the user named, whether the credentials hold); (None, True) when there are none."""
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None, True
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None, False
        return user, user in tokens.users and secrets.compare_digest(tokens.users[user], password)

    def do_GET(self) -> None:
        tokens: TokenServer = self.server.tokens  # type: ignore[attr-defined]
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = tuple(s for value in query.get("scope", []) for s in value.split())
        service = query.get("service", [None])[0]
        account, valid = self._account(tokens)
        if url.path != "/token":
            self._send(404, {"details": "not found"})
            status = 404
        elif not valid or (account is None and not tokens.anonymous):
            self._send(401, {"details": "incorrect username or password"},
                       {"WWW-Authenticate": 'Basic realm="imgaudit-test-token-server"'})
            status = 401
        else:
            if account is None:  # anonymous: pull only
                scopes = tuple(f"{s.rsplit(':', 1)[0]}:pull" for s in scopes
                               if s.startswith("repository:")
                               and "pull" in s.rsplit(":", 1)[1].split(","))
            token = tokens.mint(scopes, account or "")
            issued = datetime.datetime.now(datetime.timezone.utc).isoformat()
            self._send(200, {"token": token, "access_token": token,
                             "expires_in": tokens.lifetime, "issued_at": issued})
            status = 200
        tokens._record(TokenRequest(account, service, scopes, status))

    def _send(self, status: int, document: object, extra: Mapping[str, str] | None = None
              ) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
