"""Sweeps a whole registry: lists its repositories and tags, resolves each tag to its manifest,
audits every manifest not yet in the results database once (threads, per-image deadline) and
records each result as it finishes, so an interrupted sweep resumes where it stopped."""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.errors import ImgauditError, NotAnImage, UsageError
from auditor.formats.json import image_document
from auditor.model.policy import Policy
from auditor.model.report import AuditFailure, ImageReport
from auditor.model.sweep import SweepTarget
from auditor.pipeline import Ruleset
from auditor.redact import mask_secrets
from auditor.sources.cache import LayerCache
from auditor.sources.documents import Platform, best_match, image_entries
from auditor.sources.interface import REGISTRY, OpenRequest, Target
from auditor.sources.registry.client import Manifest, RegistryClient
from auditor.sources.registry.source import RegistrySource
from auditor.store import SweepStore
from auditor.text import printable

__all__ = [
    "GRACE_SECONDS",
    "NullProgress",
    "Progress",
    "Shard",
    "SweepOptions",
    "SweepSummary",
    "shard_from_env",
    "shard_key",
    "sweep",
]

# How long Ctrl-C waits for running audits before abandoning them (they are not recorded, so the
# next sweep does them again).
GRACE_SECONDS = 2.0
# The most failures a summary keeps for printing; every one is in the database.
_SHOWN_FAILURES = 20
# The bytes of manifests resolving reads that are kept for their audits, which then do not fetch
# them again (a third fewer requests in a metadata-only sweep); past it, audits fetch them.
KEPT_MANIFEST_BYTES = 64 * 1024 * 1024


# ------------------------------------------------------------------------------------ sharding


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based, as `--shard K/N` says it)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 1 <= self.index <= self.count):
            raise UsageError(f"shard {self.index}/{self.count} does not exist",
                             hint="write --shard K/N with 1 <= K <= N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise UsageError(f"{text!r} is not a shard",
                             hint="write --shard K/N, for example --shard 2/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        return shard_key(key) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_key(key: str) -> int:
    """A stable 64-bit number for a key: the same on every machine, Python version and run
    (unlike hash(), which is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def shard_from_env(shard: str | None, shards: int | None,
                   env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard this process sweeps: `--shard K/N`, else IMGAUDIT_SHARD=K/N, else a Kubernetes
    Indexed Job's JOB_COMPLETION_INDEX (0-based) with `--shards N` (or IMGAUDIT_SHARDS=N)."""
    env = os.environ if env is None else env
    if shard:
        return Shard.parse(shard)
    if explicit := env.get("IMGAUDIT_SHARD", "").strip():
        return Shard.parse(explicit)
    count = shards
    if count is None and (text := env.get("IMGAUDIT_SHARDS", "").strip()):
        if not text.isdigit():
            raise UsageError(f"IMGAUDIT_SHARDS={text!r} is not a number of shards",
                             hint="set IMGAUDIT_SHARDS to the Job's completions, e.g. 4")
        count = int(text)
    index = env.get("JOB_COMPLETION_INDEX", "").strip()
    if count is None:
        return None  # JOB_COMPLETION_INDEX alone does not say how many shards there are
    if not index:
        if count == 1:
            return None
        raise UsageError(f"--shards {count} needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job "
                         "sets it) to say which shard this is",
                         hint="use --shard K/N outside an Indexed Job")
    if not index.isdigit():
        raise UsageError(f"JOB_COMPLETION_INDEX={index!r} is not a number",
                         hint="run in a Kubernetes Indexed Job, or use --shard K/N")
    return Shard(int(index) + 1, count)


# ------------------------------------------------------------------------------------ options


@dataclass(frozen=True, slots=True)
class SweepOptions:
    repositories: tuple[str, ...] = ()  # globs on the repository name; () takes every one
    tags: tuple[str, ...] = ()  # globs on the tag; () takes every one
    newest: int | None = None  # per repository, the N tags whose image is newest (config.created)
    jobs: int = 8
    timeout: float = 300.0  # seconds one image may take before it is recorded as an error
    refresh: bool = False  # audit digests the database already holds a result for
    shard: Shard | None = None
    content: bool = True  # read layer contents (False: manifest and config only)
    platform: str | None = None  # from an index: this platform (default: this machine's)
    all_platforms: bool = False  # from an index: every platform
    page_size: int = 1000  # entries asked for per page of the catalog and of each tag list
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """What one sweep did. `images` counts manifests (a digest on a platform) this shard owns;
    every tag of them is recorded, audited or linked to the audit of another tag."""

    registry: str
    ruleset: str
    repositories: int  # repositories swept (after --repo)
    tags: int  # tags swept (after --tag and --newest), in every shard
    images: int  # unique manifests this shard owns
    audited: int  # audited now, successfully
    skipped: int  # already in the database for this rule set
    failed: int  # could not be audited (recorded; the next sweep retries them)
    not_images: int  # recorded as skipped: not container images (Helm charts, signatures...)
    linked: int  # tags recorded against another tag's audit of the same manifest
    other_shards: int  # unique manifests left to the other shards
    no_platform: int  # tags of an index without the wanted platform (not audited)
    elapsed: float
    bytes_downloaded: int
    interrupted: bool = False
    unfinished: int = 0  # audits not done when interrupted (with stage "tags": tags listed)
    stage: str = "images"  # where it ended: "tags" (listing, resolving them) or "images"
    failures: tuple[AuditFailure, ...] = ()  # the first few, for printing
    shard: str = ""

    @property
    def rate(self) -> float:
        """Manifests handled (audited, failed, skipped or found no image) per second of the whole
        sweep."""
        done = self.audited + self.failed + self.skipped + self.not_images
        return done / self.elapsed if self.elapsed > 0 else 0.0


# ------------------------------------------------------------------------------------ progress


class Progress(Protocol):
    """Where a sweep reports how far it got; the CLI draws a bar, tests count."""

    def stage(self, name: str, total: int) -> None:
        """A new stage ("tags": resolving tags, "images": auditing) with `total` steps."""

    def advance(self, failed: bool = False) -> None:
        """One step of the current stage done (failed: it ended in a recorded error)."""

    def note(self, text: str) -> None:
        """Something a person watching should know (one line, no secrets)."""


class NullProgress:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, failed: bool = False) -> None:
        pass

    def note(self, text: str) -> None:
        pass


