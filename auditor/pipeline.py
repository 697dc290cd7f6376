"""The audit pipeline, assembled once: rules prepared under a policy, then for each target
source -> Image -> rules -> score -> ImageReport. Used by `auditor.audit()` and by the sweep."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from auditor.assess import run
from auditor.dockerfile import DockerfileChoice, match_choice
from auditor.errors import ImgauditError
from auditor.model.image import Image
from auditor.model.policy import Policy
from auditor.model.report import AuditFailure, ImageReport
from auditor.rules import ALL_RULES, PRACTICES, Rule, prepare
from auditor.scoring import CRITICAL_CAP, GRADES, SEVERITY_SHARE
from auditor.version import __version__

if TYPE_CHECKING:
    from auditor.sources import Wanted
    from auditor.sources.registry import RegistryOptions

__all__ = ["Auditor", "Ruleset", "ruleset_version"]

# Policy fields that only decide the exit code, or how layers are read, not the result an audit
# stores.
_GATES = frozenset({"fail_under", "fail_on", "fail_on_new", "read"})


def _plain(value: object) -> object:
    """A value as JSON can hold it, stably ordered, so equal settings hash equally."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return sorted([str(k), _plain(v)] for k, v in value.items())
    if isinstance(value, frozenset | set):
        return sorted(str(_plain(v)) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def ruleset_version(policy: Policy | None = None, content: bool = True) -> str:
    """A stable short hash of everything that decides an audit's result: the tool version,
    every rule's id, practice and severity, the practice weights and scoring shares, and (for
    a sweep) the policy and whether layer contents are read. Equal versions, equal results."""
    policy = policy or Policy()
    settings = {
        name: _plain(getattr(policy, name))
        for name in sorted(f.name for f in dataclasses.fields(policy))
        if name not in _GATES
    }
    document = {
        "tool": __version__,
        "rules": [[r.info.id, r.info.practice, r.info.severity.label] for r in ALL_RULES],
        "practices": [[p.id, p.name, p.weight] for p in PRACTICES],
        "shares": sorted([s.label, share] for s, share in SEVERITY_SHARE.items()),
        "grades": [list(g) for g in GRADES],
        "critical_cap": CRITICAL_CAP,
        "policy": settings,
        "content": content,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return "rs1-" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Ruleset:
    """The rules under one policy, prepared once: every rule, the policy with its selection
    resolved, the files the rules that run read from layers (None: layer contents are not
    read), and the version that names their results."""

    rules: tuple[Rule, ...]
    policy: Policy
    wanted: Wanted | None
    version: str

    @classmethod
    def prepare(cls, policy: Policy, content: bool = True) -> Ruleset:
        """Raises UsageError for an unknown rule id in the policy."""
        # The sources package brings the docker SDK and requests (~0.2 s): imported once an
        # audit is prepared, not by every command that imports the package.
        from auditor.sources import Wanted

        rules, resolved, files = prepare(policy)
        wanted = Wanted(files) if content else None
        return cls(rules, resolved, wanted, ruleset_version(resolved, content))

    def judge(self, image: Image, dockerfile: DockerfileChoice | None = None) -> ImageReport:
        """The image's report: each rule run once, the results scored; with a Dockerfile, its
        findings located on its lines when it matches the image's history (match_choice)."""
        if dockerfile is None:
            return run(image, self.rules, self.policy)
        mapping, matched = match_choice(dockerfile, image)
        return dataclasses.replace(run(image, self.rules, self.policy, mapping=mapping),
                                   dockerfile=matched)


class Auditor:
    """Audits targets under one policy: the rules prepared, and the layer cache, engine and
    registry clients made, once for every target. Close it (or use it as a context manager)
    to close the registry clients."""

    def __init__(
        self,
        policy: Policy,
        *,
        content: bool = True,
        base: str | None = None,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        registry: RegistryOptions | None = None,
    ) -> None:
        """Raises ImgauditError for bad settings: an unknown rule id in the policy, a bad
        platform."""
        self.ruleset = Ruleset.prepare(policy, content)
        # Imported here for start-up speed, as in Ruleset.prepare.
        from auditor.sources import LayerCache, OpenRequest, Platform, Sources
        from auditor.sources.cache import default_cache_dir
        from auditor.sources.registry import ClientPool, RegistryOptions

        cache = LayerCache(cache_dir or default_cache_dir()) if use_cache else LayerCache.disabled()
        registry = registry or RegistryOptions()
        platform = Platform.parse(registry.platform) if registry.platform else None
        self._request = OpenRequest(self.ruleset.wanted, cache, base, platform,
                                    registry.all_platforms, policy.read)
        self._clients = ClientPool(credentials=registry.credentials, insecure=registry.insecure)
        self._sources = Sources(self._clients)

    def audit(self, target: str, dockerfile: DockerfileChoice | None = None
              ) -> list[ImageReport] | AuditFailure:
        """The target's reports (one per platform of a registry index with all_platforms), or
        why it cannot be read; with a Dockerfile, each image matched with it on its own."""
        try:
            images = self._sources.open(target, self._request)
        except ImgauditError as exc:
            return AuditFailure(target, exc.message, exc.hint)
        return [self.ruleset.judge(image, dockerfile) for image in images]

    def close(self) -> None:
        self._clients.close()

    def __enter__(self) -> Auditor:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
