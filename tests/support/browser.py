"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
no driver binary, no port, no browser download; only Debian's `chromium` package."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"


_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class BrowserError(Exception):
    pass


def _above(fd: int, lowest: int) -> int:
    """The same pipe end as a descriptor numbered `lowest` or more; the original is closed."""
    lifted = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.close(fd)
    return lifted


class Page:
    """One tab: navigate, evaluate JavaScript, click like a mouse, and collect every console
    error, uncaught exception, log entry and network request the page makes."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session
        self.errors: list[str] = []
        self.requests: list[str] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self._browser.send(method, params, session=self._session)

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"uncaught: {text}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            values = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.errors.append("console.error: " + " ".join(values))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"log: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def goto(self, url: str, timeout: float = 15) -> None:
        waiter = self._browser.expect("Page.loadEventFired", self._session)
        self.send("Page.navigate", url=url)
        waiter.wait(timeout)

    def eval(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}")
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the element."""
        box = self.eval(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
        if box is None:
            raise BrowserError(f"no element matches {selector!r}")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                      button="left", clickCount=1)

    def type(self, selector: str, text: str) -> None:
        """Focuses a field and types into it as a keyboard would (input events fire)."""
        self.click(selector)
        self.send("Input.insertText", text=text)


class _Waiter:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.params: dict[str, Any] = {}

    def set(self, params: dict[str, Any]) -> None:
        self.params = params
        self._event.set()

    def wait(self, timeout: float) -> dict[str, Any]:
        if not self._event.wait(timeout):
            raise BrowserError("timed out waiting for the browser")
        return self.params


class Browser:
    """A Chromium process and its DevTools pipe: requests out on fd 3, replies in on fd 4,
    each message JSON ended by a NUL byte."""

    def __init__(self, executable: str = CHROMIUM) -> None:
        self._profile = tempfile.mkdtemp(prefix="imgaudit-chromium-")
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()
        # The browser's ends must become fds 3 and 4; lift them above both first, so that
        # neither redirection below overwrites the other's source.
        to_browser_r, from_browser_w = (_above(fd, 10) for fd in (to_browser_r, from_browser_w))
        args = [executable, "--headless=new", "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,900", "about:blank"]
        # A small Python trampoline puts them at 3 and 4 and becomes the browser.
        self._process = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next = 0
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, _Waiter]] = []
        self._pages: dict[str, Page] = {}
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line)

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                for reply in self._replies.values():
                    reply.put({"error": {"message": "browser closed the pipe"}})
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                reply = self._replies.pop(message["id"], None)
            if reply is not None:
                reply.put(message)
            return
        method, session = message.get("method", ""), message.get("sessionId")
        params = message.get("params", {})
        page = self._pages.get(session or "")
        if page is not None:
            page._event(method, params)
        with self._lock:
            matched = [w for w in self._waiters if w[0] == method and w[1] in (None, session)]
            for entry in matched:
                self._waiters.remove(entry)
        for _, _, waiter in matched:
            waiter.set(params)

    def expect(self, method: str, session: str | None = None) -> _Waiter:
        waiter = _Waiter()
        with self._lock:
            self._waiters.append((method, session, waiter))
        return waiter

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None, timeout: float = 15) -> dict[str, Any]:
        reply: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._next += 1
            number = self._next
            self._replies[number] = reply
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        try:
            answer = reply.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"{method}: no answer in {timeout} s; stderr: "
                               + b"".join(self._stderr[-20:]).decode(errors="replace")) from None
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        return page

    def close(self) -> None:
        with suppress(BrowserError):
            self.send("Browser.close", timeout=5)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._in, self._out):
            with suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)


@contextmanager
def chromium(executable: str = CHROMIUM) -> Iterator[Browser]:
    if not Path(executable).exists():
        raise BrowserError(f"{executable} is missing (run `bash fixtures/browser.sh`)")
    browser = Browser(executable)
    try:
        browser.send("Browser.getVersion", timeout=30)
        yield browser
    finally:
        browser.close()
