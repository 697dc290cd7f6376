"""The policy an audit runs under: thresholds, limits, rule selection, severities, weights,
waivers."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from auditor.model.findings import Severity, Waiver


class ReadPath(enum.Enum):
    """How an engine's image layers are read: from its storage when it can be (auto), or only
    one way."""

    AUTO = "auto"
    STORAGE = "storage"
    EXPORT = "export"


@dataclass(frozen=True, slots=True)
class Limits:
    max_size: int = 400 * 1000 * 1000
    max_own_size: int = 200 * 1000 * 1000
    max_base_size: int = 250 * 1000 * 1000
    max_own_layers: int = 10
    max_consecutive_runs: int = 1
    min_cache_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    fail_under: int | None = None
    fail_on: Severity | None = None
    ignore: frozenset[str] = frozenset()  # rule ids not run (shown as ignored)
    score_base: bool = False
    limits: Limits = Limits()
    enable: frozenset[str] = frozenset()  # when set, only these rule ids run
    severities: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    weights: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    waivers: tuple[Waiver, ...] = ()
    image_waivers: bool = True  # honour an image's own io.imgaudit.waive label
    fail_on_new: bool = False  # with a baseline: gate only on findings it does not hold
    read: ReadPath = ReadPath.AUTO  # how an engine's layers are read; never changes a result
