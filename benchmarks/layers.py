"""imgaudit benchmark: layers that compress very well or hold very many entries, from one run.

Writes its archives on the fly in a temporary folder (nothing is pulled or built), then audits
each in a process of its own (`auditor.audit`, in process there), whose wall time, CPU time and
peak RSS come from os.wait4:

  1. gzip bomb, outer        `docker save | gzip`: one layer holding one 3 GiB file of zeros
  2. gzip bomb, layer blob   an OCI layout whose gzip layer blob holds the same file
  3. empty files             `docker save | gzip` of one layer of 25,000 and of 50,000 empty files
  4. a million entries       a plain `docker save` archive of one layer of 1,000,000 entries
  5. gzip speed              one realistic layer (this machine's Python standard library as a
                             tar) decompressed by zlib, and by isal and zlib-ng when installed

Each line prints the figure and its goal beside it. The machine is shared, so times are CPU
seconds (user + system) beside the wall time, and the load average is printed before and after:
the bombs print their CPU time over that of a plain `zcat FILE | wc -c` of the same bytes (1.0 =
at decompression speed), the empty files the CPU time of 50,000 over that of 25,000 (2.0 =
linear), the million entries their peak RSS, cold cache and warm, beside the 400 MB goal.

Usage: benchmarks/layers.py [--only NAME ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, cast

MIB = 1 << 20
GIB = 1 << 30
BOMB_BYTES = 3 * GIB
EMPTY_COUNTS = (25_000, 50_000)
MILLION = 1_000_000
GOAL_RSS_MB = 400.0
GOAL_BOMB_RSS_MB = 100.0
GOAL_BOMB_RATIO = 2.0  # audit CPU time over `zcat | wc -c`'s decompressing the same file


# ----------------------------------------------------------------------------- archive writers


def _header(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
    """One ustar header block (names up to 100 bytes, as every name here is)."""
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mode = size, kind, mode
    return info.tobuf(tarfile.USTAR_FORMAT)


def _end(written: int) -> bytes:
    """Two zero blocks, then padding to a 10 KiB record, as tar writes."""
    end = written + 1024
    return b"\0" * (1024 + (-end % 10240))


class _Sink:
    """Counts and hashes what is written through it (a layer's diff_id)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.size, self.hash = out, 0, hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.hash.update(data)
        self.size += len(data)


def _zero_file_layer(sink: _Sink, size: int) -> None:
    sink.write(_header("var/", kind=tarfile.DIRTYPE, mode=0o755))
    sink.write(_header("var/log/", kind=tarfile.DIRTYPE, mode=0o755))
    sink.write(_header("var/log/faillog", size))
    zeros = bytes(MIB)
    left = size
    while left:
        step = min(left, MIB)
        sink.write(zeros[:step])
        left -= step
    sink.write(b"\0" * (-size % 512))
    sink.write(_end(sink.size))


def _empty_files_layer(sink: _Sink, count: int) -> None:
    for number in range(count):
        if number % 1000 == 0:
            sink.write(_header(f"data/d{number // 1000}/", kind=tarfile.DIRTYPE, mode=0o755))
        sink.write(_header(f"data/d{number // 1000}/f{number}"))
    sink.write(_end(sink.size))


def _million_layer(sink: _Sink, count: int) -> None:
    """Directories of 1,000 entries each: files with a few bytes, some symlinks."""
    block = bytearray(512)
    for number in range(count):
        folder = f"usr/share/bench/d{number // 1000:04d}"
        if number % 1000 == 0:
            sink.write(_header(folder + "/", kind=tarfile.DIRTYPE, mode=0o755))
        if number % 10 == 9:
            info = tarfile.TarInfo(f"{folder}/link{number}")
            info.type, info.linkname = tarfile.SYMTYPE, f"file{number - 1}.txt"
            sink.write(info.tobuf(tarfile.USTAR_FORMAT))
            continue
        sink.write(_header(f"{folder}/file{number}.txt", 12))
        block[:12] = b"%011d\n" % number
        sink.write(bytes(block))
    sink.write(_end(sink.size))


def _config(diff_id: str) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "app", "Cmd": ["/app"], "WorkingDir": "/app"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "COPY . /app # buildkit"}],
    }).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _layer_file(folder: Path, fill: Callable[[_Sink], None]) -> tuple[Path, str]:
    path = folder / "layer.tar"
    with open(path, "wb") as out:
        sink = _Sink(out)
        fill(sink)
    return path, "sha256:" + sink.hash.hexdigest()


