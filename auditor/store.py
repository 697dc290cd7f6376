"""The sweep results database: SQLite (WAL), one committed transaction per audited image, safe to
share between threads, and merged across shard databases when read.

    store = SweepStore.open(path)                        # creates the schema; StoreError if the
                                                         # file is not an imgaudit sweep database
    sweep = store.begin_sweep(registry, shard="", options={...}) -> int
    store.seen(digest, platform, ruleset) -> bool        # an audit (or a skip) exists
    store.record_report(target, item, document, ruleset, duration)  # an ImageReport and its
                                                         # JSON document; tag -> digest mapped
    store.record_failure(target, message, hint, ruleset, duration)
    store.record_skipped(target, message, hint, ruleset, duration)   # not a container image
    store.link_tag(target)                               # repo:tag -> an already audited digest
    store.end_sweep(sweep); store.close()                # (or use the store as a context manager)
    load(paths) -> SweepResults                          # one or many databases, merged

Audits are appended, never overwritten: for each manifest (digest, platform) a reader shows the
newest successful audit (under whichever rule set), else the newest skip (not an image), else
the newest error; each tag shows what the newest sweep that saw it found (the digest, one row per
platform audited), in one database as across merged ones. Every `record_*` commits before
returning, so a sweep killed at any moment keeps every result it recorded. A database of schema 1
(before skips) is read as it is, and brought to schema 2 when opened for writing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

from auditor.errors import StoreError
from auditor.model.findings import Practice, Severity, Status
from auditor.model.image import Origin
from auditor.model.report import ImageReport, PracticeResult
from auditor.model.sweep import (
    AuditStatus,
    SweepAudit,
    SweepFinding,
    SweepResults,
    SweepRun,
    SweepTag,
    SweepTarget,
)
from auditor.version import __version__

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SweepStore", "load"]

APPLICATION_ID = 0x696D6761  # "imga" in the SQLite header: marks the file as ours
SCHEMA_VERSION = 2

_IMAGES = """CREATE TABLE {name} (
        id INTEGER PRIMARY KEY,
        sweep_id INTEGER REFERENCES sweeps (id),
        registry TEXT NOT NULL,
        repository TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        platform TEXT NOT NULL,
        ruleset TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'skipped')),
        score INTEGER,
        grade TEXT NOT NULL DEFAULT '',
        size INTEGER,
        own_size INTEGER,
        layers INTEGER,
        own_layers INTEGER,
        error TEXT NOT NULL DEFAULT '',
        hint TEXT NOT NULL DEFAULT '',
        audited_at REAL NOT NULL,
        duration REAL NOT NULL,
        report TEXT NOT NULL DEFAULT '')"""
_IMAGES_KEY = "CREATE INDEX images_key ON images (digest, platform, ruleset, status)"

_SCHEMA = (
    """CREATE TABLE sweeps (
        id INTEGER PRIMARY KEY,
        registry TEXT NOT NULL,
        started REAL NOT NULL,
        finished REAL,
        shard TEXT NOT NULL DEFAULT '',
        tool_version TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}')""",
    _IMAGES.format(name="images"),
    _IMAGES_KEY,
    """CREATE TABLE findings (
        image_id INTEGER NOT NULL REFERENCES images (id),
        rule TEXT NOT NULL,
        practice INTEGER NOT NULL,
        severity TEXT NOT NULL,
        title TEXT NOT NULL,
        message TEXT NOT NULL,
        evidence TEXT NOT NULL,
        path TEXT NOT NULL DEFAULT '',
        layer INTEGER,
        origin TEXT NOT NULL,
        points REAL NOT NULL,
        fix TEXT NOT NULL)""",
    "CREATE INDEX findings_image ON findings (image_id)",
    "CREATE INDEX findings_rule ON findings (rule)",
    """CREATE TABLE tags (
        registry TEXT NOT NULL,
        repository TEXT NOT NULL,
        tag TEXT NOT NULL,
        platform TEXT NOT NULL,
        digest TEXT NOT NULL,
        seen_at REAL NOT NULL,
        sweep_id INTEGER REFERENCES sweeps (id),
        PRIMARY KEY (registry, repository, tag, platform))""",
)

