"""The Dockerfile behind each step of an image's history, matched on in-memory histories worded
exactly as the classic builder and BuildKit word them (tests/dockerfile/test_engine.py checks
that wording against real builds)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from auditor.dockerfile import (
    Builder,
    ConfigField,
    DockerfileMapping,
    Mismatch,
    detect_dockerfile,
    match_history,
    match_image,
    parse_dockerfile,
)
from auditor.model.image import BaseBoundary, HistoryStep, Image, ImageConfig, Origin
from auditor.sources.history import make_steps

BASE = (
    "COPY rootfs/ / # buildkit",
    "RUN /bin/busybox --install -s /bin # buildkit",
    "LABEL org.opencontainers.image.title=busybox base",
    'CMD ["sh"]',
)


def history(own: Sequence[str], base: Sequence[str] = BASE) -> tuple[HistoryStep, ...]:
    """The base's steps then the image's own, origins set as a found base image sets them."""
    raw = [{"created_by": line, "empty_layer": "# buildkit" not in line}
           for line in (*base, *own)]
    return tuple(dataclasses.replace(step, origin=Origin.BASE if step.index < len(base)
                                     else Origin.OWN)
                 for step in make_steps(raw))


def mapped(text: str, own: Sequence[str], *, target: str | None = None,
           trust_origins: bool = True) -> DockerfileMapping:
    result = match_history(parse_dockerfile(text), history(own), target=target,
                           trust_origins=trust_origins)
    assert isinstance(result, DockerfileMapping), result
    return result


def mismatch(text: str, own: Sequence[str], *, trust_origins: bool = True) -> str:
    result = match_history(parse_dockerfile(text), history(own), trust_origins=trust_origins)
    assert isinstance(result, Mismatch), result
    return result.reason


def lines(mapping: DockerfileMapping) -> dict[int, int]:
    return {index: instruction.start_line for index, instruction in mapping.steps.items()}


APP = """\
FROM imgaudit-fixture/busybox-base:1
ARG APP_USER=app
ENV HOME=/home/${APP_USER} \\
    PORT=8080
RUN adduser -D $APP_USER && \\
    mkdir -p /srv/app
