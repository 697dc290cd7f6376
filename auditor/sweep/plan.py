"""A sweep's plan: the repositories and tags its filters take, each tag resolved to the manifests
to audit (an index to its platforms), --newest, and one group per manifest, of this shard, not
yet audited."""

from __future__ import annotations

import fnmatch
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor.errors import ImgauditError
from auditor.model.report import AuditFailure
from auditor.model.sweep import SweepTarget
from auditor.sources.documents import (
    Platform,
    best_match,
    check_digests,
    image_entries,
    when_created,
)
from auditor.sources.registry.client import Manifest, RegistryClient
from auditor.sweep.ledger import Ledger, internal_error
from auditor.sweep.options import Progress, SweepOptions
from auditor.sweep.pool import Pool

# The bytes of manifests resolving reads that are kept for their audits, which then do not fetch
# them again (a third fewer requests in a metadata-only sweep); past it, audits fetch them.
KEPT_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Pick:
    """One manifest a tag's audit reads: the tag's own, or one chosen from its index."""

    platform: str  # "" for a tag that names one image
    manifest: str  # its digest
    nested: bool = False  # an index inside the index: the audit picks `platform` from it


@dataclass(frozen=True, slots=True)
class Fetched:
    """A manifest read while resolving, kept as its bytes (parsed again for its audit, which
    then does not fetch it again)."""

    digest: str
    media_type: str
    raw: bytes

    def manifest(self) -> Manifest:
        return Manifest(self.digest, self.media_type, self.raw, json.loads(self.raw))


@dataclass(frozen=True, slots=True)
class Resolved:
    """One tag, resolved: the manifest digest it points at and the platform manifests chosen."""

    repository: str
    tag: str
    digest: str  # what the tag points at (an index's digest, for a multi-platform image)
    images: tuple[Pick, ...]
    created: str = ""  # the newest image config's `created`, with --newest
    no_platform: bool = False  # an index without the wanted platform
    fetched: Fetched | None = None  # the tag's manifest, when it is an image's


@dataclass(frozen=True, slots=True)
class Unresolved:
    repository: str
    tag: str
    message: str
    hint: str


@dataclass(slots=True)
class Group:
    """Every tag that resolved to one manifest on one platform: audited once."""

    digest: str
    platform: str
    manifest: str  # the platform manifest's digest, what is read
    targets: list[SweepTarget]
    nested: bool = False  # `manifest` is an index: `platform` is picked from it
    fetched: Fetched | None = None  # `manifest`, when resolving read it

    @property
    def primary(self) -> SweepTarget:
        return self.targets[0]


@dataclass(slots=True)
class Plan:
    """How far planning got, for the summary."""

    stage: str = "tags"
    repositories: int = 0
    tags: int = 0  # listed; once resolved, those swept (after --newest)
    images: int = 0
    other_shards: int = 0
    no_platform: int = 0


def _matches(name: str, globs: Sequence[str]) -> bool:
    return not globs or any(fnmatch.fnmatchcase(name, glob) for glob in globs)


def repositories(client: RegistryClient, options: SweepOptions) -> list[str]:
    """The catalog's repositories that --repo takes."""
    return [name for name in client.repositories(options.page_size)
            if _matches(name, options.repositories)]


def _choose(index: Manifest, wanted: Platform | None, every: bool) -> list[Pick]:
    """The index entries to audit: every image, or the one for `wanted` (default: this
    machine's); [] when none fits."""
    entries = image_entries(index.document)
    picked = entries if every else best_match(entries, wanted)
    return [Pick(str(entry.platform), entry.digest, entry.is_index) for entry in picked]