_NOT_OURS = "give a database written by `imgaudit sweep --db FILE`"


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection to a sweep database; with `create`, a new or empty file becomes one."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a sweep database", _NOT_OURS)
    if not create and not path.exists():
        raise StoreError(f"no sweep database at {path}",
                         "check the path, or write one with `imgaudit sweep HOST --db FILE`")
    try:
        # Autocommit mode: every write opens its own BEGIN IMMEDIATE ... COMMIT.
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}",
                         "check the folder exists and is writable") from exc
    try:
        _check(conn, path, create)
    except BaseException:
        conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection, path: Path, create: bool) -> None:
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.OperationalError as exc:  # locked, unreadable, no room for the WAL index
        raise StoreError(f"cannot open {path}: {exc}", "check the file and its folder are "
                         "readable and writable (SQLite keeps a -wal file beside it)") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not an imgaudit sweep database ({exc})", _NOT_OURS) from exc
    if app_id == 0 and tables == 0:
        if not create:
            raise StoreError(f"{path} holds no sweep results", _NOT_OURS)
        _initialise(conn, path)
    elif app_id != APPLICATION_ID:
        raise StoreError(f"{path} is not an imgaudit sweep database", _NOT_OURS)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer imgaudit (database schema {version}; "
            f"this one reads {SCHEMA_VERSION})", "upgrade imgaudit to read it")
    if version < 1:
        raise StoreError(f"{path} has an unknown database schema {version}", _NOT_OURS)
    if version < SCHEMA_VERSION and create:
        _upgrade(conn, path)


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Schema 1 to 2: `images.status` may also be 'skipped'. SQLite changes no CHECK in place, so
    the table is copied into one with the new CHECK, in one transaction (foreign keys are not
    enforced yet on this connection: findings keep pointing at the same ids)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        # Another process may have upgraded it while this one waited for the lock.
        if conn.execute("PRAGMA user_version").fetchone()[0] == 1:
            conn.execute(_IMAGES.format(name="images_upgraded"))
            conn.execute("INSERT INTO images_upgraded SELECT * FROM images")
            conn.execute("DROP TABLE images")
            conn.execute("ALTER TABLE images_upgraded RENAME TO images")
            conn.execute(_IMAGES_KEY)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"cannot upgrade the sweep database {path}: {exc}",
                         "check the file is writable and the disk has space") from exc


def _initialise(conn: sqlite3.Connection, path: Path) -> None:
    try:
        # WAL: readers (`imgaudit report` during a sweep) never block the writer; with
        # synchronous=NORMAL a commit survives the process being killed (only a power cut may
        # lose the last few), at a fraction of the fsyncs of FULL.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        # Another process may have created the schema while this one waited for the lock.
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"cannot create a sweep database at {path}: {exc}",
                         "check the folder is writable and the disk has space") from exc


def _tag_key(target: SweepTarget) -> str:
    # A target named by digest alone still gets a row of its own in `tags`.
    return target.tag or f"@{target.digest}"


