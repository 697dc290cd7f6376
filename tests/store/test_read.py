"""Reading sweep databases back: real audits in, the same facts out; the newest audit of each
manifest and the newest sweep of each tag win, in one database as across merged shards."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from auditor.formats.json import image_document
from auditor.model.sweep import AuditStatus
from auditor.store.read import load
from auditor.store.write import SweepStore
from tests.support.sweeps import RULESET, demo_reports, fill, target


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


def test_a_closed_store_needs_no_wal_file(tmp_path: Path) -> None:
    db = tmp_path / "shard.db"
    fill(db)
    copy = tmp_path / "copied" / "shard.db"
    copy.parent.mkdir()
    copy.write_bytes(db.read_bytes())  # the .db alone, as a CI artifact would carry it
    assert len(load([copy]).tags) == 6
