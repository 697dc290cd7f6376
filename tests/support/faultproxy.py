"""A loopback HTTP/1.1 reverse proxy for tests that puts planned faults between a client and a
registry: dropped connections, 500s, 429s with Retry-After, stalls, truncated bodies and
oversized answers, chosen by path, by count and by seeded chance. Everything else is forwarded
as is, and every request is recorded."""

from __future__ import annotations

import contextlib
import enum
import http.client
import json
import random
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

# Headers that describe one hop, not the message: never copied across the proxy.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "expect", "content-length", "host",
})
# Response headers that may name the upstream's address: rewritten to the proxy's.
REWRITTEN = frozenset({"location", "content-location", "link"})
BLOCK = 64 * 1024


class FaultKind(enum.Enum):
    DROP = "drop"          # read the request, then close the connection without answering
    ERROR = "500"          # answer 500 (or Fault.status) with a registry-style JSON error
    THROTTLE = "429"       # answer 429 with `Retry-After: Fault.retry_after`
    STALL = "stall"        # wait Fault.seconds, then forward (to trip client timeouts)
    TRUNCATE = "truncate"  # forward, but send only the first half (or Fault.keep bytes) of
    #                        the body, then close
    FLOOD = "flood"        # answer Fault.status with Fault.body (default: a registry-style JSON
    #                        error) padded with spaces to Fault.size bytes: valid JSON, but more
    #                        than a client should read


@dataclass(frozen=True, slots=True)
class Fault:
    """One line of a fault plan. A request matches when `path` (a regex, searched in the request
    target, query included) and `method` (None: any) fit. Among matching requests the fault fires
    on the `nth` ones (1-based; None: every one), at most `times` times (None: no limit), each
    with `probability` drawn from a generator seeded by the proxy's seed and the line's place.
    `keep`: how many bytes of the body a truncated answer sends (None: half). `size` and `body`:
    how long a flood is, and what it begins with."""

    kind: FaultKind
    path: str = ""
    method: str | None = None
    nth: frozenset[int] | None = None
    times: int | None = None
    probability: float = 1.0
    status: int = 500
    retry_after: int = 1
    seconds: float = 5.0
    keep: int | None = None
    size: int = 1 << 20
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the proxy did with one request: `status` is the status it answered (None when it
    dropped the connection), `fault` the fault it applied, `completed` whether the whole answer
    reached the client, `range` the request's Range header (None without one)."""

    method: str
    path: str
    status: int | None
    fault: FaultKind | None
    completed: bool
    seconds: float
    range: str | None = None


@dataclass(slots=True)
class _Line:
    fault: Fault
    rng: random.Random
    matched: int = 0
    fired: int = 0
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.fault.path)

    def matches(self, method: str, target: str) -> bool:
        wanted = self.fault.method
        return (wanted is None or wanted.upper() == method) and bool(self.pattern.search(target))

    def fires(self) -> bool:
        fault = self.fault
        if fault.nth is not None and self.matched not in fault.nth:
            return False
        if fault.times is not None and self.fired >= fault.times:
            return False
        if fault.probability < 1.0 and self.rng.random() >= fault.probability:
            return False
        self.fired += 1
        return True