class SweepStore:
    """An open sweep database. Every method may be called from any thread."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self._sweep: int | None = None

    @classmethod
    def open(cls, path: Path) -> SweepStore:
        """Opens (or creates) the database at `path`; StoreError when it is not one of ours."""
        conn = _connect(path, create=True)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return cls(path, conn)

    def close(self) -> None:
        """Closes the database, folding the WAL into the main file: the .db alone is complete
        (what a CI job or a Kubernetes pod hands on as its shard)."""
        with self._lock:
            with suppress(sqlite3.Error):  # another connection may be reading: it folds later
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------------------ writing

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Runs `work` in one transaction, committed before returning."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {self.path}: {exc}",
                                 "check the disk has space and the file is writable") from exc

    def begin_sweep(self, registry: str, *, shard: str = "",
                    options: Mapping[str, object] | None = None) -> int:
        """Records the start of a sweep; results recorded until end_sweep belong to it. The
        options are stored as given: the caller masks what looks like a credential."""
        text = json.dumps(dict(options or {}), sort_keys=True, default=str)

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO sweeps (registry, started, shard, tool_version, options) "
                "VALUES (?, ?, ?, ?, ?)", (registry, time.time(), shard, __version__, text))
            return int(cursor.lastrowid or 0)

        sweep = int(self._write(insert))
        self._sweep = sweep
        return sweep

    def end_sweep(self, sweep: int) -> None:
        self._write(lambda conn: conn.execute(
            "UPDATE sweeps SET finished = ? WHERE id = ?", (time.time(), sweep)))
        if self._sweep == sweep:
            self._sweep = None

    def _link(self, conn: sqlite3.Connection, target: SweepTarget, now: float) -> None:
        # The newest sweep that sees a tag says what it is: the rows an earlier sweep left under
        # another platform go (an error under "" from before the tag resolved to an index, the
        # platforms of an index the tag no longer points at, or the reverse). A sweep keeps the
        # rows it wrote itself: --all-platforms writes one per platform.
        conn.execute(
            "DELETE FROM tags WHERE registry = ? AND repository = ? AND tag = ? "
            "AND platform != ? AND sweep_id IS NOT ? AND seen_at <= ?",
            (target.registry, target.repository, _tag_key(target), target.platform, self._sweep,
             now))
        conn.execute(
            "INSERT INTO tags (registry, repository, tag, platform, digest, seen_at, sweep_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (registry, repository, tag, platform) DO UPDATE SET "
            "digest = excluded.digest, seen_at = excluded.seen_at, sweep_id = excluded.sweep_id "
            "WHERE excluded.seen_at >= tags.seen_at",
            (target.registry, target.repository, _tag_key(target), target.platform,
             target.digest, now, self._sweep))

    def record_report(self, target: SweepTarget, item: ImageReport,
                      document: Mapping[str, Any], ruleset: str, duration: float) -> None:
        """Stores an audit of `target`, with its JSON report document (what the JSON format
        writes for the image), and maps its tag to it, in one committed transaction."""
        image = item.image
        report = json.dumps(document, separators=(",", ":"))

        def insert(conn: sqlite3.Connection) -> None:
            now = time.time()
            cursor = conn.execute(
                "INSERT INTO images (sweep_id, registry, repository, tag, digest, platform, "
                "ruleset, status, score, grade, size, own_size, layers, own_layers, audited_at, "
                "duration, report) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._sweep, target.registry, target.repository, target.tag, target.digest,
                 target.platform, ruleset, item.score, item.grade, image.size, image.own_size,
                 len(image.layers), len(image.own_layers), now, duration, report))
            conn.executemany(
                "INSERT INTO findings (image_id, rule, practice, severity, title, message, "
                "evidence, path, layer, origin, points, fix) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(cursor.lastrowid, s.rule.id, s.rule.practice, s.finding.severity.label,
                  s.rule.title, s.finding.message, s.finding.evidence, s.finding.path,
                  s.finding.layer, s.finding.origin.value, s.points, s.rule.fix)
                 for s in item.findings])
            self._link(conn, target, now)

        self._write(insert)

    def record_failure(self, target: SweepTarget, message: str, hint: str, ruleset: str,
                       duration: float) -> None:
        """Stores why `target` could not be audited; the next sweep tries it again."""
        self._record_unaudited(target, AuditStatus.ERROR, message, hint, ruleset, duration)

    def record_skipped(self, target: SweepTarget, message: str, hint: str, ruleset: str,
                       duration: float) -> None:
        """Stores that `target` is not a container image (`message` says what it is instead);
        as an audit, it is not tried again under this rule set."""
        self._record_unaudited(target, AuditStatus.SKIPPED, message, hint, ruleset, duration)

    def _record_unaudited(self, target: SweepTarget, status: AuditStatus, message: str,
                          hint: str, ruleset: str, duration: float) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "INSERT INTO images (sweep_id, registry, repository, tag, digest, platform, "
                "ruleset, status, error, hint, audited_at, duration) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._sweep, target.registry, target.repository, target.tag, target.digest,
                 target.platform, ruleset, status.value, message, hint, now, duration))
            self._link(conn, target, now)

        self._write(insert)

    def link_tag(self, target: SweepTarget) -> None:
        """Records that `target`'s tag points at its digest, audited before: no new audit."""
        self.link_tags((target,))

    def link_tags(self, targets: Iterable[SweepTarget]) -> None:
        """link_tag for many tags, in one transaction (none for no tag)."""
        targets = tuple(targets)

        def link(conn: sqlite3.Connection) -> None:
            now = time.time()
            for target in targets:
                self._link(conn, target, now)

        if targets:
            self._write(link)

    # ------------------------------------------------------------------------------ reading

    def seen(self, digest: str, platform: str, ruleset: str) -> bool:
        """Whether an audit of this manifest under this rule set is stored, successful or skipped
        as no image (errors are not: they are retried)."""
        if not digest:
            return False
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT 1 FROM images WHERE digest = ? AND platform = ? AND ruleset = ? "
                    "AND status IN ('ok', 'skipped') LIMIT 1",
                    (digest, platform, ruleset)).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}",
                                 "check the file is readable and not damaged") from exc
        return row is not None


