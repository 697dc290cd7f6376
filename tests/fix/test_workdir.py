"""WORKDIR for an image without one: where it goes and what stops it."""

from __future__ import annotations

from tests.support.fix_images import audited, context, file, found


def test_before_the_command_when_every_copy_is_absolute() -> None:
    dockerfile = """\
FROM base:1
COPY . /srv/app
USER nobody
# start
CMD ["sh", "/srv/app/serve.sh"]
"""
    audit = audited(dockerfile, findings=[found("IA601")])
    assert audit.fixed() == dockerfile.replace("USER nobody\n", "USER nobody\nWORKDIR /srv/app\n")


def test_before_the_first_relative_copy() -> None:
    dockerfile = """\
FROM base:1
RUN mkdir /data
# the app
COPY main.py ./
CMD ["python", "main.py"]
"""
    audit = audited(dockerfile, layers={4: [file("main.py")]}, findings=[found("IA601")])
    assert audit.fixed() == dockerfile.replace("# the app\n", "WORKDIR /app\n# the app\n")


def test_not_when_something_names_the_files_where_they_are() -> None:
    dockerfile = """\
FROM base:1
COPY main.py ./
CMD ["python", "/main.py"]
"""
    audit = audited(dockerfile, layers={2: [file("main.py")]}, findings=[found("IA601")])
    assert audit.fixed(context("main.py")) == dockerfile
    assert "Dockerfile:3 names /main.py" in audit.advice()["IA601"]


def test_not_when_the_command_runs_a_file_relative_to_root() -> None:
    dockerfile = "FROM base:1\nRUN echo x > /run.sh\nCMD [\"sh\", \"run.sh\"]\n"
    audit = audited(dockerfile, layers={2: [file("run.sh")]}, findings=[found("IA601")])
    assert audit.fixed() == dockerfile
    assert "names run.sh, found in / only" in audit.advice()["IA601"]


def test_not_when_a_workdir_is_there_but_wrong() -> None:
    dockerfile = "FROM base:1\nWORKDIR /\nCMD [\"app\"]\n"
    audit = audited(dockerfile, findings=[found("IA601")])
    assert audit.fixed() == dockerfile
    assert "make it the app's own absolute folder" in audit.advice()["IA601"]
