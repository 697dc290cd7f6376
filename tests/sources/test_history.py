"""History read as Dockerfile steps, whichever builder wrote it; how far it can be trusted; and
where the base image ends."""

from __future__ import annotations

import pytest

from auditor.model.image import HistoryQuality, Origin
from auditor.sources.history import (
    choose_boundary,
    heuristic_boundary,
    link_layers,
    make_steps,
    parse_created_by,
    synthetic_builder,
)
from tests.support.factory import ImageSpec, Step, base_steps, build, buildkit, file, good, nop

# Lines exactly as FIXTURES.md lists them, and what they mean.
CLASSIC = [
    ("/bin/sh -c #(nop)  EXPOSE 8000", "EXPOSE", "8000", ()),
    ("/bin/sh -c #(nop) WORKDIR /myapp", "WORKDIR", "/myapp", ()),
    ('/bin/sh -c #(nop)  CMD ["python3" "main.py"]', "CMD", '["python3" "main.py"]', ()),
    ("|1 USER_NAME=myuser /bin/sh -c adduser -D $USER_NAME", "RUN", "adduser -D $USER_NAME",
     (("USER_NAME", "myuser"),)),
    ("/bin/sh -c #(nop) COPY multi:4b1be1de1a1e in ./", "COPY", "multi:4b1be1de1a1e in ./", ()),
    ("/bin/sh -c #(nop) COPY file:9c0e2f1f0bdf in /app/main.py", "COPY",
     "file:9c0e2f1f0bdf in /app/main.py", ()),
    ("/bin/sh -c #(nop) COPY dir:5e6d7f8091a2 in ./", "COPY", "dir:5e6d7f8091a2 in ./", ()),
    ("/bin/sh -c #(nop)  ARG USER_NAME=myuser", "ARG", "USER_NAME=myuser", ()),
    ("/bin/sh -c #(nop) ADD file:e0c5a2d1f9 in / ", "ADD", "file:e0c5a2d1f9 in /", ()),
    ("/bin/sh -c #(nop)  USER myuser", "USER", "myuser", ()),
    ("/bin/sh -c pip install --user --no-cache-dir -r requirements.txt", "RUN",
     "pip install --user --no-cache-dir -r requirements.txt", ()),
]
BUILDKIT = [
    ("EXPOSE map[8000/tcp:{}]", "EXPOSE", "map[8000/tcp:{}]", ()),
    ("WORKDIR /myapp", "WORKDIR", "/myapp", ()),
    ('CMD ["python3" "main.py"]', "CMD", '["python3" "main.py"]', ()),
    ("ARG USER_NAME=myuser", "ARG", "USER_NAME=myuser", ()),
    ("RUN |1 USER_NAME=myuser /bin/sh -c adduser -D $USER_NAME # buildkit", "RUN",
     "adduser -D $USER_NAME", (("USER_NAME", "myuser"),)),
    ("COPY requirements.txt main.py ./ # buildkit", "COPY", "requirements.txt main.py ./", ()),
    ("RUN /bin/sh -c pip install --user -r requirements.txt # buildkit", "RUN",
     "pip install --user -r requirements.txt", ()),
    ("USER myuser", "USER", "myuser", ()),
    ("ENV PATH=/usr/local/bin:/usr/bin", "ENV", "PATH=/usr/local/bin:/usr/bin", ()),
]
OTHERS = [
    # exec-form RUN: no shell, as the classic builder and BuildKit record it
    ("/bin/busybox --install -s /bin", "RUN", "/bin/busybox --install -s /bin", ()),
    ('RUN /bin/busybox --install -s /bin # buildkit', "RUN", "/bin/busybox --install -s /bin",
     ()),
    ("|1 USER_NAME=myuser /bin/busybox --install -s /bin", "RUN",
     "/bin/busybox --install -s /bin", (("USER_NAME", "myuser"),)),
    ("|2 USER_NAME=myuser UID=10001 /bin/sh -c echo $UID", "RUN", "echo $UID",
     (("USER_NAME", "myuser"), ("UID", "10001"))),
    ("RUN |2 A=1 B= /bin/sh -c true # buildkit", "RUN", "true", (("A", "1"), ("B", ""))),
    ("/bin/bash -c set -o pipefail && make", "RUN", "set -o pipefail && make", ()),
    ("", "", "", ()),
    ("   ", "", "", ()),
    ("/bin/sh -c #(nop)  something odd", "", "something odd", ()),
]