# ------------------------------------------------------------------------------------ planning


@dataclass(frozen=True, slots=True)
class _Pick:
    """One manifest a tag's audit reads: the tag's own, or one chosen from its index."""

    platform: str  # "" for a tag that names one image
    manifest: str  # its digest
    nested: bool = False  # an index inside the index: the audit picks `platform` from it


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A manifest read while resolving, kept as its bytes (parsed again for its audit, which
    then does not fetch it again)."""

    digest: str
    media_type: str
    raw: bytes

    def manifest(self) -> Manifest:
        return Manifest(self.digest, self.media_type, self.raw, json.loads(self.raw))


@dataclass(frozen=True, slots=True)
class _Resolved:
    """One tag, resolved: the manifest digest it points at and the platform manifests chosen."""

    repository: str
    tag: str
    digest: str  # what the tag points at (an index's digest, for a multi-platform image)
    images: tuple[_Pick, ...]
    created: str = ""  # the newest image config's `created`, with --newest
    no_platform: bool = False  # an index without the wanted platform
    fetched: _Fetched | None = None  # the tag's manifest, when it is an image's


@dataclass(frozen=True, slots=True)
class _Unresolved:
    repository: str
    tag: str
    message: str
    hint: str


@dataclass(slots=True)
class _Group:
    """Every tag that resolved to one manifest on one platform: audited once."""

    digest: str
    platform: str
    manifest: str  # the platform manifest's digest, what is read
    targets: list[SweepTarget]
    nested: bool = False  # `manifest` is an index: `platform` is picked from it
    fetched: _Fetched | None = None  # `manifest`, when resolving read it

    @property
    def primary(self) -> SweepTarget:
        return self.targets[0]


def _internal(exc: Exception) -> tuple[str, str]:
    """A bug's one-line record (its text may quote what the registry sent), and its hint."""
    return (printable(f"internal error: {type(exc).__name__}: {exc}", 300),
            "this is a bug in imgaudit; please report it")


def _matches(name: str, globs: Sequence[str]) -> bool:
    return not globs or any(fnmatch.fnmatchcase(name, glob) for glob in globs)