# ---------------------------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class _Row:
    """An `images` row before the merge: only what choosing the winner needs."""

    database: int
    id: int
    key: tuple[str, ...]
    rank: int  # which status wins: an audit, else a skip, else an error
    audited_at: float


@dataclass(frozen=True, slots=True)
class _Seen:
    """A `tags` row before the merge."""

    platform: str
    seen_at: float
    digest: str
    key: tuple[str, ...]  # of its audit
    sweep: tuple[int, int]  # (database, sweep id or -1): the rows one sweep wrote go together


_RANKS = {"ok": 2, "skipped": 1, "error": 0}


def _audit_key(digest: str, platform: str, reference: str) -> tuple[str, ...]:
    # A failure whose tag never resolved to a digest is kept under the tag's name.
    return (digest, platform) if digest else ("", reference, platform)


def _practices(report: str) -> tuple[PracticeResult, ...]:
    document = json.loads(report) if report else {}
    return tuple(
        PracticeResult(Practice(int(p["id"]), str(p["name"]), int(p["weight"])),
                       Status(p["status"]), int(p["findings"]), float(p["points_lost"]))
        for p in document.get("practices", ())
    )


def _finding(row: sqlite3.Row) -> SweepFinding:
    return SweepFinding(
        rule=row["rule"], practice=row["practice"], severity=Severity.parse(row["severity"]),
        title=row["title"], message=row["message"], evidence=row["evidence"], fix=row["fix"],
        points=row["points"], origin=Origin(row["origin"]), path=row["path"],
        layer=row["layer"])


def _audit(row: sqlite3.Row, findings: tuple[SweepFinding, ...]) -> SweepAudit:
    target = SweepTarget(row["registry"], row["repository"], row["tag"], row["digest"])
    return SweepAudit(
        digest=row["digest"], platform=row["platform"], ruleset=row["ruleset"],
        status=AuditStatus(row["status"]), reference=target.reference,
        audited_at=row["audited_at"], duration=row["duration"], score=row["score"],
        grade=row["grade"], size=row["size"], own_size=row["own_size"], layers=row["layers"],
        own_layers=row["own_layers"], practices=_practices(row["report"]), findings=findings,
        error=row["error"], hint=row["hint"], report=row["report"])


def _read(index: int, path: Path, conn: sqlite3.Connection, winners: dict[tuple[str, ...], _Row],
          tags: dict[tuple[str, str, str], list[_Seen]], sweeps: list[SweepRun]) -> None:
    """Folds one database's rows into the running merge."""
    for row in conn.execute("SELECT * FROM sweeps ORDER BY started"):
        sweeps.append(SweepRun(
            database=str(path), registry=row["registry"], started=row["started"],
            finished=row["finished"], shard=row["shard"], tool_version=row["tool_version"],
            options=MappingProxyType(json.loads(row["options"] or "{}"))))
    for row in conn.execute(
            "SELECT id, registry, repository, tag, digest, platform, status, audited_at "
            "FROM images"):
        reference = SweepTarget(row["registry"], row["repository"], row["tag"],
                                row["digest"]).reference
        candidate = _Row(index, row["id"], _audit_key(row["digest"], row["platform"], reference),
                         _RANKS.get(row["status"], 0), row["audited_at"])
        best = winners.get(candidate.key)
        if best is None or (candidate.rank, candidate.audited_at) > (best.rank,
                                                                     best.audited_at):
            winners[candidate.key] = candidate
    for row in conn.execute("SELECT * FROM tags"):
        reference = SweepTarget(row["registry"], row["repository"], row["tag"],
                                row["digest"]).reference
        sweep = row["sweep_id"]
        tags.setdefault((row["registry"], row["repository"], row["tag"]), []).append(_Seen(
            row["platform"], row["seen_at"], row["digest"],
            _audit_key(row["digest"], row["platform"], reference),
            (index, -1 if sweep is None else int(sweep))))


