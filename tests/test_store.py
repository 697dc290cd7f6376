"""The sweep results database: real audits in, the same facts out; seen() semantics; many
threads; a writer killed mid-sweep loses nothing committed; shard databases merged."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from auditor.errors import StoreError
from auditor.formats.json import image_document
from auditor.model.policy import Policy
from auditor.model.sweep import AuditStatus
from auditor.pipeline import ruleset_version
from auditor.redact import mask_secrets
from auditor.store import SCHEMA_VERSION, SweepStore, load
from tests.support.demo import SECRETS
from tests.support.sweeps import RULESET, demo_reports, fill, target

ROOT = Path(__file__).resolve().parent.parent


def test_reports_read_back_as_recorded(tmp_path: Path) -> None:
    db = tmp_path / "sweep.db"
    recorded = fill(db)
    results = load([db])
    tags = {t.reference: t for t in results.tags}
    assert set(recorded) <= set(tags)
    for reference, item in recorded.items():
        audit = tags[reference].audit
        assert audit.status is AuditStatus.OK
        assert (audit.score, audit.grade) == (item.score, item.grade)
        assert (audit.size, audit.own_size) == (item.image.size, item.image.own_size)
        assert (audit.layers, audit.own_layers) == (len(item.image.layers),
                                                     len(item.image.own_layers))
        assert audit.digest == item.image.id
        assert json.loads(audit.report) == image_document(item)
        assert [(p.practice.id, p.status, p.points_lost) for p in audit.practices] == [
            (p.practice.id, p.status, p.points_lost) for p in item.practices]
        assert [(f.rule, f.severity, f.evidence, f.points, f.fix, f.origin, f.layer)
                for f in audit.findings] == [
            (s.rule.id, s.finding.severity, s.finding.evidence, s.points, s.rule.fix,
             s.finding.origin, s.finding.layer) for s in item.findings]
    # A digest two tags point at is one audit, shown for both.
    good = tags["registry.test:5000/apps/good:1.0"].audit
    assert tags["registry.test:5000/apps/good:stable"].audit is good
    assert sum(1 for a in results.audits if a.digest == good.digest) == 1
    gone = tags["registry.test:5000/apps/gone:v1"].audit
    assert (gone.status, gone.error, gone.hint) == (AuditStatus.ERROR, "manifest unknown",
                                                    "check the tag exists")
    assert gone.score is None and gone.findings == () and gone.digest == ""
    assert len(results.tags) == 6 and len(results.audits) == 5
    (sweep,) = results.sweeps
    assert sweep.registry == "registry.test:5000" and sweep.finished is not None
    assert sweep.options == {"jobs": 2}


def test_findings_table_answers_queries(tmp_path: Path) -> None:
    db = tmp_path / "sweep.db"
    fill(db)
    bad = demo_reports()[2]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT f.rule, f.points FROM findings f JOIN images i ON i.id = f.image_id "
            "WHERE i.repository = 'apps/bad' ORDER BY f.rowid").fetchall()
        per_rule = dict(conn.execute(
            "SELECT rule, count(*) FROM findings GROUP BY rule").fetchall())
    assert rows == [(s.rule.id, s.points) for s in bad.findings]
    assert per_rule["IA1101"] == 1  # only demo-bad holds a token in ENV


def test_no_secret_value_reaches_the_database(tmp_path: Path) -> None:
    db = tmp_path / "sweep.db"
    fill(db)
    with SweepStore.open(db) as store:
        store.begin_sweep("r", options=mask_secrets({"password": "hunter2-hunter2", "jobs": 4}))
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in (*SECRETS, "hunter2-hunter2"):
        assert secret.encode() not in data
    run = load([db]).sweeps[-1]
    assert run.options["password"] == "********" and run.options["jobs"] == 4


def test_seen_only_after_a_success_under_the_same_ruleset(tmp_path: Path) -> None:
    item = demo_reports()[0]
    digest = item.image.id
    with SweepStore.open(tmp_path / "s.db") as store:
        assert not store.seen(digest, "", RULESET)
        store.record_failure(target("a", "1", item), "timeout", "", RULESET, 1.0)
        assert not store.seen(digest, "", RULESET)  # errors are retried
        store.record_report(target("a", "1", item), item, image_document(item), RULESET, 1.0)
        assert store.seen(digest, "", RULESET)
        assert not store.seen(digest, "linux/arm64", RULESET)
        assert not store.seen(digest, "", "rs1-older")
        assert not store.seen("", "", RULESET)


def test_what_is_no_image_is_recorded_as_skipped_and_not_tried_again(tmp_path: Path) -> None:
    chart = target("charts/app", "0.1.0", digest="sha256:" + "c" * 64)
    db = tmp_path / "s.db"
    with SweepStore.open(db) as store:
        store.begin_sweep("r")
        store.record_failure(chart, "500", "", RULESET, 1.0)
        assert not store.seen(chart.digest, "", RULESET)
        store.record_skipped(chart, "it is a Helm chart", "not an image", RULESET, 1.0)
        assert store.seen(chart.digest, "", RULESET)  # a manifest's digest does not change
        assert not store.seen(chart.digest, "", "rs1-older")
        store.record_failure(chart, "429", "", RULESET, 1.0)  # --refresh, when it failed
    (tag,) = load([db]).tags
    assert tag.audit.status is AuditStatus.SKIPPED and not tag.audit.ok
    assert not tag.audit.failed and tag.audit.error == "it is a Helm chart"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM images ORDER BY id").fetchall() == [
            ("error",), ("skipped",), ("error",)]


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


def test_a_new_ruleset_audits_again(tmp_path: Path) -> None:
    item = demo_reports()[1]
    newer = ruleset_version(Policy(ignore=frozenset({"IA701"})))
    with SweepStore.open(tmp_path / "s.db") as store:
        store.record_report(target("a", "1", item), item, image_document(item), RULESET, 1.0)
        assert store.seen(item.image.id, "", RULESET)
        assert not store.seen(item.image.id, "", newer)


def test_failure_superseded_by_later_success_and_not_the_reverse(tmp_path: Path) -> None:
    base, good, _ = demo_reports()
    db = tmp_path / "s.db"
    with SweepStore.open(db) as store:
        store.record_failure(target("a", "1", base), "500", "", RULESET, 1.0)
        store.record_report(target("a", "1", base), base, image_document(base), RULESET, 1.0)
        store.record_report(target("b", "1", good), good, image_document(good), RULESET, 1.0)
        store.record_failure(target("b", "1", good), "429", "", RULESET, 1.0)  # --refresh
    tags = {t.repository: t.audit for t in load([db]).tags}
    assert tags["a"].ok and tags["a"].score == base.score
    assert tags["b"].ok and tags["b"].score == good.score


def test_a_moved_tag_shows_its_newest_digest(tmp_path: Path) -> None:
    base, good, _ = demo_reports()
    db = tmp_path / "s.db"
    with SweepStore.open(db) as store:
        store.record_report(target("app", "latest", base), base, image_document(base), RULESET, 1.0)
        store.record_report(target("app", "latest", good), good, image_document(good), RULESET, 1.0)
    (tag,) = load([db]).tags
    assert tag.digest == good.image.id and tag.audit.score == good.score


def test_many_threads_record_at_once(tmp_path: Path) -> None:
    items = demo_reports()
    db = tmp_path / "s.db"
    errors: list[BaseException] = []
    threads_n, each = 8, 40
    with SweepStore.open(db) as store:
        store.begin_sweep("r")

        def work(worker: int) -> None:
            try:
                for i in range(each):
                    item = items[i % 3]
                    digest = f"sha256:{worker:032x}{i:032x}"
                    assert not store.seen(digest, "", RULESET)
                    if i % 10 == 9:
                        store.record_failure(target(f"w{worker}", f"t{i}", digest=digest),
                                             "boom", "", RULESET, 0.0)
                    else:
                        store.record_report(target(f"w{worker}", f"t{i}", digest=digest),
                                            item, image_document(item), RULESET, 0.0)
                        assert store.seen(digest, "", RULESET)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    results = load([db])
    assert len(results.tags) == threads_n * each
    assert sum(not t.audit.ok for t in results.tags) == threads_n * each // 10
    expected = sum(len(items[i % 3].findings) for i in range(each) if i % 10 != 9) * threads_n
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM findings").fetchone() == (expected,)


def test_two_processes_worth_of_connections_share_one_file(tmp_path: Path) -> None:
    item = demo_reports()[1]
    db = tmp_path / "s.db"
    stores = [SweepStore.open(db), SweepStore.open(db)]

    def work(n: int) -> None:
        for i in range(25):
            stores[n].record_report(target(f"s{n}", str(i), item, digest=f"sha256:{n}-{i}"),
                                    item, image_document(item), RULESET, 0.0)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert len(load([db]).tags) == 50


_WRITER = """
import sys
from pathlib import Path
from auditor.formats.json import image_document
from auditor.store import SweepStore
from tests.support.sweeps import RULESET, demo_reports, target

