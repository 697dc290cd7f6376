"""Creates, checks and upgrades a sweep database (SQLite, WAL): its tables, the application id
that marks the file as imgaudit's, and the schema version (a schema 1 database, from before
skips, is brought to schema 2 when opened for writing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from auditor.errors import StoreError

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


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
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