def _filler(fill: Callable[[_Sink, int], None], count: int) -> Callable[[_Sink], None]:
    return lambda sink: fill(sink, count)


def saved_archive(folder: Path, fill: Callable[[_Sink], None], *, gzipped: bool) -> Path:
    """A legacy `docker save` archive of one layer (gzip-compressed as a whole when asked)."""
    folder.mkdir(parents=True, exist_ok=True)
    layer, diff_id = _layer_file(folder, fill)
    config = _config(diff_id)
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["bench/layers:1"],
                            "Layers": ["l1/layer.tar"]}]).encode()
    path = folder / ("image.tar.gz" if gzipped else "image.tar")
    with open(path, "wb") as raw:
        out: IO[bytes] = raw
        if gzipped:
            out = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0))
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            _add(tar, config_name, config)
            tar.add(layer, arcname="l1/layer.tar")
            _add(tar, "manifest.json", manifest)
        out.close()
    layer.unlink()
    return path


def oci_layout(folder: Path, fill: Callable[[_Sink], None]) -> Path:
    """An OCI layout folder whose one layer blob is gzip-compressed."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    layer, diff_id = _layer_file(folder, fill)
    packed = folder / "layer.tar.gz"
    with open(layer, "rb") as source, open(packed, "wb") as raw, gzip.GzipFile(
        fileobj=raw, mode="wb", compresslevel=6, mtime=0
    ) as out:
        while chunk := source.read(MIB):
            out.write(chunk)
    layer.unlink()

    def store(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    digest = hashlib.sha256()
    with open(packed, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    layer_digest = f"sha256:{digest.hexdigest()}"
    size = packed.stat().st_size
    packed.rename(blobs / layer_digest[7:])
    config = _config(diff_id)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": store(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": size}],
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": store(manifest),
        "size": len(manifest), "annotations": {"io.containerd.image.name": "bench/layers:1"}}]}
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return folder


def stdlib_layer(folder: Path) -> Path:
    """A realistic layer: this machine's Python standard library as a gzip tar."""
    path = folder / "stdlib.tar.gz"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        tar.add(stdlib, arcname="usr/lib/python3", filter=lambda info: None
                if "site-packages" in info.name or "__pycache__" in info.name else info)
    return path


# ----------------------------------------------------------------------------- in a child


def _audit(target: str, cache: str) -> dict[str, Any]:
    from auditor import audit  # a child's only job

    report = audit([target], cache_dir=Path(cache))
    if report.failures:
        raise SystemExit(f"audit failed: {report.failures[0].message}")
    image = report.images[0]
    return {"score": image.score, "entries": len(image.image.files or {})}


def _inflate(path: str, make: Callable[[int], Any]) -> int:
    total = 0
    with open(path, "rb") as handle:
        inflate = make(31)
        while data := handle.read(MIB):
            while data:
                total += len(inflate.decompress(data, MIB))
                data = inflate.unconsumed_tail
                if inflate.eof:
                    data, inflate = inflate.unused_data + data, make(31)
    return total


def _library(name: str, path: str) -> dict[str, Any]:
    if name == "zlib":
        module: Any = zlib
    elif name == "isal":
        from isal import isal_zlib as module  # optional, measured when installed
    else:
        from zlib_ng import zlib_ng as module
    return {"bytes": _inflate(path, module.decompressobj)}


