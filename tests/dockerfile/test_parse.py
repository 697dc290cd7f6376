"""Dockerfiles read into stages and instructions with their lines, through BuildKit's own parser;
what BuildKit would reject is a DockerfileError naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.dockerfile import DockerfileError, parse_dockerfile, read_dockerfile
from auditor.errors import ImgauditError

MULTISTAGE = """\
# syntax=docker/dockerfile:1
ARG PY=3.11
ARG BASE=python:${PY}-slim
FROM --platform=$BUILDPLATFORM ${BASE} AS Build
WORKDIR /src
RUN pip install \\
      --prefix=/install \\
      -r requirements.txt

FROM build AS test
RUN pytest

FROM ${BASE}
COPY --from=build /install /usr/local
COPY --from=0 --chown=app:app /src/app.py ./
CMD ["python", "app.py"]
"""


def test_stages_names_bases_and_lines() -> None:
    dockerfile = parse_dockerfile(MULTISTAGE, "app/Dockerfile")
    build, test, final = dockerfile.stages
    assert [a.original for a in dockerfile.global_args] == ["ARG PY=3.11",
                                                             "ARG BASE=python:${PY}-slim"]
    assert (build.index, build.name, build.base, build.platform) == (
        0, "build", "python:3.11-slim", "$BUILDPLATFORM")
    assert build.from_line.start_line == 4 and build.parent is None
    assert (test.name, test.base, test.parent) == ("test", "build", 0)
    assert (final.name, final.base, final.parent) == ("", "python:3.11-slim", None)
    assert dockerfile.final_stage is final
    assert dockerfile.lineage(test) == (build, test)
    assert dockerfile.stage("TEST") is test and dockerfile.stage("2") is final
    assert final.copies_from == ("build", "0")
    assert [i.stage for i in final.instructions] == [2, 2, 2]


def test_a_continued_instruction_spans_its_lines() -> None:
    run = parse_dockerfile(MULTISTAGE).stages[0].instructions[1]
    assert (run.keyword, run.start_line, run.end_line) == ("RUN", 6, 8)
    assert run.location == "Dockerfile:6-8"
    assert " ".join(run.arguments[0].split()) == "pip install --prefix=/install -r requirements.txt"
    assert run.describe() == "line 6 `RUN pip install --prefix=/install -r requirements.txt`"


def test_flags_exec_and_shell_forms() -> None:
    final = parse_dockerfile(MULTISTAGE).final_stage
    copy, chowned, cmd = final.instructions
    assert copy.flag("from") == "build" and copy.flag("chown") is None
    assert chowned.flag("chown") == "app:app" and chowned.arguments == ("/src/app.py", "./")
    assert cmd.exec_form and cmd.arguments == ("python", "app.py")
    shell = parse_dockerfile("FROM a\nCMD python app.py\n").final_stage.instructions[0]
    assert not shell.exec_form and shell.arguments == ("python app.py",)


def test_heredocs_keep_their_lines_and_content() -> None:
    text = ("FROM a\n"
            "RUN <<EOF\n"
            "apk add curl\n"
            "rm -rf /var/cache/apk\n"
            "EOF\n"
            "RUN <<-EOT sh\n"
            "\techo tabbed\n"
            "\tEOT\n"
            "COPY <<CONF /etc/app.conf\n"
            "port=80\n"
            "CONF\n"
            "USER app\n")
    run, chomped, copy, user = parse_dockerfile(text).final_stage.instructions
    assert (run.start_line, run.end_line) == (2, 5)
    assert run.heredocs[0].name == "EOF"
    assert run.heredocs[0].content == "apk add curl\nrm -rf /var/cache/apk\n"
    assert chomped.heredocs[0].chomp and chomped.heredocs[0].content == "echo tabbed\n"
    assert copy.arguments == ("<<CONF", "/etc/app.conf") and (copy.start_line, copy.end_line) == (
        9, 11)
    assert user.start_line == 12


def test_the_escape_directive() -> None:
    text = "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n    C:\\\nUSER app\n"
    dockerfile = parse_dockerfile(text)
    run, user = dockerfile.final_stage.instructions
    assert dockerfile.escape == "`"
    assert (run.start_line, run.end_line) == (3, 4)
    assert " ".join(run.arguments[0].split()) == "dir C:\\"
    assert user.start_line == 5


def test_onbuild_keeps_its_trigger() -> None:
    onbuild = parse_dockerfile("FROM a\nONBUILD COPY . /app\n").final_stage.instructions[0]
    assert (onbuild.keyword, onbuild.trigger) == ("ONBUILD", "COPY")


def test_lowercase_keywords_are_read_as_upper() -> None:
    user = parse_dockerfile("from a\nuser app\n").final_stage.instructions[0]
    assert user.keyword == "USER"


@pytest.mark.parametrize(("text", "message"), [
    ("", "Dockerfile: file with no instructions"),
    ("# only a comment\n", "Dockerfile: file with no instructions"),
    ("ARG A=1\n", "Dockerfile has no FROM"),
    ("RUN true\nFROM a\n", "Dockerfile:1: RUN comes before the first FROM"),
    ("FROM a\nFOO bar\n", "Dockerfile:2: unknown instruction FOO"),
    ("FROM a\nRUN <<EOF\nx\n", "Dockerfile: unterminated heredoc"),
    ("FROM a\nENV\n", "Dockerfile:2: ENV needs an argument"),
    ("FROM a\nCOPY app\n", "Dockerfile:2: COPY needs a source and a destination"),
    ("FROM a\nSHELL /bin/bash\n", "Dockerfile:2: SHELL takes a JSON array"),
    ("FROM a AS\n", "Dockerfile:1: FROM takes IMAGE [AS NAME]"),
    ("FROM a AS x\nFROM b AS X\n", "Dockerfile:2: duplicate stage name 'x'"),
    ("FROM a AS 1x\n", "Dockerfile:1: invalid stage name '1x'"),
    ("FROM a\nCOPY --from=$STAGE a b\n", "Dockerfile:2: COPY --from takes a stage name"),
    ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: ONBUILD FROM is not allowed"),
    ("FROM ${EMPTY}\n", "Dockerfile:1: FROM ${EMPTY} expands to nothing"),
    ("# escape=x\nFROM a\n", "Dockerfile: invalid escape token 'x'"),
])
def test_a_bad_dockerfile_is_one_error_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile(text)
    assert caught.value.message.startswith(message)
    assert isinstance(caught.value, ImgauditError) and caught.value.hint


def test_reading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"\xef\xbb\xbfFROM a\nUSER app\n")  # a BOM, as some editors write
    dockerfile = read_dockerfile(path)
    assert dockerfile.path == str(path)
    assert dockerfile.final_stage.instructions[0].location == f"{path}:2"
    with pytest.raises(DockerfileError, match="cannot read"):
        read_dockerfile(tmp_path / "missing")
    (tmp_path / "latin1").write_bytes(b"FROM a\nLABEL x=\xe9\n")
    with pytest.raises(DockerfileError, match="not UTF-8"):
        read_dockerfile(tmp_path / "latin1")


def test_an_unknown_target_names_the_stages() -> None:
    with pytest.raises(DockerfileError, match=r"no stage 'prod' \(named stages: build, test\)"):
        parse_dockerfile(MULTISTAGE).stage("prod")
