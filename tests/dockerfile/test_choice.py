"""Which Dockerfile an audit locates findings on: paths named as findings show them, ./Dockerfile
found only when it reads, and what a named or a found Dockerfile that does not match tells."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.dockerfile import (
    DockerfileChoice,
    DockerfileError,
    find_dockerfile,
    match_choice,
    open_dockerfile,
    parse_dockerfile,
    shown_path,
)
from auditor.model.report import DockerfileMatch
from tests.support.factory import build, good

OTHER = "FROM scratch\nRUN echo another build\n"


def test_paths_relative_to_the_working_directory(tmp_path: Path) -> None:
    inside = tmp_path / "app" / "Dockerfile"
    assert shown_path("./Dockerfile", tmp_path) == ("Dockerfile", str(tmp_path))
    assert shown_path(inside, tmp_path) == ("app/Dockerfile", str(tmp_path))
    assert shown_path("app/../app/./Dockerfile", tmp_path) == ("app/Dockerfile", str(tmp_path))
    # outside it: absolute, with no folder to start from
    outside = tmp_path.parent / "Dockerfile"
    assert shown_path("../Dockerfile", tmp_path) == (outside.as_posix(), "")


def test_open_names_it_as_given(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "Dockerfile").write_text(OTHER)
    choice = open_dockerfile("./build/Dockerfile", tmp_path)
    assert choice.dockerfile.path == "build/Dockerfile" and not choice.detected
    assert choice.dockerfile.final_stage.instructions[0].location == "build/Dockerfile:2"
    assert choice.root == str(tmp_path)


def test_open_a_missing_or_broken_dockerfile_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="cannot read") as missing:
        open_dockerfile("nowhere/Dockerfile", tmp_path)
    assert missing.value.hint
    (tmp_path / "Dockerfile").write_text("RUN echo no FROM\n")
    with pytest.raises(DockerfileError, match="Dockerfile:1"):
        open_dockerfile("Dockerfile", tmp_path)


@pytest.mark.parametrize("content", [None, "RUN echo no FROM\n", b"\xff\xfe not text"],
                         ids=["absent", "broken", "binary"])
def test_find_never_raises(tmp_path: Path, content: str | bytes | None) -> None:
    if isinstance(content, str):
        (tmp_path / "Dockerfile").write_text(content)
    elif isinstance(content, bytes):
        (tmp_path / "Dockerfile").write_bytes(content)
    assert find_dockerfile(tmp_path) is None


def test_find_a_folder_named_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").mkdir()
    assert find_dockerfile(tmp_path) is None


def test_find_reads_the_working_directorys(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(OTHER)
    found = find_dockerfile(tmp_path)
    assert found is not None and found.detected and found.dockerfile.path == "Dockerfile"


def test_a_named_dockerfile_that_does_not_match_says_why_a_found_one_nothing() -> None:
    image = build(good())
    named = DockerfileChoice(parse_dockerfile(OTHER, "Dockerfile"), root="/src")
    mapping, told = match_choice(named, image)
    assert mapping is None
    assert isinstance(told, DockerfileMatch) and not told.matched and told.reason
    assert (told.path, told.root, told.detected) == ("Dockerfile", "/src", False)
    found = DockerfileChoice(named.dockerfile, detected=True, root="/src")
    assert match_choice(found, image) == (None, None)
