"""Records a sweep into its database: one committed transaction per audited image, safe to share
between threads, so a sweep killed at any moment keeps every result it recorded."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from auditor.errors import StoreError
from auditor.model.report import ImageReport
from auditor.model.sweep import AuditStatus, SweepTarget
from auditor.store.schema import connect
from auditor.version import __version__


def _tag_key(target: SweepTarget) -> str:
    # A target named by digest alone still gets a row of its own in `tags`.
    return target.tag or f"@{target.digest}"


class SweepStore:
    """An open sweep database. Every method may be called from any thread.

        store = SweepStore.open(path)                        # creates the schema; StoreError if
                                                             # the file is not a sweep database
        sweep = store.begin_sweep(registry, shard="", options={...}) -> int
        store.seen(digest, platform, ruleset) -> bool        # an audit (or a skip) exists
        store.record_report(target, item, document, ruleset, duration)  # an ImageReport and
                                                             # its JSON document; tag -> digest
        store.record_failure(target, message, hint, ruleset, duration)
        store.record_skipped(target, message, hint, ruleset, duration)  # not a container image
        store.link_tag(target)                               # repo:tag -> an audited digest
        store.end_sweep(sweep); store.close()                # (or use it as a context manager)

    Audits are appended, never overwritten (auditor.store.read picks what a report shows).
    Every `record_*` commits before returning."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self._sweep: int | None = None

    @classmethod
    def open(cls, path: Path) -> SweepStore:
        """Opens (or creates) the database at `path`; StoreError when it is not one of ours."""
        conn = connect(path, create=True)
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
