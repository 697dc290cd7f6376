"""imgaudit benchmark: how a content audit compares with `docker save`, from one run.

Builds three images offline (--network none, from imgaudit-fixture/busybox-base:1) if they are
missing, and never rebuilds one that exists (names under --prefix, default imgaudit-bench):

  PREFIX/big:3       ~1.47 GB in 12 layers: 7 of 200 MiB from /dev/urandom (incompressible)
                     and 2 of 20,000 small files each (so per-header costs show)
  PREFIX/big-plus:3  big:3 and one more layer of 10 MiB: a fresh build on an audited base
  PREFIX/small:1     ~20 MB in 6 layers

then prints ratios, not pass/fail (each goal is printed beside its number), every audit once
for each way an engine's layers are read (--read storage, --read export):

  1. cold audit / docker save   the full content audit with an empty layer cache (a fresh
                                IMGAUDIT_CACHE_DIR) over `docker save IMAGE > /dev/null`, best of
                                N runs of each, alternating
  2. base cached / docker save  big-plus:3 audited with every layer of big:3 cached, over
                                `docker save big-plus:3 > /dev/null`
  3. warm audit / docker save   the same audit with every layer cached (no layer is read), and
                                where its time goes (--profile: cProfile of one warm audit)
  4. peak RSS, big vs small     the cold audit's own peak RSS on each image
  5. --no-content audit         a metadata-only audit of the big image

Each audit is `python -m auditor.cli IMAGE --format json` in a process of its own, whose peak RSS
and CPU time come from os.wait4, so they are that audit's alone. The export waits as long as
`docker save` for the engine (Docker 20.10 spends most of it before the first byte, packing the
image into a temporary folder); the storage read does not ask for the export at all. Other work
on the machine makes the numbers noisy: the load average is printed before and after.

Usage: benchmarks/run.py [--runs N] [--json] [--profile] [--prefix NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = os.environ.get("DOCKER") or ("/usr/bin/docker" if Path("/usr/bin/docker").exists()
                                      else "docker")
BASE = "imgaudit-fixture/busybox-base:1"
READS = ("storage", "export")

MIB = 1 << 20
BLOB_LAYERS = 7
BLOB_BYTES = 200 * MIB
SMALL_FILE_LAYERS = 2
SMALL_FILES = 20_000
NEW_LAYER_BYTES = 10 * MIB

GOAL_COLD = {"storage": 0.30, "export": 1.10}
GOAL_BASE_CACHED = 0.10
GOAL_WARM = 0.08
GOAL_RSS_MB = 50.0


@dataclass(frozen=True)
class Names:
    """The benchmark's images, under a prefix of the caller's choosing."""

    prefix: str

    @property
    def big(self) -> str:
        return f"{self.prefix}/big:3"

    @property
    def big_plus(self) -> str:
        return f"{self.prefix}/big-plus:3"

    @property
    def small(self) -> str:
        return f"{self.prefix}/small:1"


def _blob_step(index: int, size: int) -> str:
    return f"RUN head -c {size} /dev/urandom > /data/blob{index}.bin"


def _many_files_step(index: int, count: int) -> str:
    # 100 folders of count/100 files, a few bytes each (busybox sh: no fork per file)
    per_dir = count // 100
    return (
        f"RUN d=0; while [ $d -lt 100 ]; do mkdir -p /many{index}/d$d; f=0; "
        f"while [ $f -lt {per_dir} ]; do echo \"$d/$f\" > /many{index}/d$d/f$f; "
        "f=$((f+1)); done; d=$((d+1)); done"
    )


def big_dockerfile() -> str:
    steps = [f"FROM {BASE}", "RUN mkdir /data"]
    for i in range(BLOB_LAYERS):
        steps.append(_blob_step(i, BLOB_BYTES))
        if i in (2, 5):
            steps.append(_many_files_step(i, SMALL_FILES))
    steps.append('CMD ["sh"]')
    return "\n".join(steps) + "\n"


def big_plus_dockerfile(big: str) -> str:
    return f"FROM {big}\n{_blob_step(99, NEW_LAYER_BYTES)}\n"


def small_dockerfile() -> str:
    steps = [f"FROM {BASE}", "RUN mkdir /data", _blob_step(0, 10 * MIB), _blob_step(1, 8 * MIB),
             _many_files_step(0, 1000), 'CMD ["sh"]']
    return "\n".join(steps) + "\n"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def image_exists(ref: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", ref], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def ensure_image(ref: str, dockerfile: str) -> None:
    if image_exists(ref):
        return
    if not image_exists(BASE):
        log(f"bench: building {BASE} (fixtures/base/build-bases.sh busybox)")
        subprocess.run(["bash", str(ROOT / "fixtures/base/build-bases.sh"), "busybox"],
                       check=True)
    log(f"bench: building {ref} (offline, once; later runs reuse it)")
    with tempfile.TemporaryDirectory(prefix="imgaudit-bench-") as context:
        Path(context, "Dockerfile").write_text(dockerfile)
        # The classic builder: this engine's client has no buildx, and it keeps each RUN a layer.
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        built = subprocess.run(
            [DOCKER, "build", "--network", "none", "--no-cache", "-t", ref, context],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )
        if built.returncode != 0:
            sys.stderr.write(built.stdout)
            raise SystemExit(f"bench: building {ref} failed")


def image_facts(ref: str) -> tuple[int, int]:
    """(size in bytes, layer count) as the engine reports them."""
    out = subprocess.run(
        [DOCKER, "image", "inspect", "-f", "{{.Size}} {{len .RootFS.Layers}}", ref],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float  # user + system time of the process itself (docker save: the CLI's only)
    max_rss_kb: int
    status: int


def measure(cmd: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """Runs cmd with stdout to /dev/null; wall time and the peak RSS of that very process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode not in (0, 1):  # 1: the audit ran and a policy failed
        sys.stderr.write(errors.decode(errors="replace"))
        raise SystemExit(f"bench: {' '.join(cmd)} exited {proc.returncode}")
    return Sample(seconds, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), proc.returncode)


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def best_cpu(self) -> float:
        return min(s.cpu_seconds for s in self.samples)

    @property
    def median(self) -> float:
        ordered = sorted(s.seconds for s in self.samples)
        return ordered[len(ordered) // 2]

    @property
    def peak_rss_mb(self) -> float:
        return max(s.max_rss_kb for s in self.samples) / 1024


def audit_cmd(ref: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "auditor.cli", ref, "--format", "json", *extra]


def cache_env(cache_dir: Path) -> dict[str, str]:
    return dict(os.environ, IMGAUDIT_CACHE_DIR=str(cache_dir))


def run_benchmark(runs: int, workdir: Path, names: Names) -> dict[str, float]:
    load_before = round(os.getloadavg()[0], 2)
    big, plus, small = names.big, names.big_plus, names.small
    save_big, save_plus = Series("docker save big"), Series("docker save big-plus")
    cold = {r: Series(f"audit big, cold, {r}") for r in READS}
    based = {r: Series(f"big-plus, base cached, {r}") for r in READS}
    cold_small = {r: Series(f"audit small, cold, {r}") for r in READS}
    warm_big, meta_big = Series("audit big, warm cache"), Series("audit big, --no-content")

    # A first untimed pass of each warms the page cache and imports, so that run 1 is no outlier.
    measure([DOCKER, "save", big])
    measure(audit_cmd(small, "--no-cache"))
    warm_dir = workdir / "warm"
    measure(audit_cmd(big, "--read", "storage"), cache_env(warm_dir))  # every layer of big
    for i in range(runs):
        log(f"bench: round {i + 1}/{runs}")
        order = READS if i % 2 == 0 else tuple(reversed(READS))
        for read in order:
            cold[read].samples.append(
                measure(audit_cmd(big, "--read", read), cache_env(workdir / f"cold-{i}-{read}")))
            shutil.rmtree(workdir / f"cold-{i}-{read}", ignore_errors=True)
            if i % 2 == 0:
                save_big.samples.append(measure([DOCKER, "save", big]))
        for read in order:
            based_dir = workdir / f"based-{i}-{read}"
            shutil.copytree(warm_dir, based_dir)
            based[read].samples.append(
                measure(audit_cmd(plus, "--read", read), cache_env(based_dir)))
            shutil.rmtree(based_dir, ignore_errors=True)
        save_plus.samples.append(measure([DOCKER, "save", plus]))
        for read in READS:
            cold_small[read].samples.append(
                measure(audit_cmd(small, "--read", read), cache_env(workdir / f"small-{i}-{read}")))
        warm_big.samples.append(measure(audit_cmd(big), cache_env(warm_dir)))
        meta_big.samples.append(measure(audit_cmd(big, "--no-content", "--no-cache")))

    big_size, big_layers = image_facts(big)
    small_size, small_layers = image_facts(small)
    print_table((save_big, save_plus, *cold.values(), *based.values(), warm_big, meta_big,
                 *cold_small.values()), runs)
    result: dict[str, float] = {
        "big_image_mb": round(big_size / 1e6, 1),
        "big_image_layers": big_layers,
        "small_image_mb": round(small_size / 1e6, 1),
        "small_image_layers": small_layers,
        "docker_save_s": round(save_big.best, 3),
        "docker_save_big_plus_s": round(save_plus.best, 3),
    }
    for read in READS:
        result |= {
            f"audit_cold_{read}_s": round(cold[read].best, 3),
            f"audit_cold_{read}_ratio": round(cold[read].best / save_big.best, 3),
            f"audit_cold_{read}_goal": GOAL_COLD[read],
            f"audit_cold_{read}_cpu_s": round(cold[read].best_cpu, 3),
        }
    for read in READS:
        result |= {
            f"audit_base_cached_{read}_s": round(based[read].best, 3),
            f"audit_base_cached_{read}_ratio": round(based[read].best / save_plus.best, 3),
        }
    result["audit_base_cached_goal"] = GOAL_BASE_CACHED
    result |= {
        "audit_warm_s": round(warm_big.best, 3),
        "audit_warm_ratio": round(warm_big.best / save_big.best, 3),
        "audit_warm_goal": GOAL_WARM,
    }
    for read in READS:
        result |= {
            f"rss_big_{read}_mb": round(cold[read].peak_rss_mb, 1),
            f"rss_small_{read}_mb": round(cold_small[read].peak_rss_mb, 1),
            f"rss_delta_{read}_mb": round(cold[read].peak_rss_mb - cold_small[read].peak_rss_mb,
                                          1),
        }
    result |= {
        "rss_delta_goal_mb": GOAL_RSS_MB,
        "audit_no_content_s": round(meta_big.best, 3),
        "runs": runs,
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),  # on 2 cores, above ~0.5 the numbers are noisy
    }
    return result


