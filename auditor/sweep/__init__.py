"""Sweeps a whole registry into a results database: plans (plan.py), audits each manifest not yet
recorded once (run.py) and records each result as it finishes (ledger.py), so an interrupted
sweep resumes where it stopped."""

from __future__ import annotations

import time

from auditor.pipeline import Ruleset
from auditor.redact import mask_secrets
from auditor.sources.cache import LayerCache
from auditor.sources.registry.client import RegistryClient
from auditor.sources.registry.source import RegistrySource
from auditor.store.write import SweepStore
from auditor.sweep.ledger import Ledger
from auditor.sweep.options import NullProgress, Progress, SweepOptions, SweepSummary
from auditor.sweep.plan import Plan, prepare, repositories
from auditor.sweep.run import Runner

__all__ = ["sweep"]


def sweep(
    client: RegistryClient,
    store: SweepStore,
    options: SweepOptions,
    *,
    cache: LayerCache | None = None,
    source: RegistrySource | None = None,
    progress: Progress | None = None,
) -> SweepSummary:
    """Sweeps the registry `client` talks to into `store`: lists its repositories and tags,
    resolves each tag to its manifest, audits every manifest not yet in the store once (threads,
    per-image deadline) and records each result as it finishes.

    Raises ImgauditError when the sweep cannot run at all (the catalog cannot be read, bad
    options, the database cannot be written); a failing image is recorded, never raised.
    Ctrl-C (KeyboardInterrupt) is handled: the summary then says `interrupted`, and what was
    recorded stays recorded."""
    started = time.monotonic()
    progress = progress or NullProgress()
    rules = Ruleset.prepare(options.policy, options.content)
    ledger = Ledger(store, client.host, rules.version)
    runner = Runner(options, source or RegistrySource(client), cache or LayerCache.disabled(),
                    rules, ledger, progress)
    shard = options.shard
    # The catalog first: a registry that cannot be read leaves no sweep behind in the database.
    swept = repositories(client, options)
    sweep_id = store.begin_sweep(client.host, shard=str(shard or ""), options=mask_secrets({
        "repo": list(options.repositories), "tag": list(options.tags), "newest": options.newest,
        "content": options.content, "platform": options.platform,
        "all_platforms": options.all_platforms, "refresh": options.refresh,
        "ruleset": rules.version,
    }))
    plan = Plan()
    interrupted, unfinished = False, 0
    try:
        todo = prepare(client, options, ledger, progress, plan, swept)
        progress.stage("images", len(todo))
        interrupted, unfinished = runner.audit(todo)
    except KeyboardInterrupt:  # while tags were listed or resolved, or tags linked
        interrupted = True
        unfinished = plan.tags if plan.stage == "tags" else max(
            0, plan.images - ledger.counts["skipped"])
    if interrupted:
        # Requests still under way are left to their (daemon) threads; no new one reuses a
        # connection of this sweep.
        client.close()
    else:
        store.end_sweep(sweep_id)
    counts = ledger.counts
    return SweepSummary(
        registry=client.host, ruleset=rules.version, repositories=plan.repositories,
        tags=plan.tags, images=plan.images, audited=counts["audited"],
        skipped=counts["skipped"], failed=counts["failed"], not_images=counts["not_images"],
        linked=counts["linked"],
        other_shards=plan.other_shards, no_platform=plan.no_platform,
        elapsed=time.monotonic() - started, bytes_downloaded=client.bytes_downloaded,
        interrupted=interrupted, unfinished=unfinished, failures=tuple(ledger.failures),
        shard=str(shard or ""), stage=plan.stage,
    )
