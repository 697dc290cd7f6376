"""A headless Chromium for the HTML report's browser test, installed by fixtures/browser.sh
when missing. Skipped when it cannot be had, unless IMGAUDIT_REQUIRE_ENGINE=1 (as `make test`
and CI set): then a missing browser is a failure."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, Browser, chromium

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    done = subprocess.run(["bash", str(ROOT / "fixtures" / "browser.sh")],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not Path(CHROMIUM).exists():
        message = f"no headless Chromium: {done.stderr.strip()[-500:]}"
        if os.environ.get("IMGAUDIT_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with chromium() as instance:
        yield instance
