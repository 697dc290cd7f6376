"""`imgaudit sweep` end to end against a real registry of its own (Debian's docker-registry in a
container), filled with `docker push` and through the registry API: every tag recorded, one audit
per manifest, reruns, filters, shards, faults through a loopback proxy, SIGKILL and Ctrl-C in the
middle, layer downloads counted, and an htpasswd registry. Sweeps run in this process, except
those killed or interrupted, which get a process of their own."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.model.sweep import SweepResults
from auditor.sources.documents import host_platform
from auditor.store.read import load
from tests.support.cli import Completed, imgaudit
from tests.support.engine import fixture_tag
from tests.support.factory import good
from tests.support.faultproxy import FaultKind, FaultProxy
from tests.support.registry_env import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    RegistryContents,
    RegistryFactory,
    canonical,
    descriptor,
    docker_push,
    image_manifest,
    saved,
    sha256,
    upload_fixture,
    upload_index,
    upload_spec,
)

ROOT = Path(__file__).resolve().parents[2]

# Pushed with `docker push`: two tags of one image in team/app (1.1 and latest).
PUSHED: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "fixtures/root-user": {"classic": ("root-user", "classic"),
                           "buildkit": ("root-user", "buildkit")},
    "fixtures/secrets": {"classic": ("secrets", "classic"), "buildkit": ("secrets", "buildkit")},
    "team/app": {"1.0": ("user-hardcoded", "buildkit"), "1.1": ("numeric-user", "buildkit"),
                 "latest": ("numeric-user", "buildkit")},
    "team/web": {"1.0": ("no-workdir", "buildkit"), "2.0": ("no-expose", "buildkit")},
}
# Put through the API with a set `created`, to rank by --newest (b is newest, nanoseconds and
# all); copies/app:same is byte for byte dated/app:a, in another repository.
DATED = {"a": ("ssh-port", "2024-01-01T00:00:00Z"),
         "b": ("low-port", "2024-03-01T12:00:00.123456789Z"),
         "c": ("os-cache", "2024-02-01T00:00:00+00:00")}


@dataclass(frozen=True)
class Swept:
    registry: Registry
    tags: Mapping[tuple[str, str], str]  # (repository, tag) -> manifest digest, from the registry
    index_digest: str  # multiarch/app:oci
    configs: Mapping[tuple[str, str], str]  # (repository, tag) -> config digest (not indexes)

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def digests(self) -> set[str]:
        return set(self.tags.values())


@pytest.fixture(scope="module")
def swept(registry_factory: RegistryFactory, fixture_images: list[str]) -> Swept:
    """A registry of this module's own, so what a sweep must find is exactly what was put."""
    registry = registry_factory.open("sweep")
    for repository, tags in PUSHED.items():
        docker_push(registry.api, repository, tags)
    for tag, (source, created) in DATED.items():
        upload_fixture(registry, "dated/app", tag, fixture_tag(source, "buildkit"),
                       config_fields={"created": created})
    upload_fixture(registry, "copies/app", "same", fixture_tag(DATED["a"][0], "buildkit"),
                   config_fields={"created": DATED["a"][1]})
    index = upload_index(registry, "multiarch/app", "oci").digest
    tags: dict[tuple[str, str], str] = {}
    configs: dict[tuple[str, str], str] = {}
    for repository in registry.api.catalog():
        for tag in registry.api.tags(repository):
            body, _, digest = registry.api.manifest(repository, tag)
            tags[repository, tag] = digest
            config = json.loads(body).get("config")
            if config:
                configs[repository, tag] = config["digest"]
    assert tags["copies/app", "same"] == tags["dated/app", "a"]
    assert tags["team/app", "1.1"] == tags["team/app", "latest"]
    return Swept(registry, tags, index, configs)


# ----------------------------------------------------------------------------- helpers


def sweep(host: str, db: Path, *args: str, env: Mapping[str, str], stdin: str | None = None
          ) -> Completed:
    """`imgaudit sweep HOST --db DB ARGS`, in this process."""
    return imgaudit("sweep", host, "--db", str(db), *args, env=env, stdin=stdin)


