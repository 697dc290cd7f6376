"""imgaudit benchmark: sweeping a local registry of 200+ tags.

Starts a registry (Debian's docker-registry, fixtures/registry/build.sh) on 127.0.0.1, pushes a
handful of fixture images with `docker push` (repositories base/*), then through the registry API
makes variants of them under bench/svc-NN: the same layers (mounted across repositories), a config
of their own (a label and a created time, so a digest of their own), and finally alias tags that
point at a variant's digest. Then measures, printing ratios and each goal beside its number:

  (a) metadata-only sweep      `imgaudit sweep --metadata-only`, a fresh database each run, best
                               of N: tags/s and unique manifests/s over the wall time of the whole
                               command (process start included). Goal: 50 images/s or more.
  (b) against the naive script `docker pull HOST/REPO:TAG && imgaudit HOST/REPO:TAG` per tag, timed
                               on a sample of tags (running it on every tag takes minutes) and
                               extrapolated per tag to all of them. The pulls are its best case:
                               every layer is already in the engine, only manifest and config
                               travel. Goal: the sweep 20x faster or better.
  (c) content sweep            `imgaudit sweep` reading every layer, with an empty layer cache, run
                               in this process to read the client's byte counter: bytes downloaded
                               against the registry's unique layer (and config) bytes. Goal: equal.

Cleans up what it made: the registry container (its storage goes with it), and the tags it
pushed and pulled (an image is removed only when the benchmark pulled it; fixture images stay).

Usage: benchmarks/sweep.py [--variants N] [--aliases N] [--sample N] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOCKER = os.environ.get("DOCKER") or ("/usr/bin/docker" if Path("/usr/bin/docker").exists()
                                      else "docker")
# Busybox images sharing one base layer, and one on the 76 MB Python base (with a pip cache).
BASES = (("root-user", "buildkit"), ("secrets", "classic"), ("numeric-user", "buildkit"),
         ("user-hardcoded", "buildkit"), ("os-cache", "buildkit"), ("npm-cache", "buildkit"),
         ("pip-root-cache", "buildkit"))
REPOSITORIES = 10
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join((MANIFEST_TYPE, "application/vnd.oci.image.manifest.v1+json"))

GOAL_RATE = 50.0
GOAL_NAIVE_RATIO = 20.0
GOAL_BYTES_RATIO = 1.0


def log(text: str) -> None:
    print(f"bench-sweep: {text}", file=sys.stderr, flush=True)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"bench-sweep: docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done


# ----------------------------------------------------------------------------- the registry


class Registry:
    """The few registry API calls the benchmark needs."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.url = f"http://{host}"
        self.session = requests.Session()

    def _check(self, response: requests.Response, *ok: int) -> requests.Response:
        if response.status_code not in ok:
            raise SystemExit(f"bench-sweep: {response.request.method} {response.url}: "
                             f"{response.status_code} {response.text[:200]}")
        return response

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        response = self._check(self.session.get(
            f"{self.url}/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT},
            timeout=60), 200)
        return response.content, response.headers["Docker-Content-Digest"]

    def blob(self, repository: str, digest: str) -> bytes:
        return self._check(self.session.get(f"{self.url}/v2/{repository}/blobs/{digest}",
                                            timeout=60), 200).content

    def mount(self, repository: str, digest: str, source: str) -> None:
        self._check(self.session.post(
            f"{self.url}/v2/{repository}/blobs/uploads/",
            params={"mount": digest, "from": source}, timeout=60), 201)

    def upload(self, repository: str, data: bytes, digest: str) -> None:
        start = self._check(self.session.post(f"{self.url}/v2/{repository}/blobs/uploads/",
                                              timeout=60), 202)
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        self._check(self.session.put(location, params={"digest": digest}, data=data,
                                     headers={"Content-Type": "application/octet-stream"},
                                     timeout=60), 201)

    def put_manifest(self, repository: str, tag: str, body: bytes) -> str:
        response = self._check(self.session.put(
            f"{self.url}/v2/{repository}/manifests/{tag}", data=body,
            headers={"Content-Type": MANIFEST_TYPE}, timeout=60), 201)
        return response.headers["Docker-Content-Digest"]


