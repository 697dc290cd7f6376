"""A small pool of daemon threads whose `map` yields results in order: the sweep's planning
(listing and resolving tags) runs on it, and Ctrl-C never waits for a stalled request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any


class Pool:
    """Threads whose `map` yields results in order. On leaving (Ctrl-C included) what has not
    started is dropped, and nothing waits for what has: the threads are daemons, as the audit
    workers are, so a request stalled on the registry never holds up the end of the process
    (a ThreadPoolExecutor's threads are joined when the interpreter exits)."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._closed = threading.Event()

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        futures: list[Future[Any]] = [Future() for _ in items]
        work = iter(list(zip(items, futures, strict=True)))
        lock = threading.Lock()

        def run() -> None:
            while not self._closed.is_set():
                with lock:
                    taken = next(work, None)
                if taken is None:
                    return
                item, future = taken
                if not future.set_running_or_notify_cancel():
                    continue  # dropped: the sweep stopped
                try:
                    future.set_result(function(item))
                except BaseException as exc:  # handed to the caller, as an executor does
                    future.set_exception(exc)

        for _ in range(min(self._workers, len(futures))):
            threading.Thread(target=run, daemon=True, name="imgaudit-plan").start()
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self._closed.set()