@pytest.mark.parametrize(("line", "instruction", "body", "build_args"),
                         [*CLASSIC, *BUILDKIT, *OTHERS])
def test_parse_created_by(line: str, instruction: str, body: str,
                          build_args: tuple[tuple[str, str], ...]) -> None:
    parsed = parse_created_by(line)
    assert (parsed.instruction, parsed.body, parsed.build_args) == (instruction, body, build_args)


def test_make_steps_reads_config_style_entries() -> None:
    steps = make_steps([
        {"created_by": "/bin/sh -c #(nop)  EXPOSE 8000", "empty_layer": True},
        {"created_by": "COPY . ./ # buildkit", "comment": "buildkit.dockerfile.v0",
         "created": "2024-01-01T00:00:00Z"},
        {"created_by": None, "empty_layer": None, "comment": None},
        {},
    ])
    assert [(s.index, s.instruction, s.empty_layer) for s in steps] == [
        (0, "EXPOSE", True), (1, "COPY", False), (2, "", False), (3, "", False)]
    assert steps[1].comment == "buildkit.dockerfile.v0"
    assert steps[1].created == "2024-01-01T00:00:00Z"
    assert steps[2].created_by == "" and steps[2].comment == ""


# ----------------------------------------------------------------------------- layers and trust


def test_steps_are_tied_to_their_layers() -> None:
    image = build(good())
    assert image.history_quality is HistoryQuality.OK and image.history_note == ""
    producing = [s for s in image.history if not s.empty_layer]
    assert [s.layer for s in producing] == [1, 2, 3, 4, 5, 6]
    assert all(s.layer is None for s in image.history if s.empty_layer)
    assert [layer.history_index for layer in image.layers] == [s.index for s in producing]


def test_missing_history() -> None:
    image = build(ImageSpec(history=[]))
    assert image.history == ()
    assert image.history_quality is HistoryQuality.MISSING
    assert "no history" in image.history_note
    assert image.boundary.method == "none" and image.boundary.own_from_layer == 1
    assert all(layer.origin is Origin.OWN and layer.history_index is None
               for layer in image.layers)


def test_history_that_does_not_match_the_layer_count() -> None:
    entries = good().history_entries()
    user = next(e for e in entries if e["created_by"].endswith("USER myuser"))
    user["empty_layer"] = False  # claims a layer it never added
    image = build(ImageSpec(history=entries))
    assert image.history_quality is HistoryQuality.INCONSISTENT
    assert "7 layer-producing steps for 6 layers" in image.history_note
    assert image.boundary.method == "none"
    assert all(layer.history_index is None for layer in image.layers)
    assert all(step.layer is None for step in image.history)


SYNTHETIC = [
    pytest.param([{"created_by": "jib-maven-plugin:3.4.0", "comment": "classes"}] * 6, "jib",
                 id="jib"),
    pytest.param([{"created_by": "bazel build ...", "created": "1970-01-01T00:00:00Z"}] * 6,
                 "bazel", id="bazel"),
    pytest.param([{"created_by": "ko build ko://example.com/app", "created": "0001-01-01"}] * 6,
                 "ko", id="ko"),
    pytest.param([{"created_by": "nix", "comment": "store paths: ['/nix/store/abc-python']"}] * 6,
                 "nix", id="nix"),
    pytest.param([{"created_by": "merge sha256:abc to sha256:def"}] * 6, "squash",
                 id="squash"),
    pytest.param([{"created": "1970-01-01T00:00:01Z"}] * 6, "epoch", id="epoch-only"),
]