def counted(done: Completed) -> dict[str, int]:
    """The counts of the summary line: audited, skipped, failed."""
    line = next(line for line in done.stderr.splitlines() if line.startswith("imgaudit: audited"))
    words = line.replace(",", " ").replace(";", " ").split()
    return {name: int(words[words.index(name) + 1]) for name in ("audited", "skipped", "failed")}


def rows(db: Path, where: str = "1") -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(f"SELECT * FROM images WHERE {where} ORDER BY id"))


def by_tag(results: SweepResults) -> dict[tuple[str, str], Any]:
    """(repository, tag) -> its row; a tag shown twice (which a dict would hide) fails."""
    found = {(t.repository, t.tag): t for t in results.tags}
    assert len(found) == len(results.tags), rows_per_tag(results)
    return found


def rows_per_tag(results: SweepResults) -> Counter[tuple[str, str]]:
    return Counter((t.repository, t.tag) for t in results.tags)


def own_platform() -> str:
    return str(host_platform())


@pytest.fixture
def env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """No Docker config of the machine's, a layer cache of the test's own."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    return dict(cli_env, DOCKER_CONFIG=str(folder), PYTHONPATH=str(ROOT))


# ----------------------------------------------------------------------------- sweeps


@pytest.mark.engine
def test_a_sweep_records_every_tag_with_one_audit_per_manifest(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "sweep.db"
    done = sweep(swept.host, db, "--metadata-only", env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    results = load([db])
    tags = by_tag(results)
    assert set(tags) == set(swept.tags)
    for key, digest in swept.tags.items():
        assert tags[key].digest == digest, key
        assert tags[key].audit.ok, (key, tags[key].audit.error)
    # The multi-platform image: this machine's platform, under the index's digest.
    assert tags["multiarch/app", "oci"].platform == own_platform()
    assert tags["team/app", "1.0"].platform == ""
    # One audit per manifest: tags that share a digest (in one repository or two) share it.
    audits = rows(db)
    assert len(audits) == len(swept.digests) < len(swept.tags)
    assert Counter(r["digest"] for r in audits).most_common(1)[0][1] == 1
    assert tags["copies/app", "same"].audit is tags["dated/app", "a"].audit
    # Real verdicts: root-user runs as root, numeric-user does not.
    def rules(key: tuple[str, str]) -> set[str]:
        return {f.rule for f in tags[key].audit.findings if f.points > 0}

    assert "IA201" in rules(("fixtures/root-user", "classic"))
    assert "IA201" not in rules(("team/app", "1.1"))
    assert counted(done) == {"audited": len(swept.digests), "skipped": 0, "failed": 0}


@pytest.mark.engine
def test_a_second_sweep_audits_nothing_new_and_refresh_audits_again(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "sweep.db"
    assert sweep(swept.host, db, "--metadata-only", env=env).returncode == 0
    first = rows(db)
    again = sweep(swept.host, db, "--metadata-only", env=env)
    assert again.returncode == 0, again.stderr
    assert counted(again) == {"audited": 0, "skipped": len(swept.digests), "failed": 0}
    assert [r["id"] for r in rows(db)] == [r["id"] for r in first]
    assert set(by_tag(load([db]))) == set(swept.tags)
    # --refresh audits every manifest again, appending (never overwriting) the results.
    refreshed = sweep(swept.host, db, "--metadata-only", "--refresh", env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert counted(refreshed)["audited"] == len(swept.digests)
    assert len(rows(db)) == 2 * len(first)


@pytest.mark.engine
def test_repo_tag_and_newest_filters(swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "team.db"
    done = sweep(swept.host, db, "--metadata-only", "--repo", "team/*", "--tag", "1.*", env=env)
    assert done.returncode == 0, done.stderr
    assert set(by_tag(load([db]))) == {("team/app", "1.0"), ("team/app", "1.1"),
                                       ("team/web", "1.0")}

    db = tmp_path / "several.db"
    done = sweep(swept.host, db, "--metadata-only", "--repo", "team/web", "--repo", "copies/*",
                 env=env)
    assert done.returncode == 0, done.stderr
    assert set(by_tag(load([db]))) == {("team/web", "1.0"), ("team/web", "2.0"),
                                       ("copies/app", "same")}

    for count, wanted in ((1, {"b"}), (2, {"b", "c"})):
        db = tmp_path / f"newest-{count}.db"
        done = sweep(swept.host, db, "--metadata-only", "--repo", "dated/app", "--newest",
                     str(count), env=env)
        assert done.returncode == 0, done.stderr
        assert {tag for _, tag in by_tag(load([db]))} == wanted


@pytest.mark.engine
def test_all_platforms_audits_each_platform_of_an_index(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "multi.db"
    done = sweep(swept.host, db, "--repo", "multiarch/*", "--all-platforms", "--metadata-only",
                 env=env)
    assert done.returncode == 0, done.stderr
    results = load([db])
    assert {(t.tag, t.platform) for t in results.tags} == {("oci", "linux/amd64"),
                                                          ("oci", "linux/arm64/v8")}
    assert {t.digest for t in results.tags} == {swept.index_digest}
    # The arm64 image is the user-hardcoded fixture, the amd64 one root-user: each was read.
    scored = {t.platform: {f.rule for f in t.audit.findings if f.points > 0}
              for t in results.tags}
    assert "IA201" in scored["linux/amd64"]
    assert "IA201" not in scored["linux/arm64/v8"]

    db = tmp_path / "arm.db"
    done = sweep(swept.host, db, "--repo", "multiarch/*", "--platform", "linux/arm64",
                 "--metadata-only", env=env)
    assert done.returncode == 0, done.stderr
    assert [t.platform for t in load([db]).tags] == ["linux/arm64/v8"]


@pytest.mark.engine
def test_shards_split_the_registry_without_overlap_and_report_merges_them(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    parts = []
    for k in (1, 2):
        db = tmp_path / f"shard-{k}.db"
        done = sweep(swept.host, db, "--metadata-only", "--shard", f"{k}/2", env=env)
        assert done.returncode == 0, done.stderr
        parts.append(db)
    audited = [{r["digest"] for r in rows(db)} for db in parts]
    assert not audited[0] & audited[1]
    assert audited[0] | audited[1] == swept.digests
    tagged = [set(by_tag(load([db]))) for db in parts]
    assert not tagged[0] & tagged[1]
    assert tagged[0] | tagged[1] == set(swept.tags)
    # Tags that share a digest land in one shard with it.
    for db in parts:
        names = set(by_tag(load([db])))
        assert (("team/app", "1.1") in names) == (("team/app", "latest") in names)

    report = imgaudit("report", *map(str, parts), "--format", "json", env=env)
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    assert {(t["repository"], t["tag"]) for t in document["tags"]} == set(swept.tags)
    assert document["summary"]["images"] == len(swept.digests)

    # A Kubernetes Indexed Job: JOB_COMPLETION_INDEX=0 with --shards 2 is shard 1/2.
    db = tmp_path / "job-0.db"
    done = sweep(swept.host, db, "--metadata-only", "--shards", "2",
                 env=dict(env, JOB_COMPLETION_INDEX="0"))
    assert done.returncode == 0, done.stderr
    assert {r["digest"] for r in rows(db)} == audited[0]


@pytest.mark.engine
def test_content_mode_downloads_each_layer_once(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    """Eight workers at once, a fresh layer cache: every layer blob is fetched at most once,
    and every layer (by diff_id) exactly once, however many images share it."""
    with FaultProxy(swept.host) as proxy:
        db = tmp_path / "content.db"
        done = sweep(proxy.host, db, "--jobs", "8", "--no-cache", env=env)
        assert done.returncode == 0, done.stderr
        blob_gets = Counter(e.path.rsplit("/", 1)[-1] for e in proxy.matching(r"/blobs/sha256:",
                                                                             "GET"))
    api = swept.registry.api
    layers: dict[str, tuple[str, int]] = {}  # blob digest -> (repository, size)
    configs: set[str] = set()
    for (repository, _tag), digest in swept.tags.items():
        manifest = json.loads(api.manifest(repository, digest)[0])
        children = [m["digest"] for m in manifest.get("manifests", ())
                    if m["platform"]["architecture"] == host_platform().architecture]
        for child in children or [digest]:
            document = json.loads(api.manifest(repository, child)[0])
            configs.add(document["config"]["digest"])
            for layer in document["layers"]:
                layers[layer["digest"]] = (repository, layer["size"])
    layer_gets = {d: n for d, n in blob_gets.items() if d in layers}
    assert max(layer_gets.values()) == 1, layer_gets
    assert set(blob_gets) <= set(layers) | configs
    # Two blobs of the same uncompressed layer (docker push's gzip and the API upload's) are one
    # layer: downloading either is enough.
    diff_ids: dict[str, set[str]] = {}
    for (repository, tag), config in swept.configs.items():
        document = json.loads(api.blob(repository, config))
        manifest = json.loads(api.manifest(repository, swept.tags[repository, tag])[0])
        for layer, diff_id in zip(manifest["layers"], document["rootfs"]["diff_ids"],
                                  strict=True):
            diff_ids.setdefault(diff_id, set()).add(layer["digest"])
    for diff_id, blobs in diff_ids.items():
        assert sum(layer_gets.get(b, 0) for b in blobs) == 1, diff_id
    # Layers were read: every report says so, and the os-cache fixture's apt lists are found.
    tags = by_tag(load([db]))
    assert all(json.loads(t.audit.report)["content_read"] for t in tags.values())
    assert "IA902" in {f.rule for f in tags["dated/app", "c"].audit.findings}


@pytest.mark.engine
def test_each_manifest_is_fetched_once(swept: Swept, tmp_path: Path, env: dict[str, str]
                                       ) -> None:
    """Resolving a tag reads its manifest; the audit of a single-platform image uses that read
    instead of fetching the manifest again by digest (only the index's platform manifest is
    fetched by digest)."""
    with FaultProxy(swept.host) as proxy:
        done = sweep(proxy.host, tmp_path / "once.db", "--metadata-only", env=env)
        assert done.returncode == 0, done.stderr
        gets = proxy.matching(r"/manifests/", "GET")
    by_digest = [e.path.rsplit("/", 1)[-1] for e in gets if "/manifests/sha256:" in e.path]
    assert len(gets) == len(swept.tags) + 1, [e.path for e in gets]
    assert len(by_digest) == 1 and by_digest[0] not in swept.digests  # the platform's


@pytest.mark.engine
def test_a_nested_index_is_read_for_the_wanted_platform(
        fresh_registry: Registry, fixture_images: list[str], tmp_path: Path,
        env: dict[str, str]) -> None:
    """An index whose arm64 entry is itself an index (of amd64 and arm64 images): --platform
    linux/arm64 audits the arm64 image of the inner index, not this machine's."""
    inner = upload_index(fresh_registry, "nested/app", "inner")
    body, _, _ = fresh_registry.api.manifest("nested/app", inner.digest, accept=(OCI_INDEX,))
    outer = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        **descriptor(OCI_INDEX, body),
        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]})
    fresh_registry.api.put_manifest("nested/app", "outer", outer, OCI_INDEX)
    db = tmp_path / "nested.db"
    done = sweep(fresh_registry.host, db, "--metadata-only", "--tag", "outer", "--platform",
                 "linux/arm64", env=env)
    assert done.returncode == 0, done.stderr
    (tag,) = load([db]).tags
    assert tag.platform == "linux/arm64/v8"
    arm64 = inner.platforms["linux/arm64"]
    assert json.loads(tag.audit.report)["id"] == arm64.config_digest


