"""Dockerfiles matched with images the engine built, with the classic builder and with BuildKit:
small test images (tagged imgaudit-test/df-*, removed afterwards) and every fixture image."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import audit
from auditor.dockerfile import (
    Builder,
    ConfigField,
    DockerfileMapping,
    Mismatch,
    match_image,
    parse_dockerfile,
    read_dockerfile,
)
from auditor.model.image import Image, Origin
from tests.support.engine import BUILDERS, fixture_tag
from tests.support.paths import DOCKER, ROOT

pytestmark = pytest.mark.engine

FLAGS = {"classic": "0", "buildkit": "1"}
FIXTURES = ROOT / "fixtures" / "images"

KITCHEN = """\
ARG BASE=imgaudit-fixture/busybox-base:1
FROM ${BASE} AS build
RUN echo built > /built.txt

FROM ${BASE}
MAINTAINER imgaudit tests <tests@example.com>
ARG APP_USER=app
ARG UNSET
ENV HOME=/home/${APP_USER} \\
    PORT=8080
LABEL org.example.role="test image" tier=${TIER:-web}
RUN echo "$APP_USER:x:10001:10001::$HOME:/bin/sh" >> /etc/passwd && \\
    mkdir -p $HOME
RUN ["/bin/echo", "exec", "$APP_USER"]
COPY app.sh /srv/app/
COPY conf /srv/app/conf
COPY --from=build /built.txt /srv/app/built.txt
COPY --chown=10001:10001 app.sh extra.txt /srv/app/data/
ADD app.sh /srv/add/
WORKDIR /srv/app
WORKDIR conf
USER ${APP_USER}
EXPOSE $PORT 9090/udp
VOLUME /data
VOLUME ["/cache", "/logs"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s CMD wget -q -O- http://localhost:$PORT/ || exit 1
SHELL ["/bin/sh", "-ec"]
RUN echo shell $APP_USER
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh"]
CMD /srv/app/app.sh
"""
# the lines of the final stage's instructions, in order (ONBUILD: line 30)
KITCHEN_LINES = (6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                 28, 29, 30, 31, 32)

CHAIN = """\
FROM imgaudit-fixture/busybox-base:1 AS common
ARG TIER=web
RUN mkdir -p /srv/$TIER
WORKDIR /srv

FROM common AS app
COPY app.sh ./
USER nobody
"""

ESCAPED = """\
# escape=`
FROM imgaudit-fixture/busybox-base:1
ENV DIR=/srv/app `
    MODE=prod
RUN mkdir -p $DIR && `
    echo "C:\\$MODE" > $DIR/mode
COPY app.sh ${DIR}/
"""

TRIGGERS = """\
FROM imgaudit-fixture/busybox-base:1
ONBUILD RUN echo triggered > /triggered
ONBUILD USER nobody
"""
TRIGGERED = """\
FROM imgaudit-test/df-triggers:@BUILDER@
WORKDIR /srv
"""

MOUNT = """\
FROM imgaudit-fixture/busybox-base:1
RUN --mount=type=tmpfs,target=/scratch \\
    echo scratch > /scratch/x && ls /scratch > /listing
CMD ["cat", "/listing"]
"""


def docker_build(context: Path, dockerfile: str, tag: str, builder: str,
                 *options: str) -> None:
    (context / "Dockerfile").write_text(dockerfile)
    env = dict(os.environ, DOCKER_BUILDKIT=FLAGS[builder])
    done = subprocess.run([DOCKER, "build", "--quiet", "--network", "none", "--tag", tag,
                           *options, str(context)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The test images, by name and builder; only this module's own tags are removed after."""
    context = tmp_path_factory.mktemp("df-context")
    (context / "app.sh").write_text("#!/bin/sh\necho app\n")
    (context / "extra.txt").write_text("extra\n")
    (context / "conf").mkdir()
    (context / "conf" / "app.conf").write_text("port=8080\n")
    tags: dict[str, str] = {}
    plans: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
        ("kitchen", KITCHEN, BUILDERS, ()),
        ("kitchen-args", KITCHEN, BUILDERS,
         ("--build-arg", "APP_USER=web", "--label", "build=42")),
        ("kitchen-build", KITCHEN, BUILDERS, ("--target", "build")),
        ("chain", CHAIN, BUILDERS, ()),
        ("escaped", ESCAPED, BUILDERS, ()),
        ("mount", MOUNT, ("buildkit",), ()),  # the classic builder has no RUN --mount
        ("triggers", TRIGGERS, BUILDERS, ()),
        ("triggered", TRIGGERED, BUILDERS, ()),  # FROM the triggers image of its builder
    ]
    try:
        for name, dockerfile, builders, options in plans:
            for builder in builders:
                tag = f"imgaudit-test/df-{name}:{builder}"
                docker_build(context, dockerfile.replace("@BUILDER@", builder), tag, builder,
                             *options)
                tags[f"{name}:{builder}"] = tag
        yield tags
    finally:
        for tag in reversed(tags.values()):  # children first
            subprocess.run([DOCKER, "rmi", tag], capture_output=True)