@pytest.mark.parametrize(("history", "builder"), SYNTHETIC)
def test_synthetic_history_is_recognised(history: list[dict[str, str]], builder: str) -> None:
    image = build(ImageSpec(history=history))
    assert image.history_quality is HistoryQuality.SYNTHETIC
    assert builder in image.history_note
    assert image.boundary.method == "none"
    steps = make_steps(history)
    assert builder in synthetic_builder(steps) or builder == "epoch"


def test_a_dockerfile_step_that_mentions_a_tool_is_not_synthetic() -> None:
    spec = good().adding(Step("/bin/sh -c mvn -Pjib package && nix-env -i hello",
                              (file("app/app.jar", "x"),)))
    assert build(spec).history_quality is HistoryQuality.OK
    bk = good().adding(buildkit("RUN /bin/sh -c ko build ./cmd # buildkit", file("ko/x", "x")))
    assert build(bk).history_quality is HistoryQuality.OK


# ----------------------------------------------------------------------------- the base boundary


def test_heuristic_boundary_is_after_the_last_base_cmd() -> None:
    image = build(good())
    assert image.boundary.method == "history"
    assert image.boundary.own_from_history == len(base_steps())
    assert image.boundary.own_from_layer == 3
    assert "history[5]: CMD" in image.boundary.evidence
    assert [layer.origin for layer in image.layers] == [Origin.BASE] * 2 + [Origin.OWN] * 4
    assert all(step.origin is Origin.BASE for step in image.history[:6])
    assert all(step.origin is Origin.OWN for step in image.history[6:])


def test_a_cmd_after_the_last_layer_is_the_image_own() -> None:
    steps = make_steps([
        {"created_by": "/bin/sh -c #(nop) ADD file:x in /"},
        {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    ])
    assert heuristic_boundary(steps) is None
    image = build(ImageSpec(base=(), own=(Step("ADD file:x in /", (file("a"),)),)))
    assert image.boundary.method == "none"
    assert image.boundary.evidence.startswith("no base image found")


def test_the_label_names_the_base_the_history_found() -> None:
    spec = good().configured(Labels={"org.opencontainers.image.base.name": "python:3.9-alpine"})
    image = build(spec)
    assert image.boundary.method == "label"
    assert image.boundary.base_reference == "python:3.9-alpine"
    assert "label names python:3.9-alpine" in image.boundary.evidence


def test_a_known_base_wins_over_the_heuristic() -> None:
    image = build(good(), known_base=("python:3.9-alpine", 1, None, "option"))
    assert image.boundary.own_from_layer == 2
    assert image.boundary.own_from_history == 1  # after the step of layer 1
    assert image.boundary.method == "option" and "--base" in image.boundary.evidence
    other = build(good(), known_base=("python:3.9-alpine", 2, 6, "local-image"))
    assert (other.boundary.own_from_layer, other.boundary.own_from_history) == (3, 6)
    assert "local image" in other.boundary.evidence


def test_untrusted_history_has_no_heuristic_base() -> None:
    steps = make_steps(good().history_entries())
    steps, layer_to_step, quality, _ = link_layers(steps, 5)
    assert quality is HistoryQuality.INCONSISTENT
    boundary = choose_boundary(steps, layer_to_step, quality, {}, None)
    assert boundary.method == "none" and "history cannot tell" in boundary.evidence


def test_the_boundary_evidence_masks_a_secret_in_the_base_cmd() -> None:
    base = (*base_steps()[:-1], nop('CMD ["app", "--token=s3cr3t-value-here"]'))
    image = build(ImageSpec(base=base))
    assert image.boundary.method == "history"
    assert "s3cr3t-value-here" not in image.boundary.evidence
