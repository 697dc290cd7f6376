"""The sweep database's schema: a schema 1 database read and upgraded, and what is not a sweep
database (foreign, empty, newer, damaged) refused with a hint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditor.errors import StoreError
from auditor.model.sweep import AuditStatus
from auditor.store.read import load
from auditor.store.schema import SCHEMA_VERSION
from auditor.store.write import SweepStore
from tests.support.sweeps import RULESET, fill, target


def _schema_1(path: Path) -> None:
    """A database as imgaudit wrote it before skips (schema 1: status 'ok' or 'error'), with an
    audit, its findings, a failure and a tag."""
    fill(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'images'").fetchone()[0]
        conn.execute(sql.replace("images", "images_v1", 1).replace(", 'skipped'", ""))
        conn.execute("INSERT INTO images_v1 SELECT * FROM images")
        conn.execute("DROP TABLE images")
        conn.execute("ALTER TABLE images_v1 RENAME TO images")
        conn.execute("CREATE INDEX images_key ON images (digest, platform, ruleset, status)")
        conn.execute("PRAGMA user_version = 1")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE images SET status = 'skipped'")


def test_a_schema_1_database_is_read_and_upgraded_when_written(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    _schema_1(db)
    before = load([db])  # read as it is
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    with SweepStore.open(db) as store:
        store.record_skipped(target("charts/app", "1", digest="sha256:" + "c" * 64),
                             "a Helm chart", "", RULESET, 0.0)
    after = load([db])
    assert [(t.reference, t.audit.status, t.audit.score, len(t.audit.findings))
            for t in after.tags if t.repository != "charts/app"] == [
        (t.reference, t.audit.status, t.audit.score, len(t.audit.findings)) for t in before.tags]
    assert {t.repository: t.audit.status for t in after.tags}["charts/app"] \
        is AuditStatus.SKIPPED
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (2,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master "
                                              "WHERE type = 'index'")}
        assert "images_key" in indexes


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")


@pytest.mark.parametrize(("prepare", "words"), [
    (lambda p: None, "no sweep database"),
    (lambda p: p.write_text("hello, not a database\n" * 100), "not an imgaudit sweep database"),
    (_foreign, "not an imgaudit sweep database"),
    (lambda p: p.write_bytes(b""), "holds no sweep results"),
    (lambda p: p.mkdir(), "is a folder"),
])
def test_load_refuses_what_is_not_a_sweep_database(tmp_path: Path, prepare: object,
                                                   words: str) -> None:
    path = tmp_path / "x.db"
    prepare(path)  # type: ignore[operator]
    with pytest.raises(StoreError, match=words) as caught:
        load([path])
    assert caught.value.hint


def test_open_refuses_a_foreign_database_and_keeps_it_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    _foreign(path)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an imgaudit sweep database"):
        SweepStore.open(path)
    assert path.read_bytes() == before


def test_open_makes_an_empty_file_a_database(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    path.touch()
    SweepStore.open(path).close()
    assert load([path]).tags == ()


def test_a_newer_schema_is_refused_with_an_upgrade_hint(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SweepStore.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer imgaudit") as caught:
        SweepStore.open(path)
    assert "upgrade" in caught.value.hint


def test_a_damaged_database_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    fill(path)
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page after the first overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"damaged|not an imgaudit"):
        load([path])