WORKDIR /srv/app
COPY --chown=1000:1000 app.sh ./
USER $APP_USER
EXPOSE $PORT
CMD ["/bin/sh", "app.sh"]
"""
APP_CLASSIC = (
    "/bin/sh -c #(nop)  ARG APP_USER=app",
    "/bin/sh -c #(nop)  ENV HOME=/home/app PORT=8080",
    "|1 APP_USER=app /bin/sh -c adduser -D $APP_USER &&     mkdir -p /srv/app",
    "/bin/sh -c #(nop) WORKDIR /srv/app",
    "/bin/sh -c #(nop) COPY --chown=1000:1000file:9f86d081884c7d659a2feaa0c55ad015 in ./ ",
    "/bin/sh -c #(nop)  USER app",
    "/bin/sh -c #(nop)  EXPOSE 8080",
    '/bin/sh -c #(nop)  CMD ["/bin/sh" "app.sh"]',
)
APP_BUILDKIT = (  # docker 20.10's BuildKit
    "ARG APP_USER=app",
    "ENV HOME=/home/app PORT=8080",
    "RUN |1 APP_USER=app /bin/sh -c adduser -D $APP_USER &&     mkdir -p /srv/app # buildkit",
    "WORKDIR /srv/app",
    "COPY app.sh ./ # buildkit",
    "USER app",
    "EXPOSE map[8080/tcp:{}]",
    'CMD ["/bin/sh" "app.sh"]',
)
APP_BUILDKIT_NEW = (  # BuildKit 0.12 and later record COPY's --chown and EXPOSE as a list
    "ARG APP_USER=app",
    "ENV HOME=/home/app PORT=8080",
    "RUN |1 APP_USER=app /bin/sh -c adduser -D $APP_USER &&     mkdir -p /srv/app # buildkit",
    "WORKDIR /srv/app",
    "COPY --chown=1000:1000 app.sh ./ # buildkit",
    "USER app",
    "EXPOSE [8080/tcp]",
    'CMD ["/bin/sh" "app.sh"]',
)
APP_LINES = {4: 2, 5: 3, 6: 5, 7: 7, 8: 8, 9: 9, 10: 10, 11: 11}


@pytest.mark.parametrize(("own", "builder"), [
    (APP_CLASSIC, Builder.CLASSIC),
    (APP_BUILDKIT, Builder.BUILDKIT),
    (APP_BUILDKIT_NEW, Builder.BUILDKIT),
])
def test_every_own_step_maps_to_its_line(own: Sequence[str], builder: Builder) -> None:
    mapping = mapped(APP, own)
    assert mapping.builder is builder
    assert lines(mapping) == APP_LINES
    assert mapping.first_step == 4 and mapping.notes == ()
    run = mapping.instruction_for_step(6)
    assert run is not None and (run.start_line, run.end_line) == (5, 6)
    assert run.location == "Dockerfile:5-6"
    assert mapping.instruction_for_step(3) is None  # the base image's CMD
    assert mapping.from_line.start_line == 1


def test_config_values_point_at_the_instruction_that_set_them_or_at_from() -> None:
    mapping = mapped(APP, APP_BUILDKIT)

    def line(config: ConfigField, key: str = "") -> int | None:
        found = mapping.config_source(config, key)
        return None if found is None else found.start_line

    assert line(ConfigField.USER) == 9
    assert line(ConfigField.WORKDIR) == 7
    assert line(ConfigField.CMD) == 11
    assert line(ConfigField.ENTRYPOINT) == 1  # none: the finding belongs on FROM
    assert line(ConfigField.HEALTHCHECK) == 1
    assert line(ConfigField.ENV, "HOME") == 3 and line(ConfigField.ENV, "PORT") == 3
    assert line(ConfigField.ENV, "PATH") == 1  # inherited
    assert line(ConfigField.EXPOSED_PORTS, "8080/tcp") == 10
    assert line(ConfigField.EXPOSED_PORTS) == 10
    assert line(ConfigField.EXPOSED_PORTS, "22/tcp") == 1
    assert line(ConfigField.LABELS, "org.opencontainers.image.title") == 1  # the base's
    assert line(ConfigField.LABELS, "built-by") is None  # set by no line anyone can show


def test_without_user_the_user_finding_goes_on_from() -> None:
    text = "FROM imgaudit-fixture/busybox-base:1\nWORKDIR /srv\nCMD [\"sh\"]\n"
    mapping = mapped(text, ("WORKDIR /srv", 'CMD ["sh"]'))
    source = mapping.config_source(ConfigField.USER)
    assert source is mapping.from_line and source.keyword == "FROM"


def test_a_build_arg_override_is_learned_from_the_steps_that_show_it() -> None:
    # docker build --build-arg APP_USER=web: the classic ARG step shows the default, every
    # other step the value used
    own = list(APP_CLASSIC)
    own[1] = "/bin/sh -c #(nop)  ENV HOME=/home/web PORT=8080"
    own[2] = "|1 APP_USER=web /bin/sh -c adduser -D $APP_USER &&     mkdir -p /srv/app"
    own[5] = "/bin/sh -c #(nop)  USER web"
    assert lines(mapped(APP, own)) == APP_LINES
    # ... and must be the same everywhere
    own[5] = "/bin/sh -c #(nop)  USER root"
    assert mismatch(APP, own) == "line 9 `USER $APP_USER` does not match history[9]: USER root"


def test_newer_buildkit_shows_the_override_in_the_arg_step() -> None:
    own = list(APP_BUILDKIT_NEW)
    own[0] = "ARG APP_USER=web"
    own[1] = "ENV HOME=/home/web PORT=8080"
    own[2] = own[2].replace("APP_USER=app", "APP_USER=web")
    own[5] = "USER web"
    assert lines(mapped(APP, own)) == APP_LINES


def test_the_classic_builders_label_option_step_has_no_line() -> None:
    own = (*APP_CLASSIC, "/bin/sh -c #(nop)  LABEL build=42 vcs-ref=abc")
    mapping = mapped(APP, own)
    assert lines(mapping) == APP_LINES
    assert mapping.option_step == 12 and mapping.instruction_for_step(12) is None
    assert mapping.config_source(ConfigField.LABELS, "vcs-ref") is None


def test_an_extra_step_maps_nothing() -> None:
    own = list(APP_BUILDKIT)
    own.insert(4, "RUN chmod 755 /srv/app # buildkit")
    # said where they part, read from the start of the image's own build
    assert mismatch(APP, own) == ("line 8 `COPY --chown=1000:1000 app.sh ./` does not match "
                                  "history[8]: RUN chmod 755 /srv/app")
    # a step missing at the end
    assert mismatch(APP, APP_BUILDKIT[:-1]) == (
        "line 11 `CMD [\"/bin/sh\", \"app.sh\"]` makes no step: the image's history ends "
        "before it")


def test_an_extra_own_step_before_the_dockerfiles_first_maps_nothing() -> None:
    own = ("RUN apk add --no-cache curl # buildkit", *APP_BUILDKIT)
    assert mismatch(APP, own) == (
        "history[4]: RUN apk add --no-cache curl is the image's own, but no instruction of "
        "stage 0 (line 1 `FROM imgaudit-fixture/busybox-base:1`) makes it")


def test_without_a_found_base_the_dockerfile_tells_where_the_base_ends() -> None:
    own = ("RUN apk add --no-cache curl # buildkit", *APP_BUILDKIT)
    mapping = mapped(APP, own, trust_origins=False)
    assert mapping.first_step == 5 and mapping.instruction_for_step(4) is None
    assert mapping.notes == ("history[4..4] come with the base image (line 1 `FROM "
                             "imgaudit-fixture/busybox-base:1`), though counted as own",)


def test_onbuild_triggers_the_base_recorded_ran_for_from() -> None:
    base = (*BASE, "/bin/sh -c #(nop)  ONBUILD RUN make /src",
            "/bin/sh -c #(nop)  ONBUILD USER app")
    own = ("/bin/sh -c make /src", "/bin/sh -c #(nop)  USER app", *APP_CLASSIC)
    result = match_history(parse_dockerfile(APP), history(own, base))
    assert isinstance(result, DockerfileMapping)
    assert lines(result) == {6: 1, 7: 1} | {index + 4: line for index, line in APP_LINES.items()}
    # another trigger than the base recorded is no FROM's
    other = ("/bin/sh -c make /other", "/bin/sh -c #(nop)  USER app", *APP_CLASSIC)
    assert isinstance(match_history(parse_dockerfile(APP), history(other, base)), Mismatch)


def test_a_dockerfile_with_more_steps_than_the_images_own_maps_nothing() -> None:
    # the first instruction repeats the base's last step: only the origins tell
    text = "FROM imgaudit-fixture/busybox-base:1\nCMD [\"sh\"]\nUSER app\n"
    assert mismatch(text, ("USER app",)) == (
        "line 2 `CMD [\"sh\"]` would explain history[3]: CMD [\"sh\"], which belongs to the "
        "base image")


def test_reordered_steps_map_nothing() -> None:
    own = list(APP_CLASSIC)
    own[5], own[6] = own[6], own[5]
    assert mismatch(APP, own) == (
        "line 9 `USER $APP_USER` does not match history[9]: EXPOSE 8080")


def test_other_content_maps_nothing() -> None:
    own = list(APP_BUILDKIT)
    own[2] = "RUN |1 APP_USER=app /bin/sh -c adduser -D $APP_USER # buildkit"
    assert mismatch(APP, own) == (
        "line 5 `RUN adduser -D $APP_USER && mkdir -p /srv/app` does not match history[6]: "
        "RUN adduser -D $APP_USER")


def test_too_few_steps_map_nothing() -> None:
    assert mismatch(APP, ("USER app",), trust_origins=False) == (
        "stage 0 (line 1 `FROM imgaudit-fixture/busybox-base:1`) makes 8 history steps, but "
        "the image has only 5")


def test_a_mismatch_reason_is_one_safe_line() -> None:
    text = "FROM a\nRUN echo hi\n"
    reason = mismatch(text, ("RUN /bin/sh -c printf '\x1b]0;pwned\x07'\necho hi # buildkit",))
    assert reason == ("line 2 `RUN echo hi` does not match history[4]: RUN printf "
                      "'\\x1b]0;pwned\\x07' echo hi")


def test_a_mismatch_reason_masks_secrets() -> None:
    text = "FROM a\nENV GITHUB_TOKEN=ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k\n"
    reason = mismatch(text, ("ENV GITHUB_TOKEN=ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9x",))
    assert "ghp_" not in reason and "GITHUB_TOKEN" in reason


MULTISTAGE = """\
FROM imgaudit-fixture/python-base:3.11 AS builder
WORKDIR /src
COPY requirements.txt ./
RUN pip install --prefix=/install -r requirements.txt

