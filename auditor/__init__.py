"""imgaudit: judge a built container image against ten Dockerfile practices.

    from auditor import audit
    report = audit(["myimage:tag"])
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import ImgauditError, UsageError
from auditor.model import AuditFailure, Baseline, ImageReport, Policy, Report

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
    baseline: Baseline | None = None,
    registry: RegistryOptions | None = None,
) -> Report:
    """Audit each target; one that cannot be read is a failure in the report, not an exception.
    With a baseline (auditor.baseline.read_baseline), each image is compared with its image there.

    docker://HOST/REPO[:TAG|@DIGEST] targets are read from the registry as `registry` says
    (platform, all platforms, credentials, --insecure); a list or index with all_platforms gives
    one image report per platform.

    Raises ImgauditError only for bad settings (an unknown rule id in the policy, fail_on_new
    without a baseline, a bad platform).
    """
    from auditor.assess import run
    from auditor.compare import compare
    from auditor.rules import prepare
    from auditor.sources import LayerCache, OpenRequest, Platform, Sources, Wanted
    from auditor.sources.cache import default_cache_dir
    from auditor.sources.registry import ClientPool, RegistryOptions

    policy = policy or Policy()
    if policy.fail_on_new and baseline is None:
        raise UsageError("--fail-on-new needs a baseline to tell new findings from known ones",
                         hint="pass --baseline OLD_REPORT.json, the JSON report of an earlier "
                         "build")
    rules, policy, files = prepare(policy)
    wanted = Wanted(files) if content else None
    cache = LayerCache(cache_dir or default_cache_dir()) if use_cache else LayerCache.disabled()
    registry = registry or RegistryOptions()
    platform = Platform.parse(registry.platform) if registry.platform else None
    request = OpenRequest(wanted, cache, base, platform, registry.all_platforms)
    clients = ClientPool(credentials=registry.credentials, insecure=registry.insecure)
    sources = Sources(clients)
    images: list[ImageReport] = []
    failures = []
    try:
        for target in targets:
            try:
                opened = sources.open(target, request)
            except ImgauditError as exc:
                failures.append(AuditFailure(target, exc.message, exc.hint))
                continue
            images.extend(run(image, rules, policy) for image in opened)
    finally:
        clients.close()
    compared = tuple(images) if baseline is None else compare(images, baseline)
    return Report(compared, tuple(failures), __version__)
