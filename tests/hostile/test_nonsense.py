"""Nonsense entries are data: names like `..`, `/` or empty, link cycles, links to nothing, a
file where a folder was, whiteouts of `..` or `/`, and config or history fields of the wrong JSON
type each give a verdict (or one clear line), never an internal error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.model.image import FileKind
from auditor.sources.layers import merge
from tests.support.cli import Ran, imgaudit
from tests.support.factory import (
    ImageSpec,
    Member,
    directory,
    file,
    good,
    hardlink,
    run,
    scan,
    symlink,
    whiteout,
    write_archive,
)


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")


def _audited(tmp_path: Path, spec: ImageSpec, env: dict[str, str], *options: str) -> Ran:
    """The archive of `spec` audited: a verdict (exit 0 or 1) in every format, no error."""
    archive = write_archive(tmp_path / "image.tar", spec)
    done = imgaudit(f"docker-archive:{archive}", "--no-dockerfile", *options, env=env)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr and "error" not in done.stderr, done.stderr
    return done


NONSENSE: dict[str, tuple[Member, ...]] = {
    "dot-dot": (file(".."), directory("../"), file("../../etc/shadow", "root:x:")),
    "root": (directory("/"), file("/", b"x"), directory("./")),
    "empty": (file(""), directory("."), symlink("", "nowhere")),
    "hardlink-cycle": (hardlink("srv/a", "srv/b"), hardlink("srv/b", "srv/a")),
    "missing-targets": (symlink("srv/gone", "/no/such/file"), hardlink("srv/lost", "no/such")),
    "symlink-loop": (symlink("srv/loop1", "loop2"), symlink("srv/loop2", "loop1"),
                     symlink("srv/self", "self"), symlink("srv/up", "../../../../..")),
    "whiteouts-of-dot-dot-and-root": (whiteout(".."), whiteout("/"), whiteout("etc/.."),
                                      file(".wh."), file("etc/.wh.."), file("etc/.wh..")),
}


@pytest.mark.parametrize("name", list(NONSENSE))
def test_nonsense_entries_are_data(tmp_path: Path, cli_env: dict[str, str], name: str) -> None:
    spec = good().adding(run(f"echo {name}", *NONSENSE[name]))
    for fmt in ("table", "json"):
        done = _audited(tmp_path, spec, cli_env, "--format", fmt)
        if fmt == "json":
            (image,) = json.loads(done.stdout)["images"]
            assert image["score"] >= 0
    # a whiteout of `..` or `/` hides nothing: the user is still found in etc/passwd
    done = _audited(tmp_path, spec, cli_env, "--format", "json")
    (image,) = json.loads(done.stdout)["images"]
    user = next(r for r in image["rules"] if r["id"] == "IA202")
    assert user["status"] == "pass", user


def test_a_whiteout_of_dot_dot_or_root_hides_nothing() -> None:
    lower = scan([directory("etc"), file("etc/passwd", "root:x:0:0::/:/bin/sh\n"),
                  file("app.env")])
    upper = scan([whiteout(".."), whiteout("/"), file("etc/.wh.."), file("etc/.wh.."),
                  file(".wh..wh..opq")])
    files = merge([(1, lower), (2, upper)])
    assert {"etc", "etc/passwd", "app.env"} <= set(files)


def test_a_file_where_a_folder_was_replaces_the_folder() -> None:
    lower = scan([directory("srv/app"), file("srv/app/.env", "TOKEN=x"),
                  directory("srv/app/sub"), file("srv/app/sub/key.pem"), file("srv/apple")])
    upper = scan([file("srv/app", "now a file"), symlink("srv/apple", "app")])
    files = merge([(1, lower), (2, upper)])
    assert files["srv/app"].entry.kind is FileKind.FILE and files["srv/app"].layer == 2
    assert not any(path.startswith("srv/app/") for path in files), sorted(files)
    assert files["srv/apple"].entry.kind is FileKind.SYMLINK
    # a folder put where a folder was keeps what lower layers put in it
    again = merge([(1, lower), (2, scan([directory("srv/app")]))])
    assert "srv/app/.env" in again


def test_a_file_where_a_folder_was_is_audited(tmp_path: Path, cli_env: dict[str, str]) -> None:
    spec = good().adding(
        run("mkdir /srv/app && echo TOKEN=x > /srv/app/.env",
            directory("srv/app"), file("srv/app/.env", "TOKEN=x")),
        run("rm -r /srv/app && echo > /srv/app", file("srv/app", "x")),
    )
    done = _audited(tmp_path, spec, cli_env, "--format", "json")
    (image,) = json.loads(done.stdout)["images"]
    # the .env is still shipped in its lower layer: reported, as a deleted-later file is
    assert any(f["rule"] == "IA401" for f in image["findings"])


WRONG_TYPES: dict[str, dict[str, Any]] = {
    "Env-number": {"Env": 5},
    "Env-items": {"Env": ["A=1", 5, None, {"B": 2}, ["C=3"]]},
    "User-null": {"User": None},
    "User-list": {"User": ["root"]},
    "ExposedPorts-list": {"ExposedPorts": []},
    "ExposedPorts-number": {"ExposedPorts": 8080},
    "Labels-text": {"Labels": "x"},
    "Labels-values": {"Labels": {"a": 1, "b": None, "c": ["x"]}},
    "Cmd-object": {"Cmd": {"sh": 1}},
    "Entrypoint-number": {"Entrypoint": 1e308},
    "WorkingDir-bool": {"WorkingDir": True},
}


@pytest.mark.parametrize("change", list(WRONG_TYPES))
def test_wrong_json_types_in_the_config_are_read_as_absent(
    tmp_path: Path, cli_env: dict[str, str], change: str
) -> None:
    done = _audited(tmp_path, good().configured(**WRONG_TYPES[change]), cli_env,
                    "--format", "json")
    (image,) = json.loads(done.stdout)["images"]
    statuses = {r["id"]: r["status"] for r in image["rules"]}
    assert "error" not in statuses.values(), statuses


@pytest.mark.parametrize("document", [
    {"history": {}},
    {"history": {"created_by": "RUN x"}},
    {"history": "RUN x"},
    {"history": [{"created_by": []}, {"created_by": 5, "empty_layer": "yes"}, None, 7]},
    {"history": [{"created_by": {"a": 1}, "comment": [], "created": 0}]},
    {"config": "x"},
    {"config": None},
    {"config": []},
], ids=lambda d: json.dumps(d)[:40])
def test_wrong_json_types_in_the_history_are_read_as_absent(
    tmp_path: Path, cli_env: dict[str, str], document: dict[str, Any]
) -> None:
    spec = ImageSpec(document=document)
    done = _audited(tmp_path, spec, cli_env, "--format", "json")
    (image,) = json.loads(done.stdout)["images"]
    statuses = {r["id"]: r["status"] for r in image["rules"]}
    assert "error" not in statuses.values(), statuses