FROM imgaudit-fixture/python-base:3.11
COPY --from=builder /install /usr/local
WORKDIR /app
COPY main.py ./
CMD ["python", "main.py"]
"""
FINAL_BUILDKIT = (
    "COPY /install /usr/local # buildkit",
    "WORKDIR /app",
    "COPY main.py ./ # buildkit",
    'CMD ["python" "main.py"]',
)
FINAL_CLASSIC = (
    "/bin/sh -c #(nop) COPY dir:d595201ab66ace452c2b717c4185374864c6c8d5 in /usr/local ",
    "/bin/sh -c #(nop) WORKDIR /app",
    "/bin/sh -c #(nop) COPY file:fab8a9d153116ec8f61e62a3cae771ea7d62fb7f in ./ ",
    '/bin/sh -c #(nop)  CMD ["python" "main.py"]',
)
BUILDER_BUILDKIT = (
    "WORKDIR /src",
    "COPY requirements.txt ./ # buildkit",
    "RUN /bin/sh -c pip install --prefix=/install -r requirements.txt # buildkit",
)


@pytest.mark.parametrize("own", [FINAL_BUILDKIT, FINAL_CLASSIC])
def test_only_the_final_stage_explains_the_image(own: Sequence[str]) -> None:
    mapping = mapped(MULTISTAGE, own)
    assert lines(mapping) == {4: 7, 5: 8, 6: 9, 7: 10}
    assert {instruction.stage for instruction in mapping.steps.values()} == {1}
    assert mapping.from_line.start_line == 6
    copy = mapping.instruction_for_step(4)
    assert copy is not None and copy.flag("from") == "builder"


def test_a_build_stages_lines_are_never_blamed() -> None:
    # the image is the builder stage's output: the final stage does not explain it
    assert mismatch(MULTISTAGE, BUILDER_BUILDKIT) == (
        "line 7 `COPY --from=builder /install /usr/local` does not match history[3]: CMD [\"sh\"]")
    # unless the build said so (docker build --target builder)
    mapping = mapped(MULTISTAGE, BUILDER_BUILDKIT, target="builder")
    assert lines(mapping) == {4: 2, 5: 3, 6: 4}
    assert mapping.from_line.start_line == 1


def test_a_stage_built_from_an_earlier_stage_carries_its_lines() -> None:
    text = ("ARG BASE=imgaudit-fixture/busybox-base:1\n"
            "FROM ${BASE} AS common\n"
            "ARG TIER=web\n"
            "RUN mkdir /srv\n"
            "FROM common\n"
            "USER ${TIER:-nobody}\n")
    own_buildkit = ("ARG TIER=web", "RUN |1 TIER=web /bin/sh -c mkdir /srv # buildkit",
                    "USER web")  # BuildKit: the ARG carries over to the next stage
    own_classic = ("/bin/sh -c #(nop)  ARG TIER=web", "|1 TIER=web /bin/sh -c mkdir /srv",
                   "/bin/sh -c #(nop)  USER nobody")  # classic: it does not
    for own in (own_buildkit, own_classic):
        mapping = mapped(text, own)
        assert lines(mapping) == {4: 3, 5: 4, 6: 6}
        assert mapping.from_line.start_line == 5
    assert mismatch(text, (*own_buildkit[:2], "USER root")).startswith("line 6")


HEREDOCS = """\
FROM imgaudit-fixture/busybox-base:1
RUN <<EOF
apk add curl
rm -rf /var/cache/apk
EOF
RUN <<EOF
#!/bin/sh
echo script
EOF
RUN <<EOF cat > /etc/motd
hello
EOF
COPY <<CONF /etc/app.conf
port=80
CONF
"""


def test_heredocs_as_buildkit_runs_them() -> None:
    own = (
        "RUN /bin/sh -c apk add curl\nrm -rf /var/cache/apk\n # buildkit",
        "RUN /dev/pipes/EOF # buildkit",  # a script with a shebang runs without the shell
        "RUN /bin/sh -c <<EOF cat > /etc/motd\nhello\nEOF # buildkit",
        "COPY <<CONF /etc/app.conf # buildkit",
    )
    mapping = mapped(HEREDOCS, own)
    assert {i: (s.start_line, s.end_line) for i, s in mapping.steps.items()} == {
        4: (2, 5), 5: (6, 9), 6: (10, 12), 7: (13, 15)}


EXEC = "FROM imgaudit-fixture/busybox-base:1\nARG V=1\nRUN [\"/bin/echo\", \"exec\", \"$V\"]\n"


@pytest.mark.parametrize("own", [
    ("/bin/sh -c #(nop)  ARG V=1", "|1 V=1 /bin/echo exec $V"),
    ("ARG V=1", "RUN |1 V=1 /bin/echo exec $V # buildkit"),
])
def test_exec_form_run(own: Sequence[str]) -> None:
    assert lines(mapped(EXEC, own)) == {4: 2, 5: 3}


def test_exec_form_is_not_shell_form() -> None:
    shell = EXEC.replace('["/bin/echo", "exec", "$V"]', "/bin/echo exec $V")
    assert mismatch(shell, ("ARG V=1", "RUN |1 V=1 /bin/echo exec $V # buildkit")).startswith(
        "line 3 `RUN /bin/echo exec $V` does not match history[5]")


def test_run_mount_flags_are_not_recorded() -> None:
    text = ("FROM imgaudit-fixture/busybox-base:1\n"
            "RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt\n")
    own = ("RUN /bin/sh -c pip install -r requirements.txt # buildkit",)
    assert lines(mapped(text, own)) == {4: 2}


SHELLS = """\
FROM imgaudit-fixture/busybox-base:1
SHELL ["/bin/sh", "-ec"]
RUN echo hi
ONBUILD RUN echo child
ENTRYPOINT echo start
"""


def test_shell_changes_how_both_builders_record() -> None:
    classic = (
        "/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]",
        "/bin/sh -ec echo hi",
        "/bin/sh -ec #(nop)  ONBUILD RUN echo child",
        '/bin/sh -ec #(nop)  ENTRYPOINT ["/bin/sh" "-ec" "echo start"]',
    )
    buildkit = (  # BuildKit records no ONBUILD
        "SHELL [/bin/sh -ec]",
        "RUN /bin/sh -ec echo hi # buildkit",
        'ENTRYPOINT ["/bin/sh" "-ec" "echo start"]',
    )
    assert lines(mapped(SHELLS, classic)) == {4: 2, 5: 3, 6: 4, 7: 5}
    mapping = mapped(SHELLS, buildkit)
    assert lines(mapping) == {4: 2, 5: 3, 6: 5}
    cmd = mapping.config_source(ConfigField.CMD)
    assert cmd is not None and cmd.keyword == "ENTRYPOINT"  # it reset the base's CMD


def test_escape_directive_and_continuations() -> None:
    text = ("# escape=`\n"
            "FROM imgaudit-fixture/busybox-base:1\n"
            "ENV DIR=C:\\app `\n"
            "    MODE=prod\n"
            "RUN echo $DIR `\n"
            "    && echo done\n")
    own = ("ENV DIR=C:\\app MODE=prod", "RUN /bin/sh -c echo $DIR     && echo done # buildkit")
    assert {i: (s.start_line, s.end_line) for i, s in mapped(text, own).steps.items()} == {
        4: (3, 4), 5: (5, 6)}


def test_workdir_is_recorded_resolved() -> None:
    text = ("FROM imgaudit-fixture/busybox-base:1\nWORKDIR app\nWORKDIR ../srv/./x\n"
            "WORKDIR $HOME/y\n")
    own = ("WORKDIR /app", "WORKDIR /srv/x", "WORKDIR /root/y")  # HOME is the base image's
    mapping = mapped(text, own)
    assert lines(mapping) == {4: 2, 5: 3, 6: 4}
    workdir = mapping.config_source(ConfigField.WORKDIR)
    assert workdir is not None and workdir.start_line == 4
    assert mismatch(text, ("WORKDIR /app", "WORKDIR /other/x", "WORKDIR /root/y")).startswith(
        "line 3 `WORKDIR ../srv/./x`")


def test_a_base_image_variable_is_learned_once() -> None:
    text = ("FROM imgaudit-fixture/python-base:3.11\n"
            "ENV PATH=/opt/venv/bin:$PATH\n"
            "LABEL path=$PATH\n")
    own = ("ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
           "LABEL path=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin")
    assert lines(mapped(text, own)) == {4: 2, 5: 3}
    wrong = (own[0], "LABEL path=/opt/venv/bin:/usr/bin")
    assert mismatch(text, wrong).startswith("line 3 `LABEL path=$PATH`")


METADATA = """\
FROM imgaudit-fixture/busybox-base:1
MAINTAINER someone <a@example.com>
LABEL a=1 "b c"=2
VOLUME /data
VOLUME ["/d1", "/d2"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD wget -q -O- http://localhost:8080/health || exit 1
EXPOSE 80 8443/udp 9000-9001
"""


@pytest.mark.parametrize("own", [
    (  # classic
        "/bin/sh -c #(nop)  MAINTAINER someone <a@example.com>",
        "/bin/sh -c #(nop)  LABEL a=1 b c=2",
        "/bin/sh -c #(nop)  VOLUME [/data]",
        "/bin/sh -c #(nop)  VOLUME [/d1 /d2]",
        "/bin/sh -c #(nop)  STOPSIGNAL SIGTERM",
        '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "wget -q -O- '
        "http://localhost:8080/health || exit 1\"] \"5s\" \"0s\" \"0s\" '\\x00'}",
        "/bin/sh -c #(nop)  EXPOSE 80 8443/udp 9000-9001",
    ),
    (  # BuildKit 0.12 and later
        "MAINTAINER someone <a@example.com>",
        "LABEL a=1 b c=2",
        "VOLUME [/data]",
        "VOLUME [/d1 /d2]",
        "STOPSIGNAL SIGTERM",
        "HEALTHCHECK {Test:[CMD-SHELL wget -q -O- http://localhost:8080/health || exit 1] "
        "Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}",
        "EXPOSE [80/tcp 8443/udp 9000/tcp 9001/tcp]",
    ),
])
def test_metadata_instructions(own: Sequence[str]) -> None:
    mapping = mapped(METADATA, own)
    assert lines(mapping) == {4: 2, 5: 3, 6: 4, 7: 5, 8: 6, 9: 7, 10: 8}
    for config, key, line in [(ConfigField.LABELS, "b c", 3), (ConfigField.VOLUMES, "/d2", 5),
                              (ConfigField.STOPSIGNAL, "", 6), (ConfigField.HEALTHCHECK, "", 7),
                              (ConfigField.EXPOSED_PORTS, "9001/tcp", 8)]:
        found = mapping.config_source(config, key)
        assert found is not None and found.start_line == line, (config, key)


def test_another_health_check_maps_nothing() -> None:
    own = ("HEALTHCHECK {Test:[CMD-SHELL true] Interval:5s}",)
    text = "FROM imgaudit-fixture/busybox-base:1\nHEALTHCHECK CMD false\n"
    assert mismatch(text, own).startswith("line 2 `HEALTHCHECK CMD false` does not match")


def test_a_history_of_another_builder_style_is_named() -> None:
    text = "FROM imgaudit-fixture/busybox-base:1\nUSER app\n"
    assert mismatch(text, ("/bin/sh -c #(nop)  USER root",)) == (
        "line 2 `USER app` does not match history[4]: USER root (a step of the classic builder)")


# ----------------------------------------------------------------------------- with an Image


def image(own: Sequence[str], method: str = "local-image") -> Image:
    steps = history(own)
    boundary = BaseBoundary(own_from_layer=3, own_from_history=len(BASE), method=method,
                            evidence="test")
    if method == "history":  # a guess that put the boundary one step late
        steps = tuple(dataclasses.replace(s, origin=Origin.BASE if s.index <= len(BASE)
                                          else Origin.OWN) for s in steps)
    return Image(reference="app:1", id="sha256:" + "0" * 64, config=ImageConfig(),
                 history=steps, layers=(), boundary=boundary, size=0)


def test_a_guessed_base_boundary_is_not_trusted() -> None:
    dockerfile = parse_dockerfile(APP)
    result = match_image(dockerfile, image(APP_BUILDKIT, method="history"))
    assert isinstance(result, DockerfileMapping)
    assert result.notes == ("history[4..4] are counted as the base image's, though the "
                            "Dockerfile makes them",)


def test_detection_uses_a_dockerfile_only_when_it_matches(tmp_path: Path) -> None:
    candidate = tmp_path / "Dockerfile"
    missing = detect_dockerfile(candidate, image(APP_BUILDKIT))
    assert isinstance(missing, Mismatch) and missing.reason == "no such file"
    candidate.write_text("FROM a\nFOO bar\n")
    broken = detect_dockerfile(candidate, image(APP_BUILDKIT))
    assert isinstance(broken, Mismatch)
    assert broken.reason == f"{candidate}:2: unknown instruction FOO"
    candidate.write_text(APP.replace("USER $APP_USER", "USER nobody"))
    other = detect_dockerfile(candidate, image(APP_BUILDKIT))
    assert isinstance(other, Mismatch)
    assert str(other) == (f"{candidate} does not match the image's history: line 9 "
                          "`USER nobody` does not match history[9]: USER app")
    candidate.write_text(APP)
    found = detect_dockerfile(candidate, image(APP_BUILDKIT))
    assert isinstance(found, DockerfileMapping) and lines(found) == APP_LINES
    assert found.steps[10].path == str(candidate)
