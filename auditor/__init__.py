"""imgaudit: judge a built container image against ten Dockerfile practices.

    from auditor import audit
    report = audit(["myimage:tag"])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import ImgauditError, UsageError
from auditor.model import AuditFailure, ImageReport, Policy, Report

if TYPE_CHECKING:
    from auditor.sources.registry import RegistryOptions

try:
    __version__ = version("imgaudit")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = ["Policy", "Report", "__version__", "audit"]


def audit(
    targets: Iterable[str],
    *,
    policy: Policy | None = None,
    content: bool = True,
    base: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    registry: RegistryOptions | None = None,
) -> Report:
    """Audit each target; one that cannot be read is a failure in the report, not an exception.

    docker://HOST/REPO[:TAG|@DIGEST] targets are read from the registry as `registry` says
    (platform, all platforms, credentials, --insecure); a list or index with all_platforms gives
    one image report per platform.
    Raises ImgauditError only for bad settings (an unknown rule id in the policy, a bad platform).
    """
    from auditor.assess import run
    from auditor.rules import select, wanted_files
    from auditor.sources import DaemonSource, LayerCache, Wanted, open_images
    from auditor.sources.cache import default_cache_dir
    from auditor.sources.registry import ClientPool, Platform, RegistryOptions, RegistrySource

    policy = policy or Policy()
    rules, ignored = select(policy.ignore, policy.enable)
    unknown = sorted(set(policy.severities) - {r.info.id for r in rules})
    if unknown:
        raise UsageError(f"unknown rule {unknown[0]} in a severity override",
                         hint="`imgaudit rules` lists every rule id")
    policy = dataclasses.replace(policy, ignore=ignored, enable=frozenset())
    active = [r for r in rules if r.info.id not in ignored]
    wanted = Wanted(wanted_files(active)) if content else None
    cache = LayerCache(cache_dir or default_cache_dir()) if use_cache else LayerCache.disabled()
    daemon = DaemonSource()
    registry = registry or RegistryOptions()
    platform = Platform.parse(registry.platform) if registry.platform else None
    clients = ClientPool(credentials=registry.credentials, insecure=registry.insecure)
    source = RegistrySource(clients, daemon=daemon)
    images: list[ImageReport] = []
    failures = []
    try:
        for target in targets:
            try:
                opened = open_images(target, wanted, cache=cache, base=base, daemon=daemon,
                                     registry=source, platform=platform,
                                     all_platforms=registry.all_platforms)
            except ImgauditError as exc:
                failures.append(AuditFailure(target, exc.message, exc.hint))
                continue
            images.extend(run(image, rules, policy) for image in opened)
    finally:
        clients.close()
    return Report(tuple(images), tuple(failures), __version__)