@contextmanager
def running_registry() -> Iterator[Registry]:
    image = subprocess.run(["bash", str(ROOT / "fixtures/registry/build.sh")], capture_output=True,
                           text=True, check=False)
    if image.returncode != 0:
        raise SystemExit(f"bench-sweep: fixtures/registry/build.sh failed:\n{image.stderr}")
    name = f"imgaudit-bench-sweep-registry-{os.getpid()}"
    docker("run", "--detach", "--name", name, "--publish", "127.0.0.1::5000",
           "--label", "io.imgaudit.bench=sweep", image.stdout.split()[-1])
    try:
        port = docker("port", name, "5000/tcp").stdout.split()[0].rsplit(":", 1)[1]
        registry = Registry(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{registry.url}/v2/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("bench-sweep: the registry did not answer in 30 s")
            time.sleep(0.1)
        yield registry
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


# ----------------------------------------------------------------------------- contents


@dataclass
class Contents:
    tags: list[tuple[str, str]] = field(default_factory=list)  # (repository, tag)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # digest -> manifest

    @property
    def layer_bytes(self) -> int:
        sizes = {layer["digest"]: layer["size"] for m in self.manifests.values()
                 for layer in m["layers"]}
        return sum(sizes.values())

    @property
    def layers(self) -> int:
        return len({layer["digest"] for m in self.manifests.values() for layer in m["layers"]})

    @property
    def config_bytes(self) -> int:
        sizes = {m["config"]["digest"]: m["config"]["size"] for m in self.manifests.values()}
        return sum(sizes.values())


def fill(registry: Registry, variants: int, aliases: int) -> Contents:
    done = subprocess.run([sys.executable, str(ROOT / "fixtures/build.py"),
                           *sorted({name for name, _ in BASES})],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench-sweep: fixtures/build.py failed:\n{done.stderr}")
    contents = Contents()
    bases: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (repository, manifest, config)
    for name, builder in BASES:
        repository, target = f"base/{name}", f"{registry.host}/base/{name}:{builder}"
        docker("tag", f"imgaudit-fixture/{name}:{builder}", target)
        try:
            docker("push", target)
        finally:
            docker("rmi", target, check=False)  # only the tag: the fixture image stays
        body, digest = registry.manifest(repository, builder)
        manifest = json.loads(body)
        config = json.loads(registry.blob(repository, manifest["config"]["digest"]))
        bases.append((repository, manifest, config))
        contents.tags.append((repository, builder))
        contents.manifests[digest] = manifest
    log(f"pushed {len(BASES)} fixture images; making {variants} variants and {aliases} aliases")
    mounted: set[tuple[str, str]] = set()
    made: list[tuple[str, str, bytes]] = []
    for i in range(variants):
        source, manifest, config = bases[i % len(bases)]
        repository = f"bench/svc-{i % REPOSITORIES:02d}"
        tag = f"1.{i // REPOSITORIES}"
        config = json.loads(json.dumps(config))
        config.setdefault("config", {}).setdefault("Labels", {})
        config["config"]["Labels"] = dict(config["config"]["Labels"] or {},
                                          **{"io.imgaudit.bench.variant": str(i)})
        config["created"] = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
        data = json.dumps(config, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        registry.upload(repository, data, digest)
        for layer in manifest["layers"]:
            if (repository, layer["digest"]) not in mounted:
                registry.mount(repository, layer["digest"], source)
                mounted.add((repository, layer["digest"]))
        document = dict(manifest, config=dict(manifest["config"], digest=digest, size=len(data)))
        body = json.dumps(document, indent=3).encode()
        pushed = registry.put_manifest(repository, tag, body)
        contents.tags.append((repository, tag))
        contents.manifests[pushed] = document
        made.append((repository, tag, body))
    for j in range(aliases):
        repository, tag, body = made[(j * 7) % len(made)]
        alias = f"stable-{j}"
        registry.put_manifest(repository, alias, body)
        contents.tags.append((repository, alias))
    return contents


# ----------------------------------------------------------------------------- measurements


def imgaudit(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Runs `python -m auditor.cli ARGS`; (wall seconds, stderr). Exits on an unexpected code."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "auditor.cli", *args], capture_output=True,
                          text=True, env=env, check=False, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench-sweep: imgaudit {' '.join(args)} exited {done.returncode}:\n"
                         f"{done.stderr}")
    return seconds, done.stderr


def summary_counts(stderr: str) -> dict[str, int]:
    line = next(line for line in stderr.splitlines() if line.startswith("imgaudit: audited"))
    return {key: int(value) for key, value in re.findall(r"(audited|skipped|failed) (\d+)",
                                                         line)}


def metadata_sweeps(registry: Registry, contents: Contents, runs: int, work: Path
                    ) -> dict[str, Any]:
    best = float("inf")
    counts: dict[str, int] = {}
    for run in range(runs):
        db = work / f"meta-{run}.db"
        seconds, stderr = imgaudit("sweep", registry.host, "--db", str(db), "--metadata-only",
                                   "--quiet")
        counts = summary_counts(stderr)
        if counts["audited"] != len(contents.manifests) or counts["failed"]:
            raise SystemExit(f"bench-sweep: the sweep audited {counts}, expected "
                             f"{len(contents.manifests)} manifests:\n{stderr}")
        best = min(best, seconds)
        log(f"metadata sweep {run + 1}/{runs}: {seconds:.2f} s")
    resumed, stderr = imgaudit("sweep", registry.host, "--db", str(work / "meta-0.db"),
                               "--metadata-only", "--quiet")
    skipped = summary_counts(stderr)["skipped"]
    return {"seconds": best, "tags_per_s": len(contents.tags) / best,
            "images_per_s": len(contents.manifests) / best, "rerun_seconds": resumed,
            "rerun_skipped": skipped}


def naive(registry: Registry, contents: Contents, sample: int, work: Path) -> dict[str, Any]:
    """`docker pull` then `imgaudit` per tag, on `sample` tags spread over the registry."""
    step = max(1, len(contents.tags) // sample)
    chosen = contents.tags[::step][:sample]
    env = dict(os.environ, IMGAUDIT_CACHE_DIR=str(work / "naive-cache"))
    times = []
    for repository, tag in chosen:
        reference = f"{registry.host}/{repository}:{tag}"
        present = docker("image", "inspect", "--format", "{{.Id}}", reference, check=False)
        started = time.perf_counter()
        docker("pull", "--quiet", reference)
        audit_seconds, _ = imgaudit(reference, "--format", "json", env=env)
        times.append(time.perf_counter() - started)
        if present.returncode != 0:
            docker("rmi", reference, check=False)  # the tag (and the image, if only it held it)
        log(f"naive: {reference}: {times[-1]:.2f} s (imgaudit {audit_seconds:.2f} s)")
    per_tag = sum(times) / len(times)
    return {"sampled": len(chosen), "per_tag_s": per_tag,
            "estimated_all_s": per_tag * len(contents.tags)}


def content_sweep(registry: Registry, contents: Contents, work: Path) -> dict[str, Any]:
    from auditor.sources.cache import LayerCache
    from auditor.sources.registry.client import RegistryClient
    from auditor.store.write import SweepStore
    from auditor.sweep import sweep
    from auditor.sweep.options import SweepOptions

    client = RegistryClient(registry.host)
    started = time.perf_counter()
    with SweepStore.open(work / "content.db") as store, client:
        summary = sweep(client, store, SweepOptions(content=True),
                        cache=LayerCache(work / "content-cache"))
    seconds = time.perf_counter() - started
    if summary.audited != len(contents.manifests) or summary.failed:
        raise SystemExit(f"bench-sweep: the content sweep audited {summary.audited}, failed "
                         f"{summary.failed}: {summary.failures}")
    layers = client.bytes_downloaded - contents.config_bytes
    return {"seconds": seconds, "images_per_s": len(contents.manifests) / seconds,
            "bytes_downloaded": client.bytes_downloaded, "layer_bytes_downloaded": layers,
            "blobs_downloaded": client.blobs_downloaded,
            "unique_layer_bytes": contents.layer_bytes, "unique_layers": contents.layers,
            "unique_config_bytes": contents.config_bytes,
            "naive_layer_bytes": sum(layer["size"] for m in contents.manifests.values()
                                     for layer in m["layers"])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=160,
                        help="variants made through the API (each a digest of its own)")
    parser.add_argument("--aliases", type=int, default=60,
                        help="extra tags pointing at a variant's digest")
    parser.add_argument("--sample", type=int, default=12,
                        help="tags the naive script is timed on")
    parser.add_argument("--runs", type=int, default=3, help="metadata-only sweeps (best taken)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    load_before = round(os.getloadavg()[0], 2)
    with running_registry() as registry, \
            tempfile.TemporaryDirectory(prefix="imgaudit-bench-sweep-") as scratch:
        work = Path(scratch)
        contents = fill(registry, args.variants, args.aliases)
        log(f"registry {registry.host}: {len(contents.tags)} tags, {len(contents.manifests)} "
            f"unique manifests, {contents.layers} unique layers")
        meta = metadata_sweeps(registry, contents, args.runs, work)
        content = content_sweep(registry, contents, work)
        slow = naive(registry, contents, args.sample, work)
    result = {
        "tags": len(contents.tags),
        "unique_manifests": len(contents.manifests),
        "unique_layers": contents.layers,
        "metadata_sweep_s": round(meta["seconds"], 2),
        "metadata_tags_per_s": round(meta["tags_per_s"], 1),
        "metadata_images_per_s": round(meta["images_per_s"], 1),
        "metadata_images_per_s_goal": GOAL_RATE,
        "rerun_all_skipped_s": round(meta["rerun_seconds"], 2),
        "naive_sampled_tags": slow["sampled"],
        "naive_per_tag_s": round(slow["per_tag_s"], 2),
        "naive_all_tags_estimated_s": round(slow["estimated_all_s"], 1),
        "naive_over_metadata_sweep": round(slow["estimated_all_s"] / meta["seconds"], 1),
        "naive_over_content_sweep": round(slow["estimated_all_s"] / content["seconds"], 1),
        "naive_ratio_goal": GOAL_NAIVE_RATIO,
        "content_sweep_s": round(content["seconds"], 2),
        "content_images_per_s": round(content["images_per_s"], 1),
        "content_bytes_downloaded": content["bytes_downloaded"],
        "content_layer_bytes_downloaded": content["layer_bytes_downloaded"],
        "registry_unique_layer_bytes": content["unique_layer_bytes"],
        "registry_unique_config_bytes": content["unique_config_bytes"],
        "layer_bytes_if_each_image_pulled_its_own": content["naive_layer_bytes"],
        "downloaded_over_unique_layer_bytes": round(
            content["layer_bytes_downloaded"] / content["unique_layer_bytes"], 4),
        "downloaded_over_unique_goal": GOAL_BYTES_RATIO,
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
    }
    print(f"registry: {result['tags']} tags -> {result['unique_manifests']} unique manifests "
          f"({result['tags'] - result['unique_manifests']} tags alias another's digest), "
          f"{result['unique_layers']} unique layers")
    print(f"(a) metadata-only sweep: {result['metadata_sweep_s']} s for every tag (best of "
          f"{args.runs}, process start included): {result['metadata_images_per_s']} unique "
          f"images/s, {result['metadata_tags_per_s']} tags/s (goal >= {GOAL_RATE:g} images/s); "
          f"a rerun with everything already audited: {result['rerun_all_skipped_s']} s")
    print(f"(b) naive `docker pull && imgaudit`: {result['naive_per_tag_s']} s per tag, measured "
          f"on {result['naive_sampled_tags']} tags and extrapolated to {result['tags']}: "
          f"{result['naive_all_tags_estimated_s']} s; the metadata-only sweep is "
          f"{result['naive_over_metadata_sweep']}x faster, the content sweep "
          f"{result['naive_over_content_sweep']}x (goal >= {GOAL_NAIVE_RATIO:g}x)")
    print(f"(c) content sweep, empty layer cache: {result['content_sweep_s']} s "
          f"({result['content_images_per_s']} images/s); layer bytes downloaded "
          f"{result['content_layer_bytes_downloaded']:,} vs the registry's unique layer bytes "
          f"{result['registry_unique_layer_bytes']:,}: ratio "
          f"{result['downloaded_over_unique_layer_bytes']} (goal {GOAL_BYTES_RATIO:g}); "
          f"plus {result['registry_unique_config_bytes']:,} config bytes; pulling each image's "
          f"layers would be {result['layer_bytes_if_each_image_pulled_its_own']:,} bytes")
    print(f"load average before {load_before}, after {result['load_after']} (2 cores: above ~0.5 "
          "the figures are noisy)")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
