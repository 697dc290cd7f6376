"""Shared test fixtures: a real Docker engine, the fixture images built with both builders, and
their `docker save` archives. Engine tests skip when no engine answers, unless
IMGAUDIT_REQUIRE_ENGINE=1 (as `make test` and CI set), where they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.archives import SavedArchives
from tests.support.paths import ROOT

# real registries, their contents and the fault proxy, for the registry source and sweeps; a
# real podman service
pytest_plugins = ["tests.support.registry_env", "tests.support.podman"]


def pytest_configure(config: pytest.Config) -> None:
    # Tests never share the user's layer cache: theirs lives in .pytest_cache, kept between
    # sessions; tests about cold and warm caches make their own.
    cache = ROOT / ".pytest_cache" / "imgaudit-layer-cache"
    os.environ["IMGAUDIT_CACHE_DIR"] = str(cache)
    for key, value in {
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
        "TC_HOST": "127.0.0.1",
    }.items():
        os.environ.setdefault(key, value)


def _engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=10).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def engine() -> None:
    if _engine_answers():
        return
    message = "no Docker engine answers (run `bash fixtures/engine.sh`)"
    if os.environ.get("IMGAUDIT_REQUIRE_ENGINE") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def fixture_images(engine: None) -> list[str]:
    """Builds (or finds up to date) every fixture image with both builders; returns the tags."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "fixtures" / "build.py")],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"fixture build failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.split()


@pytest.fixture(scope="session")
def saved_archives(fixture_images: list[str]) -> SavedArchives:
    """`docker save` archives of the fixture tags, by tag: each saved when first looked up, or
    found in .pytest_cache when an earlier session saved that image."""
    return SavedArchives(fixture_images)


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ, IMGAUDIT_CACHE_DIR=str(tmp_path / "cache"), NO_COLOR="1")
    yield env
