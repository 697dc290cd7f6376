"""imgaudit: judge a built container image against ten Dockerfile practices.

    from auditor import audit
    report = audit(["myimage:tag"])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.compare import compare
from auditor.dockerfile import DockerfileChoice
from auditor.errors import UsageError
from auditor.model.policy import Policy
from auditor.model.report import AuditFailure, Baseline, ImageReport, Report
from auditor.pipeline import Auditor
from auditor.version import __version__

if TYPE_CHECKING:
    from auditor.sources.registry import RegistryOptions

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
    dockerfiles: Sequence[DockerfileChoice | None] = (),
) -> Report:
    """Audit each target; one that cannot be read is a failure in the report, not an exception.
    With a baseline (auditor.baseline.read_baseline), each image is compared with its image there.

    docker://HOST/REPO[:TAG|@DIGEST] targets are read from the registry as `registry` says
    (platform, all platforms, credentials, --insecure); a list or index with all_platforms gives
    one image report per platform.

    `dockerfiles`, one per target (or none at all), is the Dockerfile to locate that target's
    findings on (auditor.dockerfile.open_dockerfile, find_dockerfile): each image is matched
    with it on its own, and each report says what came of it (ImageReport.dockerfile).

    Raises ImgauditError only for bad settings (an unknown rule id in the policy, fail_on_new
    without a baseline, a bad platform).
    """
    policy = policy or Policy()
    if policy.fail_on_new and baseline is None:
        raise UsageError("--fail-on-new needs a baseline to tell new findings from known ones",
                         hint="pass --baseline OLD_REPORT.json, the JSON report of an earlier "
                         "build")
    images: list[ImageReport] = []
    failures: list[AuditFailure] = []
    with Auditor(policy, content=content, base=base, cache_dir=cache_dir, use_cache=use_cache,
                 registry=registry) as auditor:
        listed = list(targets)
        choices = list(dockerfiles) or [None] * len(listed)
        if len(choices) != len(listed):
            raise ValueError(f"{len(choices)} dockerfiles for {len(listed)} targets")
        for target, dockerfile in zip(listed, choices, strict=True):
            match auditor.audit(target, dockerfile):
                case AuditFailure() as failure:
                    failures.append(failure)
                case reports:
                    images.extend(reports)
    compared = tuple(images) if baseline is None else compare(images, baseline)
    return Report(compared, tuple(failures), __version__)
