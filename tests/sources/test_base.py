"""Finding an image's base, against the real engine and the fixture images: the closest local
base wins, a sibling does not pass for one, --base must begin the image's layers, and one finder
asks the engine about each local image once, however many images a run audits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from auditor.errors import BaseImageError, DaemonUnavailable, ImageNotFound
from auditor.sources.base import BaseFinder, BaseImage, begins, step_lines
from auditor.sources.engine import Engine
from tests.support.engine import CountingEngine, base_of, fixture_tag, layer_count
from tests.support.paths import DOCKER

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]


def facts(reference: str) -> tuple[str, list[str], tuple[str, ...]]:
    """An engine image's ID, layers and created_by lines, as a source reads them."""
    engine = Engine()
    inspect = engine.inspect(reference)
    image_id = str(inspect["Id"])
    return image_id, list(inspect["RootFS"]["Layers"]), step_lines(engine.history(image_id))


def test_begins_needs_both_layers_and_history() -> None:
    layers, steps = ["a", "b", "c"], ["FROM", "RUN 1", "RUN 2", "USER app"]
    assert begins(["a"], ["FROM"], layers, steps)
    assert begins(["a", "b"], ["FROM", "RUN 1", "RUN 2"], layers, steps)
    assert not begins([], [], layers, steps)  # no layers: nothing to begin with
    assert not begins(["a", "x"], ["FROM"], layers, steps)
    assert not begins(["a", "b", "c"], ["FROM", "RUN 1", "RUN 2", "CMD sh"], layers, steps)
    assert not begins(["a", "b", "c"], steps, layers, steps)  # the image itself
    assert not begins(["a"], ["FROM"], layers, [])  # no history to tell


@pytest.mark.parametrize("name", ["seed", "pip-venv", "on-toolchain"])
def test_the_local_base_is_the_image_the_dockerfile_starts_from(name: str) -> None:
    image_id, layers, steps = facts(fixture_tag(name, "buildkit"))
    found = BaseFinder().local(image_id, layers, steps)
    assert found is not None
    base, count, history, method = found
    assert (base, count, method) == (base_of(name), layer_count(base_of(name)), "local-image")
    assert history is not None and 0 < history < len(steps)


def test_a_run_lists_and_inspects_the_local_images_once() -> None:
    engine = CountingEngine()
    finder = BaseFinder(engine)
    seed = facts(fixture_tag("seed", "buildkit"))
    first = finder.local(*seed)
    assert first is not None
    assert engine.calls["image_ids", ""] == 1
    assert max(engine.calls.values()) == 1  # each image inspected, its history read, once
    asked = engine.calls.copy()
    assert finder.local(*seed) == first
    assert engine.calls == asked  # the same search again asks the engine nothing
    assert finder.local(*facts(fixture_tag("pip-venv", "buildkit"))) is not None
    assert engine.calls["image_ids", ""] == 1
    assert max(engine.calls.values()) == 1  # another image's search asks nothing twice


def test_a_new_finder_asks_again() -> None:
    """The memo lasts one finder (one run): the next run sees the engine's images as they are."""
    seed = facts(fixture_tag("seed", "buildkit"))
    base_id = facts(base_of("seed"))[0]
    engine = CountingEngine()
    for _ in range(2):
        assert BaseFinder(engine).local(*seed) is not None
    assert engine.calls["image_ids", ""] == 2
    assert engine.calls["inspect", base_id] == 2


def test_a_named_base_is_read_once() -> None:
    engine = CountingEngine()
    finder = BaseFinder(engine)
    base = "imgaudit-fixture/python-base:3.11"
    _, layers, _ = facts(fixture_tag("pip-venv", "classic"))
    known = finder.named(base).as_base_of(layers)
    assert known[0] == base and known[1] == layer_count(base) and known[3] == "option"
    assert finder.named(base).as_base_of(layers) == known
    assert engine.calls["inspect", base] == 1
    assert sum(count for (kind, _), count in engine.calls.items() if kind == "history") == 1


def test_a_named_base_whose_layers_differ() -> None:
    _, layers, _ = facts(fixture_tag("demo-bad", "classic"))
    with pytest.raises(BaseImageError) as caught:
        BaseFinder().named("imgaudit-fixture/python-base:3.11").as_base_of(layers)
    assert caught.value.message == (
        "imgaudit-fixture/python-base:3.11 is not a base of this image: its layers differ")


def test_a_named_base_the_engine_lacks() -> None:
    with pytest.raises(ImageNotFound) as caught:
        BaseFinder().named("imgaudit-fixture/no-such-base:1")
    assert caught.value.message == (
        "no image named imgaudit-fixture/no-such-base:1 in the Docker engine")


def test_base_image_checks_the_layers_it_begins() -> None:
    base = BaseImage("base:1", ("a", "b"), 3)
    assert base.as_base_of(["a", "b", "c"]) == ("base:1", 2, 3, "option")
    assert base.as_base_of(["a", "b"]) == ("base:1", 2, 3, "option")
    for layers in (["a"], ["b", "a", "c"], []):
        with pytest.raises(BaseImageError, match="base:1 is not a base of this image"):
            base.as_base_of(layers)


def test_no_engine_no_local_base(monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = "unix:///nonexistent/imgaudit-test.sock"
    monkeypatch.setenv("DOCKER_HOST", nowhere)
    finder = BaseFinder()
    assert not finder.reachable()
    assert finder.local("sha256:" + "1" * 64, ["sha256:a"], ["FROM"]) is None
    with pytest.raises(DaemonUnavailable, match=f"cannot reach the Docker engine at {nowhere}"):
        finder.named("busybox:1")


class _Listing(Engine):
    """The engine, listing its images in the order given (first: the twin's ID first)."""

    def __init__(self, first: str | None) -> None:
        super().__init__()
        self.first = first

    def image_ids(self) -> list[str]:
        ids = super().image_ids()
        if self.first in ids:
            ids.remove(self.first)
            ids.insert(0, self.first)
        return ids


@pytest.mark.parametrize("twin_first", [True, False])
def test_of_images_with_the_same_layers_and_history_the_first_built_is_the_base(
    tmp_path: Path, twin_first: bool
) -> None:
    # BuildKit records no history step for ONBUILD: this image's layers and history are the
    # base's own, and only its later creation tells it from the base
    base = base_of("seed")
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nONBUILD RUN true\n")
    twin = "imgaudit-test/base-twin:buildkit"
    subprocess.run([DOCKER, "build", "-q", "-t", twin, str(tmp_path)], check=True,
                   capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="1"))
    try:
        twin_id, twin_layers, twin_steps = facts(twin)
        assert (twin_layers, twin_steps) == facts(base)[1:]  # the tie the finder must break
        found = BaseFinder(_Listing(twin_id if twin_first else None)).local(
            *facts(fixture_tag("seed", "buildkit")))
        assert found is not None and found[0] == base
    finally:  # other tests name bases with the engine's images: leave them as they were
        subprocess.run([DOCKER, "rmi", "-f", twin], capture_output=True)