# ----------------------------------------------------------------------------- faults


@pytest.mark.engine
def test_faults_are_retried_or_recorded_and_a_rerun_completes(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    stalled = ("team/web", "2.0")
    broken = ("fixtures/secrets", "classic")
    db = tmp_path / "faults.db"
    with FaultProxy(swept.host, seed=7) as proxy:
        proxy.add(FaultKind.THROTTLE, r"/v2/_catalog", nth=1, retry_after=1)
        proxy.add(FaultKind.ERROR, r"/manifests/", nth={2, 3})  # retried (3 tries each)
        proxy.add(FaultKind.DROP, r"/blobs/", nth={1, 4})
        proxy.add(FaultKind.STALL, f"/blobs/{swept.configs[stalled]}", seconds=15)
        proxy.add(FaultKind.ERROR, f"/v2/{broken[0]}/manifests/{broken[1]}$", status=503)
        started = time.monotonic()
        done = sweep(proxy.host, db, "--metadata-only", "--timeout", "3", "--retries", "2",
                     "--jobs", "4", env=env)
        elapsed = time.monotonic() - started
        faults = Counter(e.fault for e in proxy.faulted)
        throttled = proxy.matching(r"/v2/_catalog")
        tags = by_tag(load([db]))
        proxy.clear()  # the registry is well again: the same command completes the sweep
        rerun = sweep(proxy.host, db, "--metadata-only", env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    # Each fault happened (a stalled request is logged only when it ends, after the sweep: its
    # timeout below shows it); the sweep ended soon after the stalled image's timeout.
    assert {FaultKind.THROTTLE, FaultKind.ERROR, FaultKind.DROP} <= set(faults), faults
    assert [e.status for e in throttled[:2]] == [429, 200]
    assert elapsed < 60
    assert set(tags) == set(swept.tags)  # nothing lost: every tag has a result or an error
    failed = {key for key, tag in tags.items() if not tag.audit.ok}
    assert failed == {stalled, broken}, {k: tags[k].audit.error for k in failed}
    assert "timed out after 3 s" in tags[stalled].audit.error
    assert "503" in tags[broken].audit.error
    assert tags[stalled].audit.hint and tags[broken].audit.hint
    assert counted(done)["failed"] == 2
    assert any(stalled[0] in line and "timed out" in line for line in done.stderr.splitlines()
               if line.startswith("imgaudit: error:"))

    assert rerun.returncode == 0, rerun.stderr
    assert counted(rerun) == {"audited": 2, "skipped": len(swept.digests) - 2, "failed": 0}
    tags = by_tag(load([db]))
    assert all(tag.audit.ok for tag in tags.values())
    assert tags[broken].digest == swept.tags[broken]


@pytest.mark.engine
def test_a_failure_of_a_multi_platform_tag_is_replaced_by_its_audit(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    """The index tag fails once (recorded under no platform, since it never resolved), then
    resolves to one platform: only that row is shown, and the report counts it once."""
    db = tmp_path / "flaky.db"
    with FaultProxy(swept.host) as proxy:
        proxy.add(FaultKind.ERROR, r"/v2/multiarch/app/manifests/oci$", nth=1)
        first = sweep(proxy.host, db, "--metadata-only", "--retries", "0", env=env)
        assert first.returncode == 2, first.stderr
        failed = load([db])
        assert not by_tag(failed)["multiarch/app", "oci"].audit.ok
        again = sweep(proxy.host, db, "--metadata-only", "--retries", "0", env=env)
    assert again.returncode == 0, again.stderr
    results = load([db])
    assert rows_per_tag(results) == Counter(list(swept.tags))  # one row per tag, none twice
    tag = by_tag(results)["multiarch/app", "oci"]
    assert tag.audit.ok and tag.platform == own_platform()
    report = imgaudit("report", str(db), "--format", "json", env=env)
    assert report.returncode == 0, report.stderr
    summary = json.loads(report.stdout)["summary"]
    assert (summary["tags"], summary["errors"]) == (len(swept.tags), 0)
    table = imgaudit("report", str(db), env=env)
    assert f"{len(swept.tags)} tag(s)" in table.stdout and "0 error(s)" in table.stdout


def _committed(db: Path) -> set[str]:
    try:
        return {r["digest"] for r in rows(db, "status = 'ok'")}
    except sqlite3.Error:
        return set()


def _slow_sweep(swept: Swept, proxy: FaultProxy, db: Path, env: Mapping[str, str]
                ) -> subprocess.Popen[str]:
    """A sweep whose every audit waits 0.6 s on its config, one at a time."""
    proxy.add(FaultKind.STALL, r"/blobs/", seconds=0.6)
    return subprocess.Popen(
        [sys.executable, "-m", "auditor.cli", "sweep", proxy.host, "--db", str(db),
         "--metadata-only", "--jobs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env))


def _wait_for(db: Path, count: int, process: subprocess.Popen[str]) -> set[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = _committed(db)
        if len(done) >= count:
            return done
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the sweep committed too little in time")


@pytest.mark.engine
def test_sigkill_loses_no_committed_result_and_a_rerun_completes(
        swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "killed.db"
    with FaultProxy(swept.host) as proxy:
        process = _slow_sweep(swept, proxy, db, env)
        committed = _wait_for(db, 3, process)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        kept = _committed(db)
        proxy.clear()
        rerun = sweep(proxy.host, db, "--metadata-only", env=env)
    assert process.returncode == -signal.SIGKILL
    assert committed <= kept < swept.digests
    assert rerun.returncode == 0, rerun.stderr
    assert counted(rerun) == {"audited": len(swept.digests) - len(kept), "skipped": len(kept),
                              "failed": 0}
    tags = by_tag(load([db]))
    assert set(tags) == set(swept.tags)
    assert all(tag.audit.ok for tag in tags.values())


@pytest.mark.engine
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_soon_keeps_what_finished_and_says_how_to_resume(
        signum: int, swept: Swept, tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "interrupted.db"
    with FaultProxy(swept.host) as proxy:
        process = _slow_sweep(swept, proxy, db, env)
        _wait_for(db, 2, process)
        interrupted = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        took = time.monotonic() - interrupted
        kept = _committed(db)
        with sqlite3.connect(db) as conn:
            finished = conn.execute("SELECT finished FROM sweeps").fetchall()
        proxy.clear()
        rerun = sweep(proxy.host, db, "--metadata-only", env=env)
    assert process.returncode == 130, stderr
    assert took < 5, took
    assert "Traceback" not in stderr
    assert "Resume with the same command" in stderr
    assert 2 <= len(kept) < len(swept.digests)
    assert finished == [(None,)]  # the sweep is marked unfinished
    assert rerun.returncode == 0, rerun.stderr
    assert counted(rerun)["skipped"] == len(kept)
    tags = by_tag(load([db]))
    assert set(tags) == set(swept.tags)
    assert all(tag.audit.ok for tag in tags.values())


@pytest.mark.engine
@pytest.mark.parametrize(("stage", "signals"), [
    ("tags", (signal.SIGINT,)), ("tags", (signal.SIGTERM,)),
    ("tags", (signal.SIGINT, signal.SIGINT)), ("images", (signal.SIGINT,))])
def test_an_interrupt_while_requests_stall_ends_the_process_soon(
        stage: str, signals: tuple[int, ...], swept: Swept, tmp_path: Path,
        env: dict[str, str]) -> None:
    """Requests stall for 25 s, while tags are resolved (manifests) or while images are audited
    (configs): Ctrl-C (once or twice) or SIGTERM ends the process at once, or after
    the 2 seconds audits under way are given, with what was not done in the summary and no
    traceback."""
    db = tmp_path / "stalled.db"
    with FaultProxy(swept.host) as proxy:
        proxy.add(FaultKind.STALL, r"/manifests/" if stage == "tags" else r"/blobs/",
                  seconds=25)
        process = subprocess.Popen(
            [sys.executable, "-m", "auditor.cli", "sweep", proxy.host, "--db", str(db),
             "--metadata-only", "--jobs", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env))
        assert process.stderr is not None
        seen = ""
        while f"{stage} to do" not in seen:
            line = process.stderr.readline()
            assert line, process.communicate()
            seen += line
        time.sleep(0.5)  # the first manifest requests are under way, and stalled
        interrupted = time.monotonic()
        for signum in signals:
            process.send_signal(signum)
            time.sleep(0.2)
        _, rest = process.communicate(timeout=60)
        took = time.monotonic() - interrupted
    stderr = seen + rest
    assert process.returncode == 130, stderr
    assert took < (2.0 if stage == "tags" else 3.5), took
    assert "Traceback" not in stderr
    if stage == "images":
        assert f"{len(swept.tags)} tags, {len(swept.digests)} images" in stderr
        assert f"interrupted with {len(swept.digests)} image(s) not done" in stderr
    elif len(signals) == 1:  # (a second Ctrl-C may cut the summary short)
        assert f"{len(swept.tags)} tags listed; interrupted before every tag was resolved" \
            in stderr
        assert "interrupted before any image was audited" in stderr
    assert "Resume with the same command" in stderr or len(signals) > 1


# ----------------------------------------------------------------------------- auth and errors


@pytest.mark.engine
@pytest.mark.parametrize("kind", ["auth", "token"])
def test_registries_with_auth_take_username_and_password_stdin(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path, env: dict[str, str]) -> None:
    """htpasswd (Basic) and a token server (Bearer): refused without credentials, swept with
    them, and the password is in no output and not in the database."""
    registry: Registry = request.getfixturevalue(f"{kind}_registry")
    request.getfixturevalue("private_image" if kind == "auth" else "token_image")
    assert registry.password and registry.username
    db = tmp_path / "private.db"
    refused = sweep(registry.host, db, "--metadata-only", env=env)
    assert refused.returncode == 2
    assert "credentials" in refused.stderr and "hint:" in refused.stderr

    done = sweep(registry.host, db, "--metadata-only", "--username", registry.username,
                 "--password-stdin", env=env, stdin=registry.password + "\n")
    assert done.returncode == 0, done.stderr
    tags = by_tag(load([db]))
    assert ("private/app", "1") in tags and tags["private/app", "1"].audit.ok
    for text in (refused.stderr, done.stderr, done.stdout):
        assert registry.password not in text
    assert registry.password.encode() not in db.read_bytes()

    wrong = sweep(registry.host, tmp_path / "wrong.db", "--username", registry.username,
                  "--password-stdin", env=env, stdin="not-it\n")
    assert wrong.returncode == 2
    assert "Traceback" not in wrong.stderr


@pytest.mark.engine
def test_a_content_sweep_of_the_shared_registry_records_every_tag(
        registry_contents: RegistryContents, tmp_path: Path, env: dict[str, str]) -> None:
    """Docker and OCI manifests, a manifest list and an index, gzip and zstd layers: each tag
    audited from its layers, and the corrupt image recorded as a failure, never as a result."""
    db = tmp_path / "shared.db"
    host = registry_contents.registry.host
    done = sweep(host, db, "--no-cache", env=env)
    assert done.returncode == 2, done.stderr  # the corrupt image could not be audited
    tags = {f"{t.registry}/{t.repository}:{t.tag}": t for t in load([db]).tags}
    assert set(tags) == set(registry_contents.tags)
    for reference, digest in registry_contents.tags.items():
        assert tags[reference].digest == digest
    corrupt = tags[registry_contents.corrupt.reference].audit
    assert not corrupt.ok and "diff_id" in corrupt.error
    assert all(t.audit.ok for ref, t in tags.items() if ref != registry_contents.corrupt.reference)
    zstd = tags[registry_contents.oci_zstd.reference].audit
    assert json.loads(zstd.report)["content_read"]  # read from its gzip and zstd layers
    assert all(json.loads(t.audit.report)["content_read"] for t in tags.values() if t.audit.ok)
    assert counted(done)["failed"] == 1


@pytest.mark.engine
@pytest.mark.parametrize("args, words", [
    (("not a host!",), "not a registry host"),
    (("127.0.0.1:1", "--retries", "0"), "cannot reach"),
    (("127.0.0.1:5000", "--shard", "3/2"), "shard 3/2"),
    (("127.0.0.1:5000", "--shard", "x"), "not a shard"),
    (("127.0.0.1:5000", "--username", "me"), "--password-stdin"),
    (("127.0.0.1:5000", "--platform", "linux"), "not a platform"),
    (("127.0.0.1:5000", "--platform", "linux/amd64", "--all-platforms"), "exclude"),
])
def test_bad_input_is_one_line_with_a_hint(args: tuple[str, ...], words: str, tmp_path: Path,
                                           env: dict[str, str]) -> None:
    db = tmp_path / "x.db"
    done = imgaudit("sweep", *args, "--db", str(db), env=env)
    assert done.returncode == 2, done.stderr
    if db.exists():  # no sweep was begun
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM sweeps").fetchone() == (0,)
    errors = [line for line in done.stderr.splitlines() if line.startswith("imgaudit: error:")]
    assert len(errors) == 1, done.stderr
    assert words in errors[0] and "hint:" in errors[0]
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- not images


HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
# A config media type that would retitle the terminal and overwrite the line with another.
HOSTILE_TYPE = "x\x1b]0;PWNED\x07\rimgaudit: all good"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def upload_artifact(registry: Registry, repository: str, tag: str, config_type: str,
                    config: bytes, layers: list[tuple[str, bytes]]) -> str:
    """An OCI manifest that is no container image: a Helm chart, a cosign signature..."""
    api = registry.api
    for blob in (config, *(data for _, data in layers)):
        api.upload_blob(repository, blob)
    body = image_manifest(OCI_MANIFEST, config_type, config, layers)
    return api.put_manifest(repository, tag, body, OCI_MANIFEST)


@pytest.mark.engine
def test_artifacts_are_skipped_as_not_images_and_do_not_fail_the_sweep(
        fresh_registry: Registry, fixture_images: list[str], tmp_path: Path,
        env: dict[str, str]) -> None:
    """A Helm chart, a cosign signature and an artifact with a hostile media type beside an
    image: recorded as "skipped: not an image", exit 0, not tried again; a real failure (a
    diff_id that lies) still exits 2."""
    registry = fresh_registry
    image = upload_spec(registry, "apps/web", "1", good())
    upload_artifact(registry, "charts/web", "0.1.0", HELM_CONFIG, b"{}",
                    [(HELM_CHART, b"\x1f\x8bnot really a chart")])
    signature = canonical({"critical": {"image": {"docker-manifest-digest": image.digest}}})
    upload_artifact(registry, "apps/web", image.digest.replace(":", "-") + ".sig", OCI_CONFIG,
                    canonical({"architecture": "", "os": "", "rootfs": {
                        "type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}),
                    [(SIMPLESIGNING, signature)])
    upload_artifact(registry, "evil/x", "1", HOSTILE_TYPE, b"{}", [])
    db = tmp_path / "artifacts.db"
    for mode in ("--metadata-only", "--content"):
        done = sweep(registry.host, db, mode, "--no-cache", env=env)
        assert done.returncode == 0, done.stderr
        assert not CONTROL.search(done.stderr), done.stderr
        assert "imgaudit: error:" not in done.stderr
        tags = by_tag(load([db]))
        assert {key: tag.audit.status.value for key, tag in tags.items()} == {
            ("apps/web", "1"): "ok",
            ("apps/web", image.digest.replace(":", "-") + ".sig"): "skipped",
            ("charts/web", "0.1.0"): "skipped", ("evil/x", "1"): "skipped"}
    assert "3 not container images (recorded as skipped)" in done.stderr
    assert "layer 1 is application/vnd.dev.cosign" in tags[
        "apps/web", image.digest.replace(":", "-") + ".sig"].audit.error
    assert "helm.config" in tags["charts/web", "0.1.0"].audit.error
    assert "x\\x1b]0;PWNED\\x07\\x0dimgaudit" in tags["evil/x", "1"].audit.error
    # Not tried again: a manifest's digest never changes what it is.
    again = sweep(registry.host, db, "--content", env=env)
    assert again.returncode == 0, again.stderr
    assert counted(again) == {"audited": 0, "skipped": 4, "failed": 0}
    report = imgaudit("report", str(db), env=env)
    assert report.returncode == 0, report.stderr
    assert not CONTROL.search(report.stdout), report.stdout
    assert "0 error(s); 3 not an image (skipped)" in report.stdout
    assert report.stdout.count("skipped: not an image") == 3
    # Real failures still fail the sweep: a diff_id that lies, one imgaudit cannot check.
    source = fixture_tag("secrets", "buildkit")
    upload_fixture(registry, "apps/corrupt", "1", source, corrupt=True)
    diff_ids = [sha256(layer) for layer in saved(source).layers]
    upload_fixture(registry, "apps/md5", "1", source, config_fields={
        "rootfs": {"type": "layers", "diff_ids": [*diff_ids[:-1], "md5:0123"]}})
    broken = sweep(registry.host, db, "--content", "--no-cache", env=env)
    assert broken.returncode == 2, broken.stderr
    assert counted(broken) == {"audited": 0, "skipped": 4, "failed": 2}
    tags = by_tag(load([db]))
    assert "not the diff_id" in tags["apps/corrupt", "1"].audit.error
    md5 = tags["apps/md5", "1"].audit
    assert "by 'md5:0123', not a digest imgaudit can check" in md5.error
    assert "bug" not in md5.hint and "sha256" in md5.hint
