"""Recording a sweep: what each record_* stores, seen() semantics, no secret value stored,
many threads and two connections at once, and a writer killed mid-sweep loses nothing committed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from auditor.formats.json import image_document
from auditor.model.policy import Policy
from auditor.model.sweep import AuditStatus
from auditor.pipeline import ruleset_version
from auditor.redact import mask_secrets
from auditor.store.read import load
from auditor.store.write import SweepStore
from tests.support.demo import SECRETS
from tests.support.sweeps import RULESET, demo_reports, fill, target

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_new_ruleset_audits_again(tmp_path: Path) -> None:
    item = demo_reports()[1]
    newer = ruleset_version(Policy(ignore=frozenset({"IA701"})))
    with SweepStore.open(tmp_path / "s.db") as store:
        store.record_report(target("a", "1", item), item, image_document(item), RULESET, 1.0)
        assert store.seen(item.image.id, "", RULESET)
        assert not store.seen(item.image.id, "", newer)


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
from auditor.store.write import SweepStore
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
