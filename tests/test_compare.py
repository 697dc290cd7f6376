"""Comparing audits on in-memory images: which findings a baseline records, multiset new/known
classification, what counts as resolved, image pairing, the regression gate, and image diffs."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from auditor import audit
from auditor.assess import policy_failures
from auditor.compare import compare, counts, diff, diff_failures, new_findings, pair, snapshot
from auditor.errors import UsageError
from auditor.model.findings import Severity, Status, Waiver
from auditor.model.image import Origin
from auditor.model.policy import Policy
from auditor.model.report import Baseline, BaselineImage, ImageReport, Novelty, Report
from tests.support.factory import ImageSpec, bad, base_steps, build, copy, file, good, report, run

ROOT = "IA201:no USER is set: the container runs as root"


def of(*items: BaselineImage, source: str = "old.json") -> Baseline:
    return Baseline(source, items)


def old(reference: str = "app:1", fingerprints: tuple[str, ...] = (), *, score: int = 100,
        size: int = 0, layers: int = 0, tags: tuple[str, ...] = (), id: str = "") -> BaselineImage:
    return BaselineImage(reference, score, size, layers, fingerprints, id=id, repo_tags=tags)


def prints(item: ImageReport) -> list[str]:
    return [s.finding.fingerprint for s in item.findings if counts(s)]


def novelty(item: ImageReport) -> dict[str, list[Novelty | None]]:
    seen: dict[str, list[Novelty | None]] = {}
    for s in item.findings:
        seen.setdefault(s.finding.fingerprint, []).append(s.novelty)
    return seen


# ----------------------------------------------------------------------------- what counts


def test_snapshot_records_scored_own_findings_only() -> None:
    spec = ImageSpec(base=(run("apk add gcc", file("usr/bin/gcc")), *base_steps())).configured(
        User="")
    item = report(spec)
    base = [s for s in item.findings if s.finding.origin is Origin.BASE]
    assert base, "the base image brings a toolchain finding"
    shot = snapshot(item)
    assert ROOT in shot.fingerprints
    assert not {s.finding.fingerprint for s in base} & set(shot.fingerprints)
    # With the base scored, its findings count too.
    scored = report(spec, Policy(score_base=True))
    assert {s.finding.fingerprint for s in base} <= set(snapshot(scored).fingerprints)
    assert (shot.reference, shot.score, shot.size, shot.layers, shot.repo_tags) == (
        "app:1", item.score, item.image.size, len(item.image.layers), ("app:1",))


def test_waived_and_info_findings_do_not_count() -> None:
    waiver = Waiver("IA201", "root is needed for the port", source="policy")
    item = report(bad(), Policy(waivers=(waiver,)))
    waived = [s for s in item.findings if s.rule.id == "IA201"]
    assert waived and all(s.finding.waiver is not None for s in waived)
    assert ROOT not in snapshot(item).fingerprints
    info = report(bad(), Policy(severities={"IA201": Severity.INFO}))
    assert ROOT not in snapshot(info).fingerprints


# ----------------------------------------------------------------------------- classification


def test_same_image_is_all_known_nothing_resolved() -> None:
    item = report(bad())
    (compared,) = compare([item], of(snapshot(item)))
    assert prints(compared), "bad() has counted findings"
    assert all(s.novelty is Novelty.KNOWN for s in compared.findings if counts(s))
    assert all(s.novelty is None for s in compared.findings if not counts(s))
    assert compared.resolved == ()
    assert compared.baseline == snapshot(item)
    assert new_findings(compared) == ()


def test_compare_builds_a_new_report_and_leaves_the_old_alone() -> None:
    item = report(bad())
    (compared,) = compare([item], of(old("app:1", ())))
    assert compared is not item
    assert item.baseline is None and all(s.novelty is None for s in item.findings)
    assert dataclasses.replace(compared, findings=item.findings, baseline=None,
                               resolved=()) == item


def test_fixed_problem_is_resolved_and_the_rest_new() -> None:
    before = report(good().configured(User=""))
    after = report(good().configured(WorkingDir=""))
    (compared,) = compare([after], of(snapshot(before)))
    assert compared.resolved == (ROOT,)
    assert {s.rule.id for s in new_findings(compared)} == {"IA601"}


def test_multiset_matching() -> None:
    item = report(good().configured(User=""))
    root = next(s for s in item.findings if s.rule.id == "IA201")
    thrice = dataclasses.replace(item, findings=(root, root, root))
    (compared,) = compare([thrice], of(old("app:1", (ROOT, ROOT))))
    assert sorted(s.novelty.value for s in compared.findings if s.novelty) == [
        "known", "known", "new"]
    assert compared.resolved == ()
    once = dataclasses.replace(item, findings=(root,))
    (compared,) = compare([once], of(old("app:1", (ROOT, ROOT, ROOT))))
    assert [s.novelty for s in compared.findings] == [Novelty.KNOWN]
    assert compared.resolved == (ROOT, ROOT)


def test_rules_that_did_not_judge_resolve_nothing() -> None:
    before = snapshot(report(bad()))
    content_prints = [p for p in before.fingerprints if p.startswith(("IA401", "IA901"))]
    assert content_prints
    # --no-content now: the content rules are skipped, their findings neither gone nor new.
    (compared,) = compare([report(bad(), content=False)], of(before))
    assert not set(content_prints) & set(compared.resolved)
    assert new_findings(compared) == ()
    # Ignored by policy now: IA201 is not resolved either.
    (ignored,) = compare([report(bad(), Policy(ignore=frozenset({"IA201"})))], of(before))
    assert ROOT not in ignored.resolved
    # Waived now: still there, accepted; not new and not resolved.
    waiver = Waiver("IA201", "accepted", expires=datetime.date(2999, 1, 1))
    (waived,) = compare([report(bad(), Policy(waivers=(waiver,)))], of(before))
    assert ROOT not in waived.resolved
    assert [s.novelty for s in waived.findings if s.rule.id == "IA201"] == [None]


def test_counts_in_messages_do_not_make_findings_new() -> None:
    def layered(count: int) -> ImageReport:
        return report(good().adding(*(run(f"echo {i}", file(f"srv/{i}")) for i in range(count))))

    before, after = layered(11), layered(13)
    messages = {s.finding.message for s in after.findings} - {s.finding.message
                                                               for s in before.findings}
    assert {s.rule.id for s in after.findings if s.finding.message in messages} >= {"IA301"}
    (compared,) = compare([after], of(snapshot(before)))
    assert new_findings(compared) == () and compared.resolved == ()


def test_a_secret_file_added_next_to_a_known_one_is_new() -> None:
    # v1 copies app/.env; v2 copies the whole app/ folder, which also holds a private key.
    def copying(*paths: str) -> ImageReport:
        return report(good().adding(copy("multi:abc in /app/",
                                         *(file(p, "k=v\n") for p in paths))))

    before, after = copying("app/.env"), copying("app/.env", "app/id_rsa")
    (compared,) = compare([after], of(snapshot(before)))
    (added,) = new_findings(compared)
    assert (added.rule.id, added.finding.path) == ("IA401", "app/id_rsa")
    assert _gate(after, snapshot(before), fail_on=Severity.HIGH)


# ----------------------------------------------------------------------------- pairing


def _item(reference: str, *tags: str) -> ImageReport:
    return report(good().tagged(*tags), reference=reference)


def test_pairs_by_reference_tag_or_id() -> None:
    a, b = _item("app:2"), _item("docker-archive:x.tar:lib:2", "lib:2")
    olds = of(old("lib:1", tags=("lib:1", "lib:2")), old("app:2"))
    assert pair([a, b], olds) == (olds.images[1], olds.images[0])
    same_id = old("sha256:abc", id=a.image.id)
    assert pair([a], of(old("zzz:1"), same_id)) == (same_id,)


def test_one_and_one_pair_whatever_the_names() -> None:
    olds = of(old("imgaudit-fixture/app:build-41"))
    assert pair([_item("other:build-42")], olds) == (olds.images[0],)


def test_pairs_by_repository_one_to_one() -> None:
    olds = of(old("registry:5000/app:41"), old("lib:7"))
    items = [_item("registry:5000/app:42"), _item("registry:5000/app:43"), _item("tool:1")]
    assert pair(items, olds) == (olds.images[0], None, None)


def test_pairs_only_images_of_the_same_platform() -> None:
    # --all-platforms: one reference and one tag per platform, told apart by the platform only
    target = "docker://reg:5000/app:1"

    def on(arch: str) -> ImageReport:
        item = _item(f"{target} (linux/{arch})", "reg:5000/app:1")
        return dataclasses.replace(item, image=dataclasses.replace(item.image,
                                                                   architecture=arch))

    arm, amd = on("arm64"), on("amd64")
    olds = of(snapshot(amd), snapshot(arm))
    assert [o.platform for o in olds.images] == ["linux/amd64", "linux/arm64"]
    assert pair([arm, amd], olds) == (olds.images[1], olds.images[0])
    # an older report without the platform field: the reference's suffix tells
    legacy = of(*(dataclasses.replace(o, platform="") for o in olds.images))
    assert pair([arm, amd], legacy) == (legacy.images[1], legacy.images[0])
    # one image each, of different platforms: not the same build
    assert pair([arm], of(snapshot(amd))) == (None,)
    # a later registry tag of the same repository, same platform
    later = dataclasses.replace(on("arm64"), image=dataclasses.replace(
        arm.image, reference="docker://reg:5000/app:2 (linux/arm64)",
        repo_tags=("reg:5000/app:2",)))
    assert pair([later], olds) == (olds.images[1],)


def test_pairs_a_registry_image_with_its_engine_name() -> None:
    olds = of(old("ghcr.io/org/app:41", tags=("ghcr.io/org/app:41",)), old("org/app:41"))
    items = [_item("docker://ghcr.io/org/app:42", "ghcr.io/org/app:42"), _item("lib:1")]
    assert pair(items, olds) == (olds.images[0], None)
    pinned = _item("docker://ghcr.io/org/app@sha256:" + "ab" * 32)
    assert pair([pinned, _item("lib:1")], olds) == (olds.images[0], None)


def test_unmatched_image_gets_a_notice_and_no_novelty() -> None:
    olds = of(old("lib:1"), old("tool:1"), source="ci/base.json")
    (compared,) = compare([_item("app:2")], olds)
    assert compared.baseline is None
    assert all(s.novelty is None for s in compared.findings)
    assert any("ci/base.json" in n and "app:2" in n for n in compared.notices)


# ----------------------------------------------------------------------------- the gate


def _gate(item: ImageReport, baseline: BaselineImage | None, **policy: object) -> tuple[str, ...]:
    (compared,) = compare([item], of(baseline) if baseline else of())
    return policy_failures(Report((compared,)), Policy(fail_on_new=True, **policy))  # type: ignore[arg-type]


def test_fail_on_new_ignores_known_findings() -> None:
    item = report(bad())
    assert policy_failures(Report((item,)), Policy(fail_on=Severity.HIGH))
    assert _gate(item, snapshot(item), fail_on=Severity.HIGH) == ()
    assert _gate(item, snapshot(item)) == ()


def test_fail_on_new_fails_on_new_findings_at_the_threshold() -> None:
    before = report(good().configured(ExposedPorts=None))  # IA701, low
    after = report(good().configured(ExposedPorts=None, WorkingDir=""))  # + IA601, medium
    (reason,) = _gate(after, snapshot(before))
    assert "1 new finding at or above low (worst: medium)" in reason
    assert _gate(after, snapshot(before), fail_on=Severity.HIGH) == ()
    assert _gate(after, snapshot(before), fail_on=Severity.MEDIUM)


def test_unmatched_image_is_all_new() -> None:
    item = report(bad())
    (compared,) = compare([item, _item("x:1")], of(old("a:1"), old("b:1")))[:1]
    assert compared.baseline is None
    reasons = policy_failures(Report((compared,)), Policy(fail_on_new=True))
    assert reasons and "new findings" in reasons[0]


def test_fail_under_with_a_baseline_fails_only_on_a_lower_score() -> None:
    item = report(bad())
    assert item.score < 50
    same = snapshot(item)
    assert policy_failures(Report((item,)), Policy(fail_under=90))
    assert _gate(item, same, fail_under=90, fail_on=Severity.CRITICAL) == ()
    better = dataclasses.replace(same, score=item.score + 1)
    (reason,) = _gate(item, better, fail_under=90, fail_on=Severity.CRITICAL)
    assert f"below the baseline's {item.score + 1}" in reason


def test_fail_on_new_without_a_baseline_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        audit([], policy=Policy(fail_on_new=True))
    assert "--baseline" in caught.value.hint


# ----------------------------------------------------------------------------- two images


def test_diff_of_two_images() -> None:
    before = report(good().configured(User=""))
    after = report(good().configured(WorkingDir=""))
    change = diff(before, after)
    assert [s.rule.id for s in change.added] == ["IA601"]
    assert [s.rule.id for s in change.removed] == ["IA201"]
    assert change.score_change == after.score - before.score
    changed = {p.practice.id: (p.old, p.new) for p in change.practices if p.changed}
    assert changed == {2: (Status.FAIL, Status.PASS), 6: (Status.PASS, Status.WARN)}
    assert all(s.novelty is not None for s in change.new.findings if counts(s))
    assert diff(before, before).added == diff(before, before).removed == ()


def test_diff_gates() -> None:
    before = report(good().configured(User=""))
    after = report(good().configured(WorkingDir=""))
    change = diff(before, after)
    assert diff_failures(change, None, None) == ()
    assert diff_failures(change, Severity.MEDIUM, None)
    assert diff_failures(change, Severity.HIGH, None) == ()
    back = diff(after, before)
    drop = after.score - before.score
    assert drop > 0
    assert diff_failures(back, None, drop) == ()
    (reason,) = diff_failures(back, None, drop - 1)
    assert f"score dropped by {drop}" in reason


def test_build_is_deterministic_for_fingerprints() -> None:
    # The same spec built twice under other names gives the same fingerprints.
    one = snapshot(report(build(bad(), reference="app:1")))
    two = snapshot(report(build(bad().tagged("app:2"), reference="app:2")))
    assert one.fingerprints == two.fingerprints
