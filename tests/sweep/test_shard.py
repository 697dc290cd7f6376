"""Shards: `--shard K/N` and the environment parsed, and every key owned by exactly one shard,
evenly."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from auditor.errors import UsageError
from auditor.sweep.shard import Shard, shard_from_env


def test_shard_parsing_and_the_environment() -> None:
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("0/2", "3/2", "1/0", "a/b", "2"):
        with pytest.raises(UsageError):
            Shard.parse(bad)
    assert shard_from_env(None, None, {}) is None
    assert shard_from_env("1/3", None, {"JOB_COMPLETION_INDEX": "2"}) == Shard(1, 3)
    assert shard_from_env(None, 3, {"JOB_COMPLETION_INDEX": "2"}) == Shard(3, 3)
    assert shard_from_env(None, None, {"JOB_COMPLETION_INDEX": "0", "IMGAUDIT_SHARDS": "2"}
                          ) == Shard(1, 2)
    assert shard_from_env(None, None, {"IMGAUDIT_SHARD": "2/2"}) == Shard(2, 2)
    assert shard_from_env(None, None, {"JOB_COMPLETION_INDEX": "1"}) is None
    with pytest.raises(UsageError):
        shard_from_env(None, 2, {})
    with pytest.raises(UsageError):
        shard_from_env(None, 2, {"JOB_COMPLETION_INDEX": "2"})


def test_shards_cover_every_key_once_and_balance() -> None:
    keys = [f"sha256:{os.urandom(32).hex()}" for _ in range(4000)]
    shards = [Shard(k, 4) for k in range(1, 5)]
    owners = [[s for s in shards if s.owns(key)] for key in keys]
    assert all(len(o) == 1 for o in owners)
    sizes = Counter(o[0].index for o in owners)
    assert min(sizes.values()) > 850, sizes  # 1000 expected each; 850 is 5 sigma away