def child(argv: Sequence[str]) -> int:
    kind, *args = argv
    result = _audit(*args) if kind == "audit" else _library(*args)
    print(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------- the parent


def measure(*args: str, command: Sequence[str] = ()) -> dict[str, Any]:
    """One child run (or `command`'s, its output a number of bytes): its result, wall and CPU
    seconds (its own children's included), peak RSS in MB."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(command) or [sys.executable, __file__, "--child", *args],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"benchmark child {args[:2]} failed (status {status})")
    result = {"bytes": int(out)} if command else json.loads(out)
    return {**result, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _row(label: str, sample: dict[str, Any], goal: str = "") -> None:
    print(f"  {label:<34} {sample['seconds']:7.1f} s {sample['cpu']:7.1f} s CPU "
          f"{sample['rss_mb']:6.0f} MB   {goal}", flush=True)


def bombs(work: Path) -> None:
    log(f"writing the bomb archives ({BOMB_BYTES / GIB:.0f} GiB of zeros each) ...")
    outer = saved_archive(work / "bomb-outer", lambda s: _zero_file_layer(s, BOMB_BYTES),
                          gzipped=True)
    layout = oci_layout(work / "bomb-layout", lambda s: _zero_file_layer(s, BOMB_BYTES))
    blob = max((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    print(f"gzip bomb: {BOMB_BYTES / GIB:.0f} GiB of zeros, outer archive "
          f"{outer.stat().st_size / MIB:.1f} MiB, layer blob {blob.stat().st_size / MIB:.1f} MiB")
    for label, target, packed in (("outer (docker save | gzip)", f"docker-archive:{outer}",
                                   outer),
                                  ("layer blob (OCI layout)", f"oci:{layout}", blob)):
        zcat = measure(command=("sh", "-c", f"zcat < '{packed}' | wc -c"))
        sample = measure("audit", target, str(work / "cache"))
        _row("zcat | wc -c of the same file", zcat, f"{zcat['bytes'] / GIB:.2f} GiB")
        ratio = sample["cpu"] / zcat["cpu"]
        _row(label, sample, f"CPU {ratio:.2f}x zcat's (goal <= {GOAL_BOMB_RATIO}x), "
             f"peak RSS goal <= {GOAL_BOMB_RSS_MB:.0f} MB")


def empties(work: Path) -> None:
    print("empty files, one layer, docker save | gzip:")
    cpu = []
    for count in EMPTY_COUNTS:
        archive = saved_archive(work / f"empty-{count}", _filler(_empty_files_layer, count),
                                gzipped=True)
        sample = measure("audit", f"docker-archive:{archive}", str(work / "cache"))
        cpu.append(sample["cpu"])
        _row(f"{count:,} empty files", sample, f"{sample['entries']:,} paths")
    print(f"  CPU of {EMPTY_COUNTS[1]:,} over {EMPTY_COUNTS[0]:,}: {cpu[1] / cpu[0]:.2f} "
          f"(entries {EMPTY_COUNTS[1] / EMPTY_COUNTS[0]:.1f}x: that ratio is linear)")


def million(work: Path) -> None:
    log("writing the archive of a million entries ...")
    archive = saved_archive(work / "million", lambda s: _million_layer(s, MILLION),
                            gzipped=False)
    print(f"a million entries: plain archive {archive.stat().st_size / MIB:.0f} MiB")
    cache = work / "million-cache"
    shutil.rmtree(cache, ignore_errors=True)  # (a kept folder of an earlier run)
    for label in ("cold", "warm"):
        sample = measure("audit", f"docker-archive:{archive}", str(cache))
        _row(f"{MILLION:,} entries, {label} cache", sample,
             f"peak RSS {sample['rss_mb'] / GOAL_RSS_MB:.2f}x the goal of < {GOAL_RSS_MB:.0f} MB; "
             f"{sample['entries']:,} paths")


def speed(work: Path) -> None:
    layer = stdlib_layer(work)
    print(f"gzip speed: a {layer.stat().st_size / MIB:.0f} MiB layer (the Python standard "
          "library), best of 3:")
    base = 0.0
    for name in ("zlib", "isal", "zlib-ng"):
        samples = []
        for _ in range(3):
            try:
                samples.append(measure("library", name, str(layer)))
            except SystemExit:
                break
        if not samples:
            print(f"  {name:<10} not installed")
            continue
        best = min(s["cpu"] for s in samples)
        base = base or best
        mbs = samples[0]["bytes"] / MIB / best
        print(f"  {name:<10} {best:6.2f} s CPU  {mbs:7.0f} MiB/s  {best / base:.2f}x zlib")


CASES: dict[str, Callable[[Path], None]] = {
    "speed": speed, "empty": empties, "million": million, "bomb": bombs}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        return child(args[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--keep", type=Path, help="write the archives here and keep them")
    options = parser.parse_args(args)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ia-layers-bench-") as scratch:
        work = options.keep or Path(scratch)
        for name, case in CASES.items():
            if name in options.only:
                (work / name).mkdir(parents=True, exist_ok=True)
                case(work / name)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