def image_of(tag: str) -> Image:
    report = audit([tag], content=False)
    assert not report.failures, report.failures
    return report.images[0].image


def mapping_of(text: str, tag: str, target: str | None = None) -> DockerfileMapping:
    result = match_image(parse_dockerfile(text), image_of(tag), target=target)
    assert isinstance(result, DockerfileMapping), result
    return result


def own_lines(mapping: DockerfileMapping, image: Image) -> list[int]:
    """The line of every own step, in order; each own step must have one (but `--label`)."""
    found = []
    for step in image.own_history:
        if step.index == mapping.option_step:
            continue
        instruction = mapping.instruction_for_step(step.index)
        assert instruction is not None, step.describe()
        found.append(instruction.start_line)
    return found


@pytest.mark.parametrize("builder", BUILDERS)
def test_every_instruction_kind_maps_to_its_line(built: dict[str, str], builder: str) -> None:
    tag = built[f"kitchen:{builder}"]
    mapping = mapping_of(KITCHEN, tag)
    expected = [line for line in KITCHEN_LINES if builder == "classic" or line != 30]
    assert mapping.builder is Builder(builder)
    assert own_lines(mapping, image_of(tag)) == expected
    assert {instruction.stage for instruction in mapping.steps.values()} == {1}
    assert mapping.from_line.start_line == 5 and mapping.notes == ()
    copy_from = next(i for i in mapping.steps.values() if i.flag("from") == "build")
    assert copy_from.start_line == 17
    sources = {
        (ConfigField.USER, ""): 22, (ConfigField.WORKDIR, ""): 21, (ConfigField.CMD, ""): 32,
        (ConfigField.ENTRYPOINT, ""): 31, (ConfigField.HEALTHCHECK, ""): 27,
        (ConfigField.STOPSIGNAL, ""): 26, (ConfigField.SHELL, ""): 28,
        (ConfigField.EXPOSED_PORTS, "8080/tcp"): 23, (ConfigField.EXPOSED_PORTS, "9090/udp"): 23,
        (ConfigField.VOLUMES, "/logs"): 25, (ConfigField.ENV, "PORT"): 9,
        (ConfigField.ENV, "PATH"): 5, (ConfigField.LABELS, "tier"): 11,
        (ConfigField.LABELS, "org.opencontainers.image.title"): 5,
    }
    for (config, key), line in sources.items():
        source = mapping.config_source(config, key)
        assert source is not None and source.start_line == line, (config, key)


@pytest.mark.parametrize("builder", BUILDERS)
def test_build_args_and_label_options(built: dict[str, str], builder: str) -> None:
    tag = built[f"kitchen-args:{builder}"]
    image = image_of(tag)
    assert image.config.user == "web"
    mapping = mapping_of(KITCHEN, tag)
    assert own_lines(mapping, image) == [line for line in KITCHEN_LINES
                                         if builder == "classic" or line != 30]
    # the classic builder records --label as a last LABEL step, BuildKit not at all
    assert (mapping.option_step is not None) is (builder == "classic")
    assert mapping.config_source(ConfigField.LABELS, "build") is None


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_target_stage_maps_only_with_that_target(built: dict[str, str], builder: str) -> None:
    tag = built[f"kitchen-build:{builder}"]
    assert isinstance(match_image(parse_dockerfile(KITCHEN), image_of(tag)), Mismatch)
    mapping = mapping_of(KITCHEN, tag, target="build")
    assert own_lines(mapping, image_of(tag)) == [3]
    assert mapping.from_line.start_line == 2


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_stage_from_an_earlier_stage(built: dict[str, str], builder: str) -> None:
    tag = built[f"chain:{builder}"]
    mapping = mapping_of(CHAIN, tag)
    assert own_lines(mapping, image_of(tag)) == [2, 3, 4, 7, 8]
    assert mapping.from_line.start_line == 6


@pytest.mark.parametrize("builder", BUILDERS)
def test_escape_directive_and_continuations(built: dict[str, str], builder: str) -> None:
    tag = built[f"escaped:{builder}"]
    mapping = mapping_of(ESCAPED, tag)
    assert [(i.start_line, i.end_line) for i in mapping.steps.values()] == [(3, 4), (5, 6),
                                                                            (7, 7)]


def test_run_mount_with_buildkit(built: dict[str, str]) -> None:
    tag = built["mount:buildkit"]
    assert own_lines(mapping_of(MOUNT, tag), image_of(tag)) == [2, 4]


def test_onbuild_triggers_of_a_classic_base_run_for_from(built: dict[str, str]) -> None:
    text = TRIGGERED.replace("@BUILDER@", "classic")
    tag = built["triggered:classic"]
    mapping = mapping_of(text, tag)
    assert own_lines(mapping, image_of(tag)) == [1, 1, 2]  # the triggers, then WORKDIR
    assert mapping.notes == ("history[6..7] ran the base image's ONBUILD triggers, for line 1 "
                             "`FROM imgaudit-test/df-triggers:classic`",)
    user = mapping.config_source(ConfigField.USER)
    assert user is not None and user.keyword == "FROM"