def _choose(index: Manifest, wanted: Platform | None, every: bool) -> list[_Pick]:
    """The index entries to audit: every image, or the one for `wanted` (default: this
    machine's); [] when none fits."""
    entries = image_entries(index.document)
    picked = entries if every else best_match(entries, wanted)
    return [_Pick(str(entry.platform), entry.digest, entry.is_index) for entry in picked]


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def _when(created: str) -> datetime.datetime:
    """An image config's `created` (RFC 3339, maybe with nanoseconds) as an aware datetime;
    the epoch when absent or unreadable, so such images rank oldest."""
    text = _FRACTION.sub(r"\1", created.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


class _Planner:
    """Lists and resolves tags, with a small cache of what several tags share."""

    def __init__(self, client: RegistryClient, options: SweepOptions) -> None:
        self.client = client
        self.options = options
        self.platform = Platform.parse(options.platform) if options.platform else None
        self._created: dict[str, str] = {}
        self._kept = 0  # bytes of the manifests kept for their audits
        self._lock = threading.Lock()

    def _keep(self, manifest: Manifest) -> _Fetched | None:
        """The manifest, kept for its audit while the memory allowed for that lasts."""
        with self._lock:
            if self._kept + len(manifest.raw) > KEPT_MANIFEST_BYTES:
                return None
            self._kept += len(manifest.raw)
        return _Fetched(manifest.digest, manifest.media_type, manifest.raw)

    def tags(self, repository: str) -> list[str] | AuditFailure:
        """The repository's tags that --tag takes, sorted; a failure when they cannot be listed."""
        try:
            found = self.client.tags(repository, self.options.page_size)
            return sorted({t for t in found if _matches(t, self.options.tags)})
        except ImgauditError as exc:
            return AuditFailure(repository, exc.message, exc.hint)

    def resolve(self, repository: str, tag: str) -> _Resolved | _Unresolved:
        try:
            top = self.client.manifest(repository, tag)
            fetched = None
            if top.is_index:
                images = tuple(_choose(top, self.platform, self.options.all_platforms))
                if not images:
                    return _Resolved(repository, tag, top.digest, (), no_platform=True)
            else:
                images = (_Pick("", top.digest),)
                fetched = self._keep(top)
            created = ""
            if self.options.newest is not None:
                created = max(
                    (self._created_of(repository, pick.manifest,
                                      top if pick.manifest == top.digest else None)
                     for pick in images),
                    key=_when,
                )
            return _Resolved(repository, tag, top.digest, images, created, fetched=fetched)
        except ImgauditError as exc:
            return _Unresolved(repository, tag, exc.message, exc.hint)
        except Exception as exc:  # a bug must not stop the sweep: recorded like any failure
            return _Unresolved(repository, tag, *_internal(exc))

    def _created_of(self, repository: str, digest: str, manifest: Manifest | None) -> str:
        """The image config's `created`: one manifest and one config read per digest."""
        with self._lock:
            known = self._created.get(digest)
        if known is not None:
            return known
        manifest = manifest or self.client.manifest(repository, digest)
        config = str((manifest.document.get("config") or {}).get("digest") or "")
        created = ""
        if config:
            try:
                document = json.loads(self.client.blob(repository, config))
            except ValueError:
                document = {}
            if isinstance(document, dict):
                created = str(document.get("created") or "")
        with self._lock:
            self._created[digest] = created
        return created


def _newest(resolved: Iterable[_Resolved], count: int) -> list[_Resolved]:
    """Per repository, the `count` tags whose image was created last (ties: by tag, highest
    first, so the choice is the same on every shard)."""
    by_repository: dict[str, list[_Resolved]] = {}
    for item in resolved:
        by_repository.setdefault(item.repository, []).append(item)
    kept = []
    for items in by_repository.values():
        items.sort(key=lambda r: (_when(r.created), r.tag), reverse=True)
        kept += items[:count]
    return kept


# ------------------------------------------------------------------------------------ running


class _Job:
    """One group's audit. The worker records its result unless the sweep left the job behind
    first (timed out, or interrupted); whichever comes first wins."""

    RUNNING, RECORDING, DONE, ABANDONED = "running", "recording", "done", "abandoned"

    def __init__(self, group: _Group, deadline: float) -> None:
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


class _Sweep:
    def __init__(self, client: RegistryClient, store: SweepStore, options: SweepOptions,
                 source: RegistrySource, cache: LayerCache, progress: Progress) -> None:
        self.client = client
        self.store = store
        self.options = options
        self.source = source
        self.cache = cache
        self.progress = progress
        self.rules = Ruleset.prepare(options.policy, options.content)
        self.ruleset = self.rules.version
        self.failures: list[AuditFailure] = []
        self.counts = {"audited": 0, "failed": 0, "skipped": 0, "linked": 0, "not_images": 0}
        self._lock = threading.Condition()
        self._fatal: BaseException | None = None
        self._pending: list[_Group] = []  # groups not started, the next one last
        self._running: list[_Job] = []
        self._stopping = False

    # -- bookkeeping

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.counts[name] += by

    def failure(self, target: SweepTarget, message: str, hint: str, duration: float) -> None:
        self.store.record_failure(target, message, hint, self.ruleset, duration)
        self._failed(AuditFailure(target.reference, message, hint))

    def failed_listing(self, repository: str, failure: AuditFailure) -> None:
        """A repository whose tags cannot be listed: counted and shown, not stored (there is no
        tag to store it under); the next sweep lists it again."""
        self._failed(AuditFailure(f"{self.client.host}/{repository}", failure.message,
                                  failure.hint))

    def _failed(self, failure: AuditFailure) -> None:
        """Counted; the first few kept for the summary."""
        with self._lock:
            self.counts["failed"] += 1
            if len(self.failures) < _SHOWN_FAILURES:
                self.failures.append(failure)

    def _link_rest(self, group: _Group) -> None:
        self.store.link_tags(group.targets[1:])
        self.count("linked", len(group.targets) - 1)

    # -- the audit of one manifest

    def _open(self, group: _Group) -> ImageReport:
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

    def _run(self, job: _Job) -> None:
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
            message, hint = _internal(exc)
        if not job.claim():
            return  # the sweep recorded a timeout (or was interrupted) meanwhile
        try:
            duration = time.monotonic() - started
            if item is not None:
                self.store.record_report(group.primary, item, image_document(item), self.ruleset,
                                         duration)
                self.count("audited")
            elif not_image:
                self.store.record_skipped(group.primary, message, hint, self.ruleset, duration)
                self.count("not_images")
            else:
                job.failed = True
                self.failure(group.primary, message, hint, duration)
            self._link_rest(group)
        except BaseException as exc:  # the database cannot be written: the sweep must stop
            with self._lock:
                self._fatal = self._fatal or exc
                self._stopping = True
        finally:
            with self._lock:
                job.state = _Job.DONE
                self._lock.notify_all()

    def _worker(self) -> None:
        """Takes groups until none is left or the sweep stops. Workers live for the whole sweep,
        so each keeps its HTTP connection; one whose job was left behind ends after it (a
        replacement took its place)."""
        while True:
            with self._lock:
                if self._stopping or not self._pending:
                    return
                job = _Job(self._pending.pop(), time.monotonic() + self.options.timeout)
                self._running.append(job)
            self._run(job)
            if job.state == _Job.ABANDONED:
                return

    def _start_worker(self) -> None:
        threading.Thread(target=self._worker, daemon=True, name="imgaudit-sweep").start()

    def _time_out(self, job: _Job) -> None:
        group = job.group
        timeout = self.options.timeout
        self.failure(group.primary, f"timed out after {timeout:g} s",
                     "raise --timeout, or check that the registry answers promptly; "
                     "the next sweep tries it again", timeout)
        self._link_rest(group)

    def audit(self, groups: Sequence[_Group]) -> tuple[bool, int]:
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
            if not any(job.state == _Job.DONE for job in self._running):
                nearest = min((job.deadline for job in self._running), default=0.0)
                if until is not None:
                    nearest = min(nearest, until)
                # Wake at least every half second, so Ctrl-C is seen promptly.
                self._lock.wait(max(0.01, min(0.5, nearest - time.monotonic())))
            done = [job for job in self._running if job.state == _Job.DONE]
            late = [job for job in self._running
                    if job.state == _Job.RUNNING and time.monotonic() >= job.deadline]
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


def sweep(
    client: RegistryClient,
    store: SweepStore,
    options: SweepOptions,
    *,
    cache: LayerCache | None = None,
    source: RegistrySource | None = None,
    progress: Progress | None = None,
) -> SweepSummary:
    """Sweeps the registry `client` talks to into `store`; see the module docstring.

    Raises ImgauditError when the sweep cannot run at all (the catalog cannot be read, bad
    options, the database cannot be written); a failing image is recorded, never raised.
    Ctrl-C (KeyboardInterrupt) is handled: the summary then says `interrupted`, and what was
    recorded stays recorded."""
    started = time.monotonic()
    progress = progress or NullProgress()
    work = _Sweep(client, store, options, source or RegistrySource(client),
                  cache or LayerCache.disabled(), progress)
    shard = options.shard
    # The catalog first: a registry that cannot be read leaves no sweep behind in the database.
    repositories = [name for name in client.repositories(options.page_size)
                    if _matches(name, options.repositories)]
    sweep_id = store.begin_sweep(client.host, shard=str(shard or ""), options=mask_secrets({
        "repo": list(options.repositories), "tag": list(options.tags), "newest": options.newest,
        "content": options.content, "platform": options.platform,
        "all_platforms": options.all_platforms, "refresh": options.refresh,
        "ruleset": work.ruleset,
    }))
    plan = _Plan()
    interrupted, unfinished = False, 0
    try:
        todo = _prepare(work, plan, repositories)
        progress.stage("images", len(todo))
        interrupted, unfinished = work.audit(todo)
    except KeyboardInterrupt:  # while tags were listed or resolved, or tags linked
        interrupted = True
        unfinished = plan.tags if plan.stage == "tags" else max(
            0, plan.images - work.counts["skipped"])
    if interrupted:
        # Requests still under way are left to their (daemon) threads; no new one reuses a
        # connection of this sweep.
        client.close()
    else:
        store.end_sweep(sweep_id)
    counts = work.counts
    return SweepSummary(
        registry=client.host, ruleset=work.ruleset, repositories=plan.repositories,
        tags=plan.tags, images=plan.images, audited=counts["audited"],
        skipped=counts["skipped"], failed=counts["failed"], not_images=counts["not_images"],
        linked=counts["linked"],
        other_shards=plan.other_shards, no_platform=plan.no_platform,
        elapsed=time.monotonic() - started, bytes_downloaded=client.bytes_downloaded,
        interrupted=interrupted, unfinished=unfinished, failures=tuple(work.failures),
        shard=str(shard or ""), stage=plan.stage,
    )


@dataclass(slots=True)
class _Plan:
    stage: str = "tags"
    repositories: int = 0
    tags: int = 0  # listed; once resolved, those swept (after --newest)
    images: int = 0
    other_shards: int = 0
    no_platform: int = 0


def _prepare(work: _Sweep, plan: _Plan, repositories: Sequence[str]) -> list[_Group]:
    """Lists and resolves the repositories' tags, records what could not be resolved, links the
    tags of manifests already audited, and returns the groups left to audit."""
    client, options, store, shard = work.client, work.options, work.store, work.options.shard
    plan.repositories = len(repositories)
    planner = _Planner(client, options)
    with _Pool(options.jobs) as pool:
        listed: list[tuple[str, str]] = []
        for repository, tags in zip(repositories, pool.map(planner.tags, repositories),
                                    strict=True):
            if isinstance(tags, AuditFailure):
                work.failed_listing(repository, tags)
            else:
                listed += [(repository, tag) for tag in tags]
        plan.tags = len(listed)
        work.progress.stage("tags", len(listed))
        resolved: list[_Resolved | _Unresolved] = []
        for result in pool.map(lambda item: planner.resolve(*item), listed):
            work.progress.advance(failed=isinstance(result, _Unresolved))
            resolved.append(result)
    found = [r for r in resolved if isinstance(r, _Resolved)]
    if options.newest is not None:
        found = _newest(found, options.newest)
    plan.no_platform = sum(r.no_platform for r in found)
    lost = [r for r in resolved if isinstance(r, _Unresolved)]
    plan.tags = len(found) + len(lost)
    for item in lost:
        # No digest to shard by: the tag's name decides which shard records it.
        if shard is None or shard.owns(f"{item.repository}:{item.tag}"):
            target = SweepTarget(client.host, item.repository, item.tag, "", "")
            work.failure(target, item.message, item.hint, 0.0)
    groups = _group(client.host, found)
    plan.stage = "images"
    mine = [g for g in groups if shard is None or shard.owns(g.digest)]
    plan.images = len(mine)
    plan.other_shards = len(groups) - len(mine)
    todo = []
    audited: list[SweepTarget] = []
    for group in mine:
        if not options.refresh and store.seen(group.digest, group.platform, work.ruleset):
            audited += group.targets
            work.count("skipped")
            work.count("linked", len(group.targets) - 1)
        else:
            todo.append(group)
    store.link_tags(audited)  # one transaction, not one per tag, for a rerun of a big registry
    return todo


class _Pool:
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

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self._closed.set()


def _group(registry: str, found: Iterable[_Resolved]) -> list[_Group]:
    """One group per (digest, platform), its tags in order; the first tag is the one read."""
    groups: dict[tuple[str, str], _Group] = {}
    for item in sorted(found, key=lambda r: (r.repository, r.tag)):
        for pick in item.images:
            target = SweepTarget(registry, item.repository, item.tag, item.digest, pick.platform)
            key = (item.digest, pick.platform)
            if key in groups:
                groups[key].targets.append(target)
            else:
                fetched = item.fetched if item.fetched and item.fetched.digest == pick.manifest \
                    else None
                groups[key] = _Group(item.digest, pick.platform, pick.manifest, [target],
                                     pick.nested, fetched)
    return list(groups.values())