items = demo_reports()
store = SweepStore.open(Path(sys.argv[1]))
store.begin_sweep("registry.test:5000")
skipped = 0
for i in range(100000):
    digest = f"sha256:{i:064x}"
    if store.seen(digest, "", RULESET):
        skipped += 1
        continue
    store.record_report(target("repo", f"t{i}", digest=digest), items[i % 3],
                        image_document(items[i % 3]), RULESET, 0.0)
    print(i, skipped, flush=True)
    if len(sys.argv) > 2 and i + 1 >= int(sys.argv[2]):
        break
"""


def test_a_killed_sweep_keeps_every_committed_result_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    committed = -1
    deadline = time.monotonic() + 60
    while committed < 40 and time.monotonic() < deadline:
        line = child.stdout.readline()
        assert line, f"the writer died on its own (exit {child.wait()})"
        committed = int(line.split()[0])
    os.kill(child.pid, signal.SIGKILL)  # mid-loop, maybe mid-transaction
    child.wait()
    # The writer may have run ahead of this reader: its last line says what it committed.
    for line in child.stdout.read().splitlines():
        committed = int(line.split()[0])
    child.stdout.close()
    assert committed >= 40
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    results = load([db])
    stored = {int(t.tag[1:]) for t in results.tags}
    # Everything the writer was told was committed is there (and at most the one in flight).
    assert set(range(committed + 1)) <= stored
    assert max(stored) <= committed + 1
    assert all(t.audit.ok and t.audit.practices for t in results.tags)
    # A second sweep resumes: it skips every stored digest and audits only the rest.
    resumed = subprocess.run([sys.executable, "-c", _WRITER, str(db), str(len(stored) + 5)],
                             cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    first_new, skipped = map(int, resumed.stdout.splitlines()[0].split())
    assert first_new == len(stored) and skipped == len(stored)
    assert len(load([db]).tags) == len(stored) + 5


def test_shards_merge_newest_audit_and_newest_tag(tmp_path: Path) -> None:
    base, good, bad = demo_reports()
    one, two = tmp_path / "shard-1.db", tmp_path / "shard-2.db"
    with SweepStore.open(one) as store:
        store.begin_sweep("r", shard="1/2")
        store.record_report(target("base", "1", base), base, image_document(base), RULESET, 1.0)
        store.record_failure(target("good", "1", good), "500", "", RULESET, 1.0)
        store.record_report(target("bad", "1", bad), bad, image_document(bad), RULESET, 1.0)
        store.record_report(target("moving", "latest", base), base,
                            image_document(base), RULESET, 1.0)
    with SweepStore.open(two) as store:
        store.begin_sweep("r", shard="2/2")
        # The same digest audited again later (another rule set): the newer audit wins.
        store.record_report(target("base", "1", base), good, image_document(good), "rs1-newer", 1.0)
        store.record_report(target("good", "1", good), good, image_document(good), RULESET, 1.0)
        store.record_failure(target("bad", "1", bad), "timeout", "", RULESET, 1.0)
        store.record_report(target("moving", "latest", good), good,
                            image_document(good), RULESET, 1.0)
        store.record_report(target("only-two", "x", bad), bad, image_document(bad), RULESET, 1.0)
    for order in ([one, two], [two, one]):
        results = load(order)
        tags = {t.repository: t for t in results.tags}
        assert sorted(tags) == ["bad", "base", "good", "moving", "only-two"]
        assert tags["base"].audit.ruleset == "rs1-newer"
        assert tags["base"].audit.score == good.score
        assert tags["good"].audit.ok  # the error of shard 1 is superseded
        assert tags["bad"].audit.ok and tags["bad"].audit.score == bad.score
        assert tags["moving"].digest == good.image.id
        assert tags["moving"].audit is tags["good"].audit
        # One audit per manifest, whichever shard held it.
        assert len(results.audits) == len({(a.digest, a.platform) for a in results.audits}) == 3
        assert [s.shard for s in results.sweeps] == ["1/2", "2/2"]
        assert results.databases == tuple(str(p) for p in order)


def test_platforms_of_one_index_are_separate_audits(tmp_path: Path) -> None:
    base, good, _ = demo_reports()
    digest = "sha256:" + "1" * 64
    db = tmp_path / "s.db"
    with SweepStore.open(db) as store:
        store.record_report(target("multi", "1", digest=digest, platform="linux/amd64"),
                            base, image_document(base), RULESET, 1.0)
        store.record_report(target("multi", "1", digest=digest, platform="linux/arm64"),
                            good, image_document(good), RULESET, 1.0)
        assert store.seen(digest, "linux/amd64", RULESET)
        assert not store.seen(digest, "linux/arm/v7", RULESET)
    results = load([db])
    assert [(t.platform, t.audit.score) for t in results.tags] == [
        ("linux/amd64", base.score), ("linux/arm64", good.score)]


def _per_tag(db: Path | list[Path]) -> dict[tuple[str, str], list[str]]:
    """(repository, tag) -> the platforms of its rows in a report ("" for a single image or a
    failure before the tag resolved)."""
    rows: dict[tuple[str, str], list[str]] = {}
    for tag in load(db if isinstance(db, list) else [db]).tags:
        rows.setdefault((tag.repository, tag.tag), []).append(tag.platform)
    return rows


def test_a_tag_shows_only_what_the_newest_sweep_found(tmp_path: Path) -> None:
    """An unresolved tag (an error under platform "") that a later sweep finds multi-platform,
    and which turns single-platform after: each sweep's rows replace the earlier ones."""
    base, good, _ = demo_reports()
    index = "sha256:" + "1" * 64
    db = tmp_path / "s.db"
    with SweepStore.open(db) as store:
        first = store.begin_sweep("r")
        store.record_failure(target("multi", "1"), "500", "try again", RULESET, 0.0)
        store.record_report(target("other", "1", base), base, image_document(base), RULESET, 1.0)
        store.end_sweep(first)
        assert _per_tag(db) == {("multi", "1"): [""], ("other", "1"): [""]}
        second = store.begin_sweep("r")
        for platform, item in (("linux/amd64", base), ("linux/arm64", good)):
            store.record_report(target("multi", "1", digest=index, platform=platform), item,
                                image_document(item),
                                RULESET, 1.0)
        store.end_sweep(second)
        results = load([db])
        assert _per_tag(db) == {("multi", "1"): ["linux/amd64", "linux/arm64"],
                                ("other", "1"): [""]}
        assert all(t.audit.ok for t in results.tags)
        assert len(results.audits) == 3  # the error is no longer shown, nor counted
        third = store.begin_sweep("r")
        store.record_report(target("multi", "1", good), good, image_document(good), RULESET, 1.0)
        store.end_sweep(third)
    (tag,) = [t for t in load([db]).tags if t.repository == "multi"]
    assert (tag.platform, tag.digest, tag.audit.score) == ("", good.image.id, good.score)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tags WHERE repository = 'multi'"
                            ).fetchone() == (1,)