class FaultProxy:
    """A reverse proxy on 127.0.0.1 (random port) in front of `upstream` ("HOST:PORT").

        with FaultProxy(registry.host) as proxy:
            proxy.add("429", r"/manifests/", nth=1, retry_after=2)
            ... point the client at proxy.host ...
            assert proxy.exchanges[0].status == 429
    """

    def __init__(self, upstream: str, *, seed: int = 0, timeout: float = 60.0) -> None:
        self.upstream = upstream
        self.seed = seed
        self.timeout = timeout
        self._lines: list[_Line] = []
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        # answers under way: a client may read a whole answer a moment before it is recorded
        self._answering = 0
        self._answered = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- the plan

    def add(self, kind: FaultKind | str, path: str = "", *, method: str | None = None,
            nth: int | Iterable[int] | None = None, times: int | None = None,
            probability: float = 1.0, status: int = 500, retry_after: int = 1,
            seconds: float = 5.0, keep: int | None = None, size: int = 1 << 20,
            body: bytes | None = None) -> Fault:
        """Appends a fault to the plan; the first line that fires for a request wins. Every
        line counts its own matching requests, whether or not an earlier line fired."""
        picked = frozenset({nth} if isinstance(nth, int) else nth) if nth is not None else None
        fault = Fault(FaultKind(kind), path, method, picked, times, probability, status,
                      retry_after, seconds, keep, size, body)
        with self._lock:
            rng = random.Random(f"{self.seed}/{len(self._lines)}")
            self._lines.append(_Line(fault, rng))
        return fault

    def clear(self) -> None:
        """Forgets the plan and the record: from now on every request is forwarded."""
        with self._lock:
            self._lines.clear()
            self._exchanges.clear()

    def _decide(self, method: str, target: str) -> Fault | None:
        with self._lock:
            matching = [line for line in self._lines if line.matches(method, target)]
            for line in matching:
                line.matched += 1
            return next((line.fault for line in matching if line.fires()), None)

    # -- the record

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        """Every request so far, in the order they ended. Waits (at most 5 s) for answers
        already being written, so that a response a client has read is in the record."""
        with self._answered:
            self._answered.wait_for(lambda: self._answering == 0, timeout=5)
            return tuple(self._exchanges)

    def matching(self, path: str = "", method: str | None = None) -> tuple[Exchange, ...]:
        """The recorded exchanges whose target matches the regex `path` (and `method`)."""
        pattern = re.compile(path)
        return tuple(e for e in self.exchanges
                     if pattern.search(e.path) and (method is None or e.method == method.upper()))

    @property
    def faulted(self) -> tuple[Exchange, ...]:
        return tuple(e for e in self.exchanges if e.fault is not None)

    def _begin_answer(self) -> None:
        with self._answered:
            self._answering += 1

    def _record(self, exchange: Exchange, answering: bool) -> None:
        with self._answered:
            self._exchanges.append(exchange)
            if answering:
                self._answering -= 1
                self._answered.notify_all()

    # -- life

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fault proxy is not started")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fault-proxy",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # stalled requests stop waiting
        server.shutdown()
        server.server_close()
        server.close_clients()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.clients: set[socket.socket] = set()
        self.clients_lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (imgaudit timing out or interrupted) is no fault of the
        proxy's. Anything else is printed on the process's own stderr: socketserver's default,
        sys.stderr, is the stream of an imgaudit run in the test's process."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        print(f"fault proxy: an error answering {client_address}", file=sys.__stderr__)
        traceback.print_exc(file=sys.__stderr__)

    def close_clients(self) -> None:
        """Ends idle keep-alive connections, so no handler thread outlives the proxy."""
        with self.clients_lock:
            clients = list(self.clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive client is let go after this
    disable_nagle_algorithm = True  # headers and body go in separate writes
    _upstream: http.client.HTTPConnection | None = None
    _answering = False

    def setup(self) -> None:
        super().setup()
        with self.server.clients_lock:
            self.server.clients.add(self.connection)

    def finish(self) -> None:
        with self.server.clients_lock:
            self.server.clients.discard(self.connection)
        if self._upstream is not None:
            self._upstream.close()
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the record is the log

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # -- one request

    def _handle(self) -> None:
        proxy = self.server.proxy
        started = time.monotonic()
        fault = proxy._decide(self.command, self.path)
        kind = fault.kind if fault is not None else None
        status: int | None = None
        completed = False
        try:
            match kind:
                case FaultKind.DROP:
                    self._drain()
                    self.close_connection = True
                    completed = True
                case FaultKind.ERROR:
                    assert fault is not None
                    self._drain()
                    status = fault.status
                    completed = self._answer(status, "UNKNOWN", "injected server error", {})
                case FaultKind.THROTTLE:
                    assert fault is not None
                    self._drain()
                    status = 429
                    completed = self._answer(status, "TOOMANYREQUESTS", "injected throttling",
                                             {"Retry-After": str(fault.retry_after)})
                case FaultKind.STALL:
                    assert fault is not None
                    proxy._stopping.wait(fault.seconds)
                    status, completed = self._forward()
                case FaultKind.TRUNCATE:
                    assert fault is not None
                    status, completed = self._forward(truncate=True, keep=fault.keep)
                case FaultKind.FLOOD:
                    assert fault is not None
                    self._drain()
                    status = fault.status
                    completed = self._flood(fault)
                case None:
                    status, completed = self._forward()
        except OSError:
            self.close_connection = True  # the client went away
        answering, self._answering = self._answering, False
        proxy._record(Exchange(self.command, self.path, status, kind, completed,
                               time.monotonic() - started, self.headers.get("Range")), answering)

    def _status_line(self, status: int, reason: str | None = None) -> None:
        if not self._answering:
            self.server.proxy._begin_answer()
            self._answering = True
        self.send_response_only(status, reason)

    def _request_body(self) -> Iterator[bytes]:
        """The request's body as it arrives, de-chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            block = self.rfile.read(min(BLOCK, left))
            if not block:
                raise ConnectionResetError("the client closed while sending its body")
            left -= len(block)
            yield block

    def _has_body(self) -> bool:
        return (int(self.headers.get("Content-Length") or 0) > 0
                or "chunked" in self.headers.get("Transfer-Encoding", "").lower())

    def _drain(self) -> None:
        for _ in self._request_body():
            pass

    def _answer(self, status: int, code: str, message: str, extra: dict[str, str]) -> bool:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._status_line(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        return True

    def _flood(self, fault: Fault) -> bool:
        """Sends the whole flood unless the client hangs up first (then False)."""
        head = fault.body if fault.body is not None else json.dumps(
            {"errors": [{"code": "UNKNOWN", "message": "injected flood"}]}).encode()
        self._status_line(fault.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(max(fault.size, len(head))))
        self.end_headers()
        self.wfile.write(head)
        left = fault.size - len(head)
        padding = b" " * BLOCK
        while left > 0:
            self.wfile.write(padding[:left])
            left -= BLOCK
        self.wfile.flush()
        return True

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            proxy = self.server.proxy
            self._upstream = http.client.HTTPConnection(proxy.upstream, timeout=proxy.timeout)
        return self._upstream

    def _send_upstream(self) -> http.client.HTTPResponse:
        proxy = self.server.proxy
        has_body = self._has_body()
        # a kept-alive upstream connection may have been closed meanwhile: retry once on a
        # fresh one when nothing of a body was consumed yet
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.putrequest(self.command, self.path, skip_host=True,
                                      skip_accept_encoding=True)
                connection.putheader("Host", proxy.upstream)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        connection.putheader(name, value)
                if has_body:
                    length = self.headers.get("Content-Length")
                    if length is not None and "chunked" not in self.headers.get(
                            "Transfer-Encoding", "").lower():
                        connection.putheader("Content-Length", length)
                        connection.endheaders()
                        for block in self._request_body():
                            connection.send(block)
                    else:
                        connection.putheader("Transfer-Encoding", "chunked")
                        connection.endheaders()
                        for block in self._request_body():
                            connection.send(b"%x\r\n%s\r\n" % (len(block), block))
                        connection.send(b"0\r\n\r\n")
                else:
                    connection.endheaders()
                return connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._upstream = None
                if attempt == 2 or has_body:
                    raise
        raise AssertionError("unreachable")

    def _forward(self, truncate: bool = False, keep: int | None = None) -> tuple[int, bool]:
        try:
            response = self._send_upstream()
        except (OSError, http.client.HTTPException) as error:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None
            self.close_connection = True
            return 502, self._answer(502, "UNKNOWN", f"upstream failed: {error}", {})
        try:
            return response.status, self._relay(response, truncate, keep)
        finally:
            if response.will_close or not response.isclosed():
                response.close()
                if self._upstream is not None:
                    self._upstream.close()
                    self._upstream = None

    def _relay(self, response: http.client.HTTPResponse, truncate: bool,
               keep: int | None = None) -> bool:
        proxy = self.server.proxy
        self._status_line(response.status, response.reason)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() in HOP_BY_HOP:
                continue
            if name.lower() in REWRITTEN:
                value = value.replace(f"//{proxy.upstream}", f"//{self.server.proxy.host}")
            self.send_header(name, value)
        bodiless = (self.command == "HEAD" or response.status in (204, 304)
                    or 100 <= response.status < 200)
        if bodiless:
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            self.wfile.flush()
            return True
        if truncate:
            body = response.read()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2 if keep is None else min(keep, len(body))])
            self.wfile.flush()
            self.close_connection = True
            return False
        if length is not None and not response.chunked:
            self.send_header("Content-Length", length)
            self.end_headers()
            while block := response.read(BLOCK):
                self.wfile.write(block)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while block := response.read1(BLOCK):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return True
