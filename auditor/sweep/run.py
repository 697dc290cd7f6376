"""Audits a sweep's groups on worker threads, `jobs` at a time: each group opened and judged
through the pipeline's Ruleset, recorded as it finishes, timed out past its deadline, and Ctrl-C
answered within a short grace period."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence

from auditor.errors import ImgauditError, NotAnImage
from auditor.model.report import ImageReport
from auditor.pipeline import Ruleset
from auditor.sources.cache import LayerCache
from auditor.sources.documents import Platform
from auditor.sources.interface import REGISTRY, OpenRequest, Target
from auditor.sources.registry.source import RegistrySource
from auditor.sweep.ledger import Ledger, internal_error
from auditor.sweep.options import Progress, SweepOptions
from auditor.sweep.plan import Group

# How long Ctrl-C waits for running audits before abandoning them (they are not recorded, so the
# next sweep does them again).
GRACE_SECONDS = 2.0


class Job:
    """One group's audit. The worker records its result unless the sweep left the job behind
    first (timed out, or interrupted); whichever comes first wins."""

    RUNNING, RECORDING, DONE, ABANDONED = "running", "recording", "done", "abandoned"

    def __init__(self, group: Group, deadline: float) -> None:
        self.group = group
        self.deadline = deadline
        self.state = self.RUNNING
        self.failed = False
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """The worker's right to record its result; False once the sweep left it behind."""
        with self._lock:
            if self.state != self.RUNNING:
                return False
            self.state = self.RECORDING
            return True

    def abandon(self) -> bool:
        """Leaves a running job behind; False if it is recording or done, whose result then
        stands."""
        with self._lock:
            if self.state != self.RUNNING:
                return False
            self.state = self.ABANDONED
            return True


class Runner:
    """The audits of one sweep: the workers, their jobs and what they record."""

    def __init__(self, options: SweepOptions, source: RegistrySource, cache: LayerCache,
                 rules: Ruleset, ledger: Ledger, progress: Progress) -> None:
        self.options = options
        self.source = source
        self.cache = cache
        self.rules = rules
        self.ledger = ledger
        self.progress = progress
        self._lock = threading.Condition()
        self._fatal: BaseException | None = None
        self._pending: list[Group] = []  # groups not started, the next one last
        self._running: list[Job] = []
        self._stopping = False

    # -- the audit of one manifest

    def _open(self, group: Group) -> ImageReport:
        target = group.primary
        pinned = Target(REGISTRY, f"{target.registry}/{target.repository}@{group.manifest}")
        platform = Platform.parse(group.platform) if group.nested else None
        (image,) = self.source.open(
            pinned, OpenRequest(self.rules.wanted, self.cache, platform=platform),
            manifest=group.fetched.manifest() if group.fetched is not None else None)
        shown = f"docker://{target.registry}/{target.repository}:{target.tag}"
        if group.platform:
            shown += f" ({group.platform})"
        return self.rules.judge(dataclasses.replace(image, reference=shown))

    def _run(self, job: Job) -> None:
        started = time.monotonic()
        group = job.group
        item: ImageReport | None = None
        message = hint = ""
        not_image = False
        try:
            item = self._open(group)
        except NotAnImage as exc:  # an artifact: recorded as such, and not a failure
            message, hint, not_image = exc.message, exc.hint, True
        except ImgauditError as exc:
            message, hint = exc.message, exc.hint
        except Exception as exc:  # one image's bug must not stop the sweep
            message, hint = internal_error(exc)
        if not job.claim():
            return  # the sweep recorded a timeout (or was interrupted) meanwhile
        try:
            duration = time.monotonic() - started
            if item is not None:
                self.ledger.audited(group.primary, item, duration)
            elif not_image:
                self.ledger.not_image(group.primary, message, hint, duration)
            else:
                job.failed = True
                self.ledger.failure(group.primary, message, hint, duration)
            self.ledger.link(group.targets[1:])
        except BaseException as exc:  # the database cannot be written: the sweep must stop
            with self._lock:
                self._fatal = self._fatal or exc
                self._stopping = True
        finally:
            with self._lock:
                job.state = Job.DONE
                self._lock.notify_all()

    def _worker(self) -> None:
        """Takes groups until none is left or the sweep stops. Workers live for the whole sweep,
        so each keeps its HTTP connection; one whose job was left behind ends after it (a
        replacement took its place)."""
        while True:
            with self._lock:
                if self._stopping or not self._pending:
                    return
                job = Job(self._pending.pop(), time.monotonic() + self.options.timeout)
                self._running.append(job)
            self._run(job)
            if job.state == Job.ABANDONED:
                return

    def _start_worker(self) -> None:
        threading.Thread(target=self._worker, daemon=True, name="imgaudit-sweep").start()

    def _time_out(self, job: Job) -> None:
        group = job.group
        timeout = self.options.timeout
        self.ledger.failure(group.primary, f"timed out after {timeout:g} s",
                            "raise --timeout, or check that the registry answers promptly; "
                            "the next sweep tries it again", timeout)
        self.ledger.link(group.targets[1:])

    def audit(self, groups: Sequence[Group]) -> tuple[bool, int]:
        """Audits the groups, `jobs` at a time; returns (interrupted, audits left unfinished).

        A job past its deadline is recorded as timed out and left to its thread (which cannot be
        killed; the client's socket timeout ends a stalled read), and a new worker takes its
        place. Ctrl-C (KeyboardInterrupt) stops handing out groups and waits GRACE_SECONDS for
        the audits under way; a second Ctrl-C stops waiting."""
        self._pending = list(reversed(groups))
        for _ in range(min(self.options.jobs, len(groups))):
            self._start_worker()
        interrupted = False
        try:
            while self._reap(until=None):
                pass
        except KeyboardInterrupt:
            interrupted = True
            with self._lock:
                self._stopping = True
            self.progress.note("interrupted: finishing the audits under way "
                               f"(up to {GRACE_SECONDS:g} s; Ctrl-C again to stop now)")
            deadline = time.monotonic() + GRACE_SECONDS
            try:
                while time.monotonic() < deadline and self._reap(until=deadline):
                    pass
            except KeyboardInterrupt:
                pass
        with self._lock:
            self._stopping = True
            left = len(self._pending) + sum(job.abandon() for job in self._running)
        if self._fatal is not None:
            raise self._fatal
        return interrupted, left

    def _reap(self, until: float | None) -> bool:
        """Waits a little for audits to end, counts those that did, and records those past their
        deadline as timed out. False when there is nothing left to wait for."""
        with self._lock:
            if not any(job.state == Job.DONE for job in self._running):
                nearest = min((job.deadline for job in self._running), default=0.0)
                if until is not None:
                    nearest = min(nearest, until)
                # Wake at least every half second, so Ctrl-C is seen promptly.
                self._lock.wait(max(0.01, min(0.5, nearest - time.monotonic())))
            done = [job for job in self._running if job.state == Job.DONE]
            late = [job for job in self._running
                    if job.state == Job.RUNNING and time.monotonic() >= job.deadline]
            for job in done:
                self._running.remove(job)
        for job in done:
            self.progress.advance(failed=job.failed)
        for job in late:
            if job.abandon():
                with self._lock:
                    self._running.remove(job)
                    replace = bool(self._pending) and not self._stopping
                self._time_out(job)
                self.progress.advance(failed=True)
                if replace:
                    self._start_worker()
        with self._lock:
            return self._fatal is None and bool(self._running or
                                                (self._pending and not self._stopping))