def test_onbuild_triggers_of_a_buildkit_base_cannot_be_told(built: dict[str, str]) -> None:
    # BuildKit records no ONBUILD: the steps its triggers made are no line's
    result = match_image(parse_dockerfile(TRIGGERED.replace("@BUILDER@", "buildkit")),
                         image_of(built["triggered:buildkit"]))
    assert isinstance(result, Mismatch)
    assert result.reason == ("history[5]: USER nobody is the image's own, but no instruction "
                             "of stage 0 (line 1 `FROM imgaudit-test/df-triggers:buildkit`) "
                             "makes it")


MISMATCHES = [
    # an extra step
    (KITCHEN.replace("WORKDIR conf\n", "WORKDIR conf\nRUN chmod 755 /srv/app\n"),
     "line 22 `RUN chmod 755 /srv/app` does not match history[18]: USER app"),
    # two steps the other way round
    (KITCHEN.replace("VOLUME /data\nVOLUME", "VOLUME PLACEHOLDER\nVOLUME").replace(
        'VOLUME ["/cache", "/logs"]', "VOLUME /data").replace(
        "VOLUME PLACEHOLDER", 'VOLUME ["/cache", "/logs"]'),
     'line 24 `VOLUME ["/cache", "/logs"]` does not match history[20]: VOLUME [/data]'),
    # a step missing
    (KITCHEN.replace("STOPSIGNAL SIGTERM\n", ""),
     "line 26 `HEALTHCHECK --interval=30s CMD wget -q -O- http://localhost:$PORT/ || exit 1` "
     "does not match history[22]: STOPSIGNAL SIGTERM"),
    # other content
    (KITCHEN.replace("mkdir -p $HOME", "mkdir -p $HOME/bin"),
     "line 12 `RUN echo \"$APP_USER:x:10001:10001::$HOME:/bin/sh\" >> /etc/passwd && "
     "mkdir -p ...` does not match history[9]"),
    (KITCHEN.replace("USER ${APP_USER}", "USER nobody"),
     "line 22 `USER nobody` does not match history[18]: USER app"),
]


@pytest.mark.parametrize(("text", "reason"), MISMATCHES)
@pytest.mark.parametrize("builder", BUILDERS)
def test_another_dockerfile_maps_nothing(built: dict[str, str], builder: str, text: str,
                                         reason: str) -> None:
    result = match_image(parse_dockerfile(text), image_of(built[f"kitchen:{builder}"]))
    assert isinstance(result, Mismatch)
    assert result.reason.startswith(reason) and "\n" not in str(result)


@pytest.mark.parametrize("builder", BUILDERS)
def test_the_build_stages_lines_are_not_the_images(built: dict[str, str], builder: str) -> None:
    # the final stage replaced by the build stage's: the build stage made none of these steps
    text = KITCHEN.split("FROM ${BASE}\n")[0] + "FROM ${BASE}\nRUN echo built > /built.txt\n"
    result = match_image(parse_dockerfile(text), image_of(built[f"kitchen:{builder}"]))
    assert isinstance(result, Mismatch)


# ----------------------------------------------------------------------------- fixtures


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "Dockerfile").is_file())


def instruction_starts(path: Path) -> list[tuple[str, int]]:
    """(keyword, line) of the final stage's instructions, read without the parser under test:
    a line that is not blank, not a comment and not the continuation of the line before."""
    starts: list[tuple[str, int]] = []
    continued = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not continued:
            starts.append((stripped.split()[0].upper(), number))
        continued = stripped.endswith("\\")
    last_from = max(i for i, (keyword, _) in enumerate(starts) if keyword == "FROM")
    return starts[last_from:]


@pytest.mark.usefixtures("fixture_images")
@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_maps_fully(name: str, builder: str) -> None:
    path = FIXTURES / name / "Dockerfile"
    image = image_of(fixture_tag(name, builder))
    mapping = match_image(read_dockerfile(path), image)
    assert isinstance(mapping, DockerfileMapping), mapping
    starts = instruction_starts(path)
    expected = [line for keyword, line in starts[1:]]
    assert own_lines(mapping, image) == expected
    assert mapping.from_line.start_line == starts[0][1]
    for step in image.own_history:  # the kind of every step is its line's
        instruction = mapping.instruction_for_step(step.index)
        if instruction is not None:
            assert step.instruction == instruction.keyword, step.describe()
    # the fixture build's --label: a step of the classic builder, nothing of BuildKit's
    if builder == "classic":
        assert mapping.option_step == len(image.history) - 1
        assert image.history[-1].origin is Origin.OWN
    else:
        assert mapping.option_step is None
    assert mapping.config_source(ConfigField.LABELS, "io.imgaudit.fixture-hash") is None
    users = [line for keyword, line in starts if keyword == "USER"]
    user = mapping.config_source(ConfigField.USER)
    assert user is not None and user.start_line == (users[-1] if users else starts[0][1])
