"""Progress of a sweep on stderr: a rich bar on a terminal, a plain line now and then in a CI
log, nothing with --quiet. Imported only when a sweep runs (rich costs start-up time)."""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bar
from rich.text import Text

from auditor.cli.common import say
from auditor.text import printable

# Without a terminal, a plain progress line at most this often.
PLAIN_EVERY = 10.0


class _Rate(ProgressColumn):
    """Steps per second since the stage began (rich's own speed column is a short window)."""

    def render(self, task: Task) -> Text:
        elapsed = (task.finished_time if task.finished else task.elapsed) or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:6.1f}/s", style="progress.data.speed")


class _Failed(ProgressColumn):
    def render(self, task: Task) -> Text:
        failed = int(task.fields.get("failed", 0))
        return Text(f"{failed} failed", style="red" if failed else "progress.remaining")


class BarProgress:
    """A rich progress bar on stderr, one line per stage."""

    def __init__(self) -> None:
        self._bar = Bar(
            TextColumn("[bold]{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
            _Failed(), _Rate(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._task: TaskID | None = None
        self._failed = 0
        self._lock = threading.Lock()

    def __enter__(self) -> BarProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def stage(self, name: str, total: int) -> None:
        with self._lock:
            if self._task is not None:
                self._bar.stop_task(self._task)
            self._failed = 0
            self._task = self._bar.add_task(name, total=total, failed=0)

    def advance(self, failed: bool = False) -> None:
        with self._lock:
            if self._task is None:
                return
            self._failed += failed
            self._bar.update(self._task, advance=1, failed=self._failed)

    def note(self, text: str) -> None:
        self._bar.console.print(printable(f"imgaudit: {text}"), highlight=False, markup=False)


class PlainProgress:
    """Without a terminal (CI logs): a line when a stage starts and at most every PLAIN_EVERY
    seconds, so a log shows the sweep is alive without a line per image."""

    def __init__(self, every: float = PLAIN_EVERY) -> None:
        self.every = every
        self._name = ""
        self._total = self._done = self._failed = 0
        self._started = self._last = time.monotonic()
        self._lock = threading.Lock()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def stage(self, name: str, total: int) -> None:
        with self._lock:
            self._name, self._total, self._done, self._failed = name, total, 0, 0
            self._started = self._last = time.monotonic()
        say(f"imgaudit: sweep: {total} {name} to do")

    def advance(self, failed: bool = False) -> None:
        with self._lock:
            self._done += 1
            self._failed += failed
            now = time.monotonic()
            if now - self._last < self.every and self._done < self._total:
                return
            self._last = now
            elapsed = now - self._started
            rate = self._done / elapsed if elapsed > 0 else 0.0
            left = (self._total - self._done) / rate if rate > 0 else 0.0
            line = (f"imgaudit: sweep: {self._done}/{self._total} {self._name}, {self._failed} "
                    f"failed, {rate:.1f}/s, ETA {left:.0f} s")
        say(line)

    def note(self, text: str) -> None:
        say(f"imgaudit: {text}")


class QuietProgress(PlainProgress):
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, failed: bool = False) -> None:
        pass


def progress_for(quiet: bool) -> BarProgress | PlainProgress:
    if quiet:
        return QuietProgress()
    return BarProgress() if sys.stderr.isatty() else PlainProgress()
