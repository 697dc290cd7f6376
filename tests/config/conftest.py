"""The repository every policy-file test writes its files into."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.policy_files import make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)