class Planner:
    """Lists and resolves tags, with a small cache of what several tags share."""

    def __init__(self, client: RegistryClient, options: SweepOptions) -> None:
        self.client = client
        self.options = options
        self.platform = Platform.parse(options.platform) if options.platform else None
        self._created: dict[str, str] = {}
        self._kept = 0  # bytes of the manifests kept for their audits
        self._lock = threading.Lock()

    def _keep(self, manifest: Manifest) -> Fetched | None:
        """The manifest, kept for its audit while the memory allowed for that lasts."""
        with self._lock:
            if self._kept + len(manifest.raw) > KEPT_MANIFEST_BYTES:
                return None
            self._kept += len(manifest.raw)
        return Fetched(manifest.digest, manifest.media_type, manifest.raw)

    def tags(self, repository: str) -> list[str] | AuditFailure:
        """The repository's tags that --tag takes, sorted; a failure when they cannot be listed."""
        try:
            found = self.client.tags(repository, self.options.page_size)
            return sorted({t for t in found if _matches(t, self.options.tags)})
        except ImgauditError as exc:
            return AuditFailure(repository, exc.message, exc.hint)

    def resolve(self, repository: str, tag: str) -> Resolved | Unresolved:
        try:
            top = self.client.manifest(repository, tag)
            fetched = None
            if top.is_index:
                images = tuple(_choose(top, self.platform, self.options.all_platforms))
                if not images:
                    return Resolved(repository, tag, top.digest, (), no_platform=True)
            else:
                images = (Pick("", top.digest),)
                fetched = self._keep(top)
            created = ""
            if self.options.newest is not None:
                created = max(
                    (self._created_of(repository, pick.manifest,
                                      top if pick.manifest == top.digest else None)
                     for pick in images),
                    key=when_created,
                )
            return Resolved(repository, tag, top.digest, images, created, fetched=fetched)
        except ImgauditError as exc:
            return Unresolved(repository, tag, exc.message, exc.hint)
        except Exception as exc:  # a bug must not stop the sweep: recorded like any failure
            return Unresolved(repository, tag, *internal_error(exc))

    def _created_of(self, repository: str, digest: str, manifest: Manifest | None) -> str:
        """The image config's `created`: one manifest and one config read per digest."""
        with self._lock:
            known = self._created.get(digest)
        if known is not None:
            return known
        manifest = manifest or self.client.manifest(
            repository, check_digests(repository, "its manifest", [digest])[0])
        config = (manifest.document.get("config") or {}).get("digest")
        created = ""
        if config:
            (blob,) = check_digests(f"{repository}@{digest[:19]}", "its config", [config])
            try:
                document = json.loads(self.client.blob(repository, blob))
            except (ValueError, RecursionError):  # (nested past all reason: no date to sort by)
                document = {}
            if isinstance(document, dict):
                created = str(document.get("created") or "")
        with self._lock:
            self._created[digest] = created
        return created


def _newest(resolved: Iterable[Resolved], count: int) -> list[Resolved]:
    """Per repository, the `count` tags whose image was created last (ties: by tag, highest
    first, so the choice is the same on every shard)."""
    by_repository: dict[str, list[Resolved]] = {}
    for item in resolved:
        by_repository.setdefault(item.repository, []).append(item)
    kept = []
    for items in by_repository.values():
        items.sort(key=lambda r: (when_created(r.created), r.tag), reverse=True)
        kept += items[:count]
    return kept


def _group(registry: str, found: Iterable[Resolved]) -> list[Group]:
    """One group per (digest, platform), its tags in order; the first tag is the one read."""
    groups: dict[tuple[str, str], Group] = {}
    for item in sorted(found, key=lambda r: (r.repository, r.tag)):
        for pick in item.images:
            target = SweepTarget(registry, item.repository, item.tag, item.digest, pick.platform)
            key = (item.digest, pick.platform)
            if key in groups:
                groups[key].targets.append(target)
            else:
                fetched = item.fetched if item.fetched and item.fetched.digest == pick.manifest \
                    else None
                groups[key] = Group(item.digest, pick.platform, pick.manifest, [target],
                                    pick.nested, fetched)
    return list(groups.values())


def prepare(client: RegistryClient, options: SweepOptions, ledger: Ledger, progress: Progress,
            plan: Plan, repositories: Sequence[str]) -> list[Group]:
    """Lists and resolves the repositories' tags, records what could not be resolved, links the
    tags of manifests already audited, and returns the groups left to audit."""
    shard = options.shard
    plan.repositories = len(repositories)
    planner = Planner(client, options)
    with Pool(options.jobs) as pool:
        listed: list[tuple[str, str]] = []
        for repository, tags in zip(repositories, pool.map(planner.tags, repositories),
                                    strict=True):
            if isinstance(tags, AuditFailure):
                ledger.failed_listing(repository, tags)
            else:
                listed += [(repository, tag) for tag in tags]
        plan.tags = len(listed)
        progress.stage("tags", len(listed))
        resolved: list[Resolved | Unresolved] = []
        for result in pool.map(lambda item: planner.resolve(*item), listed):
            progress.advance(failed=isinstance(result, Unresolved))
            resolved.append(result)
    found = [r for r in resolved if isinstance(r, Resolved)]
    if options.newest is not None:
        found = _newest(found, options.newest)
    plan.no_platform = sum(r.no_platform for r in found)
    lost = [r for r in resolved if isinstance(r, Unresolved)]
    plan.tags = len(found) + len(lost)
    for item in lost:
        # No digest to shard by: the tag's name decides which shard records it.
        if shard is None or shard.owns(f"{item.repository}:{item.tag}"):
            target = SweepTarget(client.host, item.repository, item.tag, "", "")
            ledger.failure(target, item.message, item.hint, 0.0)
    groups = _group(client.host, found)
    plan.stage = "images"
    mine = [g for g in groups if shard is None or shard.owns(g.digest)]
    plan.images = len(mine)
    plan.other_shards = len(groups) - len(mine)
    todo = []
    audited: list[SweepTarget] = []
    for group in mine:
        if not options.refresh and ledger.store.seen(group.digest, group.platform,
                                                     ledger.ruleset):
            audited += group.targets
            ledger.count("skipped")
            ledger.count("linked", len(group.targets) - 1)
        else:
            todo.append(group)
    # One transaction, not one per tag, for a rerun of a big registry.
    ledger.store.link_tags(audited)
    return todo