def test_merged_databases_show_the_newest_sweep_of_each_tag(tmp_path: Path) -> None:
    """The same rule when the rows are in two databases (shards, or sweeps kept apart), and
    in one written before the rule (both rows stored): whichever order they are given in."""
    base, good, _ = demo_reports()
    index = "sha256:" + "2" * 64
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    with SweepStore.open(old) as store:
        store.begin_sweep("r", shard="1/2")
        store.record_failure(target("multi", "1"), "500", "", RULESET, 0.0)
        store.record_report(target("single", "1", digest=index, platform="linux/amd64"), base,
                            image_document(base),
                            RULESET, 1.0)
    with SweepStore.open(new) as store:
        store.begin_sweep("r", shard="2/2")
        for platform, item in (("linux/amd64", base), ("linux/arm64", good)):
            store.record_report(target("multi", "1", digest=index, platform=platform), item,
                                image_document(item),
                                RULESET, 1.0)
        store.record_report(target("single", "1", good), good, image_document(good), RULESET, 1.0)
    for order in ([old, new], [new, old]):
        assert _per_tag(order) == {("multi", "1"): ["linux/amd64", "linux/arm64"],
                                   ("single", "1"): [""]}
        assert all(t.audit.ok for t in load(order).tags)
    # A database holding the rows of both sweeps side by side, as an older imgaudit left them.
    with sqlite3.connect(new) as conn:
        conn.execute("ATTACH DATABASE ? AS old", (str(old),))
        conn.execute("INSERT INTO sweeps SELECT id + 100, registry, started, finished, shard, "
                     "tool_version, options FROM old.sweeps")
        conn.execute("INSERT INTO tags SELECT registry, repository, tag, platform, digest, "
                     "seen_at, sweep_id + 100 FROM old.tags")
        conn.execute("INSERT INTO images (sweep_id, registry, repository, tag, digest, platform, "
                     "ruleset, status, error, hint, audited_at, duration) SELECT sweep_id + 100, "
                     "registry, repository, tag, digest, platform, ruleset, status, error, hint, "
                     "audited_at, duration FROM old.images WHERE status = 'error'")
    assert _per_tag(new) == {("multi", "1"): ["linux/amd64", "linux/arm64"],
                             ("single", "1"): [""]}


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


def test_a_closed_store_needs_no_wal_file(tmp_path: Path) -> None:
    db = tmp_path / "shard.db"
    fill(db)
    copy = tmp_path / "copied" / "shard.db"
    copy.parent.mkdir()
    copy.write_bytes(db.read_bytes())  # the .db alone, as a CI artifact would carry it
    assert len(load([copy]).tags) == 6


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
