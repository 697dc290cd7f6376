"""Which shard of a sweep owns a key (a manifest digest, or an unresolved tag's name): `--shard
K/N`, IMGAUDIT_SHARD, or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.errors import UsageError


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based, as `--shard K/N` says it)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 1 <= self.index <= self.count):
            raise UsageError(f"shard {self.index}/{self.count} does not exist",
                             hint="write --shard K/N with 1 <= K <= N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise UsageError(f"{text!r} is not a shard",
                             hint="write --shard K/N, for example --shard 2/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        return shard_key(key) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_key(key: str) -> int:
    """A stable 64-bit number for a key: the same on every machine, Python version and run
    (unlike hash(), which is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def shard_from_env(shard: str | None, shards: int | None,
                   env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard this process sweeps: `--shard K/N`, else IMGAUDIT_SHARD=K/N, else a Kubernetes
    Indexed Job's JOB_COMPLETION_INDEX (0-based) with `--shards N` (or IMGAUDIT_SHARDS=N)."""
    env = os.environ if env is None else env
    if shard:
        return Shard.parse(shard)
    if explicit := env.get("IMGAUDIT_SHARD", "").strip():
        return Shard.parse(explicit)
    count = shards
    if count is None and (text := env.get("IMGAUDIT_SHARDS", "").strip()):
        if not text.isdigit():
            raise UsageError(f"IMGAUDIT_SHARDS={text!r} is not a number of shards",
                             hint="set IMGAUDIT_SHARDS to the Job's completions, e.g. 4")
        count = int(text)
    index = env.get("JOB_COMPLETION_INDEX", "").strip()
    if count is None:
        return None  # JOB_COMPLETION_INDEX alone does not say how many shards there are
    if not index:
        if count == 1:
            return None
        raise UsageError(f"--shards {count} needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job "
                         "sets it) to say which shard this is",
                         hint="use --shard K/N outside an Indexed Job")
    if not index.isdigit():
        raise UsageError(f"JOB_COMPLETION_INDEX={index!r} is not a number",
                         hint="run in a Kubernetes Indexed Job, or use --shard K/N")
    return Shard(int(index) + 1, count)
