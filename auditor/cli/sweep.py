"""`imgaudit sweep HOST[:PORT]`: options to a sweep, a progress bar on stderr, a summary, the exit
code (0 every image recorded as audited, or as no container image; 2 some could not be audited or
the sweep could not run; 130 interrupted)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from auditor.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    AllPlatformsOption,
    InsecureOption,
    PasswordStdinOption,
    PlatformOption,
    UsernameOption,
    app,
    fail,
    registry_options,
    say,
)
from auditor.units import human_size

if TYPE_CHECKING:
    from auditor.sources.cache import LayerCache
    from auditor.sweep.options import SweepSummary

EXIT_INTERRUPTED = 130
DEFAULT_DB = "imgaudit-sweep.db"
# Socket timeout of each request: a stalled read ends by then (and is retried), so a timed-out
# image's thread does not linger long after the sweep recorded it.
MAX_SOCKET_TIMEOUT = 30.0


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """Ctrl-C, or SIGTERM (a CI job cancelled, a Kubernetes pod deleted), stops a sweep: running
    audits get a moment to finish, everything recorded stays. A second one ends the process at
    once with exit 130, wherever it is (every result recorded so far is committed already)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if received:
            os.write(2, b"imgaudit: interrupted again: stopped at once\n")
            os._exit(EXIT_INTERRUPTED)
        received.append(signum)
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if not received:  # once interrupted, a further signal still means "stop at once"
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextlib.contextmanager
def _layer_cache(no_cache: bool) -> Iterator[LayerCache]:
    """The shared layer cache; with --no-cache a temporary one for this sweep alone (layers
    shared by its images are still read once)."""
    from auditor.sources.cache import LayerCache, default_cache_dir

    if not no_cache:
        yield LayerCache(default_cache_dir())
        return
    folder = tempfile.mkdtemp(prefix="imgaudit-sweep-cache-")
    try:
        yield LayerCache(Path(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _summarize(summary: SweepSummary, db: Path, command: str) -> None:
    where = f"{summary.registry}" + (f" (shard {summary.shard})" if summary.shard else "")
    resolving = summary.interrupted and summary.stage == "tags"
    if resolving:
        say(f"imgaudit: sweep of {where}: {summary.repositories} repositories, "
            f"{summary.tags} tags listed; interrupted before every tag was resolved")
    else:
        shards = f", {summary.other_shards} left to other shards" if summary.shard else ""
        platforms = (f"; {summary.no_platform} tag(s) have no image for the platform"
                     if summary.no_platform else "")
        say(
            f"imgaudit: sweep of {where}: {summary.repositories} repositories, {summary.tags} "
            f"tags, {summary.images} images{shards}{platforms}")
    done = summary.audited + summary.failed + summary.skipped + summary.not_images
    artifacts = (f", {summary.not_images} not container images (recorded as skipped)"
                 if summary.not_images else "")
    say(
        f"imgaudit: audited {summary.audited}, skipped {summary.skipped} (already in {db}), "
        f"failed {summary.failed}{artifacts}; {summary.linked} more tag(s) share those images; "
        f"{done} in {summary.elapsed:.1f} s ({summary.rate:.1f} images/s), "
        f"{human_size(summary.bytes_downloaded)} downloaded")
    for failure in summary.failures:
        fail(f"{failure.reference}: {failure.message}", failure.hint)
    if summary.failed > len(summary.failures):
        say(f"imgaudit: ... and {summary.failed - len(summary.failures)} more failures: "
            f"imgaudit report {db}")
    if resolving:
        say(f"imgaudit: interrupted before any image was audited. Resume with the same "
            f"command: {command}")
    elif summary.interrupted:
        say(
            f"imgaudit: interrupted with {summary.unfinished} image(s) not done; every finished "
            f"one is saved in {db}. Resume with the same command: {command}")
    else:
        say(f"imgaudit: results in {db}: imgaudit report {db} --format html -o "
            "sweep.html")


@app.command("sweep")
def sweep_command(
    host: Annotated[str, typer.Argument(
        metavar="HOST[:PORT]", help="The registry to sweep, e.g. registry.example.com or "
        "127.0.0.1:5000.", show_default=False)],
    db: Annotated[Path, typer.Option(
        "--db", help="The results database (created if missing; reused to resume).",
        dir_okay=False)] = Path(DEFAULT_DB),
    repo: Annotated[list[str] | None, typer.Option(
        "--repo", help="Only repositories matching GLOB (repeatable), e.g. 'team/*'.",
        metavar="GLOB")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="Only tags matching GLOB (repeatable), e.g. 'v*'.", metavar="GLOB")] = None,
    newest: Annotated[int | None, typer.Option(
        min=1, help="Per repository, only the N tags whose image was created last (reads each "
        "tag's config: one more manifest and config request per tag).", metavar="N")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=1, max=256, help="Images audited at once.")] = 8,
    timeout: Annotated[float, typer.Option(
        min=1.0, help="Seconds one image may take; past it the image is recorded as an error.",
        metavar="SECONDS")] = 300.0,
    retries: Annotated[int, typer.Option(
        min=0, max=20, help="Retries of a failed request (connection error, 5xx, 429), with "
        "backoff; 429 waits as Retry-After says.")] = 4,
    refresh: Annotated[bool, typer.Option(
        "--refresh", help="Audit again images the database already holds.")] = False,
    shard: Annotated[str | None, typer.Option(
        help="Sweep only shard K of N (by manifest digest); run every K for the whole registry "
        "and merge with `imgaudit report a.db b.db ...`.", metavar="K/N")] = None,
    shards: Annotated[int | None, typer.Option(
        min=1, help="Number of shards when JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) says "
        "which one this is.", metavar="N")] = None,
    metadata_only: Annotated[bool, typer.Option(
        "--metadata-only/--content", help="Read manifests and configs only (fast), or every "
        "layer too (checks on files; each unique layer read once).")] = False,
    platform: PlatformOption = None,
    all_platforms: AllPlatformsOption = False,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    insecure: InsecureOption = False,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Do not use the shared layer cache (a temporary one serves this "
        "sweep).")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress on stderr (the summary is still printed).")] = False,
) -> None:
    """Audit every image of a registry into a database; a rerun audits only what is new."""
    # Imported here, not at the top: every other command would pay for them at start-up.
    from auditor.cli.progress import progress_for
    from auditor.sources.registry.client import RegistryClient
    from auditor.sources.registry.reference import parse_host
    from auditor.store.write import SweepStore
    from auditor.sweep import sweep
    from auditor.sweep.options import Progress, SweepOptions
    from auditor.sweep.shard import shard_from_env

    try:
        registry = parse_host(host)
        access = registry_options(platform, all_platforms, username, password_stdin, insecure)
        options = SweepOptions(
            repositories=tuple(repo or ()), tags=tuple(tag or ()), newest=newest, jobs=jobs,
            timeout=timeout, refresh=refresh, shard=shard_from_env(shard, shards),
            content=not metadata_only, platform=platform, all_platforms=all_platforms,
        )
        client = RegistryClient(registry, credentials=access.credentials, insecure=insecure,
                                timeout=min(timeout, MAX_SOCKET_TIMEOUT), retries=retries)
        progress: Progress
        with SweepStore.open(db) as store, _layer_cache(no_cache) as cache, client, \
                progress_for(quiet) as progress, _interrupts():
            summary = sweep(client, store, options, cache=cache, progress=progress)
        _summarize(summary, db, shlex.join(["imgaudit", *sys.argv[1:]]))
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM) before the sweep began, or again while it ended (the sweep
        # answers the first one itself); typer would swallow it. Every recorded result is saved.
        say("imgaudit: interrupted")
        _end_interrupted()
    if summary.interrupted:
        _end_interrupted()
    raise typer.Exit(EXIT_ERROR if summary.failed else EXIT_OK)


def _end_interrupted() -> NoReturn:
    """Exit 130 now, with every result committed and the summary written: the interpreter's
    shutdown (which waits for stalled threads and then puts SIGINT back to its default) is
    skipped, so that a further Ctrl-C can neither delay the end nor kill it by a signal."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