def profile_warm(workdir: Path, names: Names, top: int = 25) -> None:
    """Where a warm audit's time goes: start-up (imports), cache decode (sources), the rules'
    pass (assess, rules); cProfile's cumulative top imgaudit functions of one warm audit."""
    out = workdir / "warm.prof"
    measure([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "auditor.cli", names.big,
             "--format", "json"], cache_env(workdir / "warm"))
    stats = pstats.Stats(str(out), stream=sys.stdout)
    print("where a warm audit's time goes (cProfile, cumulative):")
    stats.sort_stats("cumulative").print_stats(
        r"auditor/(cli/audit|pipeline|sources|assess|rules/[a-z]+)\.py", top)


def print_table(series: Sequence[Series], runs: int) -> None:
    print(f"{'measurement':<32} {'best s':>8} {'median s':>9} {'cpu s':>7} {'peak RSS MB':>12}"
          f"  (all {runs} runs, s)")
    for item in series:
        every = " ".join(f"{s.seconds:.2f}" for s in item.samples)
        print(f"{item.name:<32} {item.best:>8.3f} {item.median:>9.3f} {item.best_cpu:>7.2f} "
              f"{item.peak_rss_mb:>12.1f}  {every}")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of each measurement")
    parser.add_argument("--json", action="store_true", help="also print the summary as JSON")
    parser.add_argument("--profile", action="store_true",
                        help="also print where a warm audit's time goes (cProfile)")
    parser.add_argument("--prefix", default="imgaudit-bench",
                        help="the repository prefix of the benchmark's images")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    names = Names(args.prefix)
    ensure_image(names.small, small_dockerfile())
    ensure_image(names.big, big_dockerfile())
    ensure_image(names.big_plus, big_plus_dockerfile(names.big))
    with tempfile.TemporaryDirectory(prefix="imgaudit-bench-cache-") as workdir:
        result = run_benchmark(args.runs, Path(workdir), names)
        if args.profile:
            profile_warm(Path(workdir), names)
    for key, value in result.items():
        print(f"{key}: {value}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