def _newest_sweep(seen: Sequence[_Seen]) -> list[_Seen]:
    """The rows of one tag that the sweep which saw it last wrote (that sweep's time for the tag:
    when it last saw it), one per platform."""
    last: dict[tuple[int, int], float] = {}
    for item in seen:
        last[item.sweep] = max(last.get(item.sweep, item.seen_at), item.seen_at)
    newest = max(last, key=lambda sweep: (last[sweep], sweep))
    kept: dict[str, _Seen] = {}
    for item in seen:
        if item.sweep == newest and (item.platform not in kept
                                     or item.seen_at >= kept[item.platform].seen_at):
            kept[item.platform] = item
    return sorted(kept.values(), key=lambda item: item.platform)


def _chosen(path: Path, conn: sqlite3.Connection, ids: Sequence[int]) -> list[SweepAudit]:
    """The full audits of the winning rows of one database."""
    audits = []
    for start in range(0, len(ids), 500):  # stay under SQLite's limit on bound parameters
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        findings: dict[int, list[SweepFinding]] = {}
        for row in conn.execute(
                f"SELECT * FROM findings WHERE image_id IN ({marks}) ORDER BY rowid", chunk):
            findings.setdefault(row["image_id"], []).append(_finding(row))
        for row in conn.execute(f"SELECT * FROM images WHERE id IN ({marks})", chunk):
            audits.append(_audit(row, tuple(findings.get(row["id"], ()))))
    return audits


def load(paths: Sequence[Path]) -> SweepResults:
    """Reads and merges sweep databases (several shards of one sweep, or sweeps over time).

    Per manifest (digest, platform) the newest successful audit wins, else the newest skip,
    else the newest error;
    per tag, the rows of the newest sweep that saw it (whichever database holds them), so a tag
    that changed between an error, one platform and several shows only what it is now.
    StoreError for a missing, damaged or foreign file."""
    winners: dict[tuple[str, ...], _Row] = {}
    tags: dict[tuple[str, str, str], list[_Seen]] = {}
    sweeps: list[SweepRun] = []
    conns: list[sqlite3.Connection] = []
    try:
        for index, path in enumerate(paths):
            conn = _connect(path, create=False)
            conns.append(conn)
            conn.row_factory = sqlite3.Row
            _wrap(path, partial(_read, index, path, conn, winners, tags, sweeps))
        by_key: dict[tuple[str, ...], SweepAudit] = {}
        for index, (path, conn) in enumerate(zip(paths, conns, strict=True)):
            ids = [w.id for w in winners.values() if w.database == index]
            for audit in _wrap(path, partial(_chosen, path, conn, ids)):
                by_key[_audit_key(audit.digest, audit.platform, audit.reference)] = audit
    finally:
        for conn in conns:
            conn.close()
    rows = []
    for (registry, repository, tag), seen in sorted(tags.items()):
        for item in _newest_sweep(seen):
            audit = by_key.get(item.key)
            if audit is not None:  # a tag whose audit lives in a database not given
                rows.append(SweepTag(registry, repository, tag, item.platform, item.digest,
                                     item.seen_at, audit))
    used = {id(row.audit): row.audit for row in rows}
    audits = tuple(sorted(used.values(), key=lambda a: (a.reference, a.digest, a.platform)))
    sweeps.sort(key=lambda s: s.started)
    return SweepResults(tuple(rows), audits, tuple(sweeps), tuple(str(p) for p in paths))


def _wrap(path: Path, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{path} is damaged: {type(exc).__name__}: {exc}",
                         "restore it from a copy, or sweep again into a new --db file") from exc
