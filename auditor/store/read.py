"""Reads sweep databases for reports: one or many (the shards of a sweep, or sweeps over time)
merged into one SweepResults."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auditor.errors import StoreError
from auditor.model.findings import Practice, Severity, Status
from auditor.model.image import Origin
from auditor.model.report import PracticeResult
from auditor.model.sweep import (
    AuditStatus,
    SweepAudit,
    SweepFinding,
    SweepResults,
    SweepRun,
    SweepTag,
    SweepTarget,
)
from auditor.store.schema import connect


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
    per tag, the rows of the newest sweep that saw it (whichever database holds them, one row
    per platform audited), so a tag that changed between an error, one platform and several
    shows only what it is now. A database of schema 1 (before skips) is read as it is.
    StoreError for a missing, damaged or foreign file."""
    winners: dict[tuple[str, ...], _Row] = {}
    tags: dict[tuple[str, str, str], list[_Seen]] = {}
    sweeps: list[SweepRun] = []
    conns: list[sqlite3.Connection] = []
    try:
        for index, path in enumerate(paths):
            conn = connect(path, create=False)
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
