"""Property: whatever is done to the bytes of a valid archive (truncated, bits flipped, bytes
put in) or to its JSON documents (keys deleted, wrong types, huge numbers, deep nesting),
imgaudit ends in a verdict or one clear error line: never an internal error, a traceback or a
hang. The archives are a `docker save` of the busybox base (saved once per session) and an
OCI layout the factory writes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cli import Ran, imgaudit
from tests.support.factory import good, write_archive
from tests.support.hostile import members_of, pack_members

DOCKER = "/usr/bin/docker"
BASE = "imgaudit-fixture/busybox-base:1"
SECONDS = 20  # one audit of a 2 MB archive takes well under a second; more is a hang
EXAMPLES = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


class Archives(dict[str, bytes]):
    """The valid archives by name; shown by name only when an example fails."""

    def __repr__(self) -> str:
        return f"<archives {', '.join(self)}>"


class Hang(BaseException):
    """Raised in the audit when it runs past SECONDS (a BaseException: nothing catches it)."""


@pytest.fixture(scope="module")
def archives(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Archives:
    folder = tmp_path_factory.mktemp("ia-hostile-mutations")
    saved = folder / "busybox.tar"
    done = subprocess.run([DOCKER, "save", BASE, "-o", str(saved)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    oci = write_archive(folder / "oci.tar", good(), layout="oci")
    return Archives(saved=saved.read_bytes(), oci=oci.read_bytes())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("ia-hostile-cache")
    return dict(os.environ, IMGAUDIT_CACHE_DIR=str(cache), NO_COLOR="1",
                DOCKER_HOST="unix:///nonexistent/imgaudit-test.sock")


@pytest.fixture
def alarm() -> Iterator[None]:
    def hang(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"imgaudit ran past {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hang)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _audit(path: Path, data: bytes, env: dict[str, str]) -> Ran:
    path.write_bytes(data)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        done = imgaudit(f"docker-archive:{path}", "--format", "json", "--no-dockerfile",
                        env=env)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in done.stderr, done.stderr
    if done.returncode == 2:
        errors = [line for line in done.stderr.splitlines()
                  if line.startswith("imgaudit: error:")]
        assert len(errors) == 1 and "hint:" in errors[0], done.stderr
    else:
        assert done.returncode in (0, 1), done.stderr
        json.loads(done.stdout)
    return done


# ----------------------------------------------------------------------------- bytes


def _headers(data: bytes) -> list[int]:
    """Where each member's header begins: mutations there reach the parsers, not the digests."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [member.offset for member in tar.getmembers()]


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    headers = _headers(data)
    at = draw(st.one_of(
        st.integers(0, len(data) - 1),
        st.builds(lambda start, within: min(start + within, len(data) - 1),
                  st.sampled_from(headers), st.integers(0, 511)),
    ))
    match draw(st.sampled_from(["truncate", "flip", "insert", "zero"])):
        case "truncate":
            return data[:at]
        case "flip":
            bit = draw(st.integers(0, 7))
            return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:]
        case "insert":
            return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
        case _:
            return data[:at] + b"\0" * draw(st.integers(1, 1024)) + data[at + 1024:]


@EXAMPLES
@given(data=st.data(), which=st.sampled_from(["saved", "oci"]))
def test_mutated_bytes_are_a_verdict_or_one_line(
    archives: Archives, env: dict[str, str], tmp_path: Path, alarm: None,
    data: st.DataObject, which: str
) -> None:
    mutated = data.draw(byte_mutations(archives[which]))
    _audit(tmp_path / "mutated.tar", mutated, env)


# ----------------------------------------------------------------------------- JSON

NEST, HUGE = "\0nest\0", "\0huge\0"
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.none(),
                                                          max_size=2),
    st.just(NEST), st.just(HUGE), st.just(-1), st.just(2**63), st.just(""), st.just("../..")
)


def _places(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index path into a JSON document."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*at, index))


def _changed(document: Any, place: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not place:
        return new
    parent = document
    for step in place[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[place[-1]]
    else:
        parent[place[-1]] = new
    return document


def _dumped(document: Any, depth: int) -> bytes:
    text = json.dumps(document)
    text = text.replace(json.dumps(NEST), "[" * depth + "]" * depth)
    text = text.replace(json.dumps(HUGE), "1" + "0" * 5000)
    return text.encode()


@EXAMPLES
@given(data=st.data(), which=st.sampled_from(["saved", "oci"]))
def test_mutated_documents_are_a_verdict_or_one_line(
    archives: Archives, env: dict[str, str], tmp_path: Path, alarm: None,
    data: st.DataObject, which: str
) -> None:
    members = members_of(archives[which])
    documents = sorted(name for name, body in members.items()
                       if name.endswith((".json", "/json")) or _is_json(body))
    name = data.draw(st.sampled_from(documents))
    document = json.loads(members[name])
    place = data.draw(st.sampled_from(list(_places(document))))
    new = data.draw(ODD_VALUES)
    delete = data.draw(st.booleans())
    depth = data.draw(st.sampled_from([10, 1000, 100_000]))
    body = _dumped(_changed(document, place, new, delete), depth)
    _store(members, name, body)
    _audit(tmp_path / "mutated.tar", pack_members(members), env)


def _store(members: dict[str, bytes], name: str, body: bytes) -> None:
    """The mutated document in place; a legacy archive's config under the name of its new
    digest, and manifest.json pointing at it, so that the config's parsing is reached rather
    than its digest refused."""
    try:
        listed = json.loads(members.get("manifest.json", b"null"))
        config = listed[0]["Config"]
    except (ValueError, LookupError, TypeError):
        config = None
    if name != config or not name.endswith(".json") or "/" in name:
        members[name] = body
        return
    renamed = hashlib.sha256(body).hexdigest() + ".json"
    del members[name]
    members[renamed] = body
    listed[0]["Config"] = renamed
    members["manifest.json"] = json.dumps(listed).encode()


def _is_json(body: bytes) -> bool:
    if not body.startswith(b"{") or len(body) > 1 << 20:
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
