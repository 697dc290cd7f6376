"""Findings located on their fixture Dockerfile's lines, on every fixture image built with both
builders: for each rule that fires, the line is the one this file names by its text (found by
searching the Dockerfile, not by the mapper); base-image findings get none; no line of a build
stage is ever blamed."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import audit
from auditor.dockerfile import open_dockerfile
from auditor.model.image import Origin
from auditor.model.policy import Limits, Policy
from auditor.model.report import ImageReport
from tests.support.engine import fixture_tag

pytestmark = pytest.mark.engine

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "images"
BUILDERS = ("classic", "buildkit")

# fixture -> rule -> the start of each line its own findings must point at (the final stage's)
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "context-copy": {"IA401": ("COPY . .",), "IA402": ("COPY . .",), "IA403": ("COPY . .",)},
    "demo-bad": {
        "IA201": ("FROM ",),  # no USER at all: fixed below FROM
        "IA302": ("RUN mkdir -p /root/.cache/pip/http",),  # the first of the RUNs
        "IA401": ("COPY . /app",), "IA402": ("COPY . /app",), "IA403": ("COPY . /app",),
        "IA601": ("FROM ",), "IA701": ("FROM ",),
        "IA901": ("RUN mkdir -p /root/.cache/pip/http",),
        "IA1002": ("CMD sh /app/serve.sh",),
        "IA1101": ("ENV DEPLOY_TOKEN=",),
        "IA1205": ("RUN chmod 666 /var/log/app/app.log",),
    },
    "demo-good": {},
    "low-port": {"IA702": ("EXPOSE 80",)},
    "many-layers": {
        "IA301": ("COPY app.sh ./",),  # the last step that adds a layer
        "IA302": ('RUN echo "$APP_USER:x:10001:10001',),
    },
    "missing-user": {"IA202": ("USER ghost",)},
    "multistage": {"IA801": ("COPY --from=builder /install /usr/local",)},
    "no-cmd": {"IA1001": ("FROM ",)},  # CMD inherited from the base
    "no-expose": {"IA701": ("FROM ",)},
    "no-workdir": {"IA601": ("FROM ",)},
    "npm-cache": {"IA903": ("RUN cache=/home/$APP_USER/.npm/_cacache",)},
    "numeric-user": {},
    "pb-apt-steps": {"IA302": (), "IA1402": ("RUN apt-get update",),  # IA302 by builder, below
                     "IA1403": ("RUN apt-get -y dist-upgrade",)},
    # the kubeconfig a later RUN deleted is still in its layer; the .npmrc names ${NPM_TOKEN} only
    "pb-credentials": {"IA1104": ("COPY aws/ /root/.aws/", "COPY docker/config.json",
                                  "COPY kubeconfig")},
    "pb-dnf-cache": {"IA302": ("RUN dnf install -y curl",), "IA902": ("RUN dnf install -y curl",)},
    "pb-user-code": {"IA1206": ("COPY --chown=10001:10001 app.sh lib.sh ./",)},
    "pb-world-writable": {"IA1205": ("RUN chmod -R 777",)},
    "zero-log": {"IA101": ('RUN echo "${USER_NAME}:x:8388608',),  # 256 MiB of zeros is large
                 "IA404": ('RUN echo "${USER_NAME}:x:8388608',),
                 "IA1002": ("CMD [",)},
    "zero-log-fixed": {"IA1002": ("CMD [",)},
    "pa-add": {"IA1401": ("ADD app.conf ./", "ADD static/ ./static/")},
    "pa-empty-password": {"IA1202": ('RUN echo "$APP_USER:x:10001',)},
    "pa-healthcheck": {},
    "pa-healthcheck-inherited": {},  # the HEALTHCHECK came with the base
    "pa-healthcheck-none": {},
    "pa-setuid": {"IA1201": ('RUN echo "$APP_USER:x:10001',)},
    "pa-shared-ids": {"IA1203": ('RUN echo "$APP_USER:x:10001',)},
    "pa-sudo": {"IA1204": ("COPY sudo /usr/bin/sudo", 'RUN echo "$APP_USER:x:10001',
                           "RUN sudo mkdir")},
    "pa-volume": {"IA1302": ('VOLUME ["/data", "/sys/fs/cgroup"]',)},
    "on-toolchain": {},  # the toolchain came with the base image: no line of this Dockerfile
    "os-cache": {"IA902": ("RUN mkdir -p /var/lib/apt/lists/partial",)},
    "pip-cache-deleted": {"IA302": ("RUN pip install --user",), "IA901": ("RUN pip install",)},
    "pip-root-cache": {"IA801": ("RUN pip install",), "IA901": ("RUN pip install",)},
    "pip-venv": {},
    "release-v1": {"IA201": ("FROM ",), "IA403": ("COPY tests/ ./tests/",),
                   "IA1002": ("CMD /bin/sh /srv/app/app.sh",)},
    "release-v2": {"IA401": ("COPY .env ./",), "IA403": ("COPY tests/ ./tests/",),
                   "IA1002": ("CMD /bin/sh /srv/app/app.sh",)},
    "root-user": {"IA201": ("FROM ",)},  # USER root inherited: no USER line of its own
    "secrets": {
        "IA302": ('RUN echo "//registry.npmjs.org',),  # BuildKit's steps only (see below)
        "IA502": ("ARG NPM_TOKEN=", 'RUN echo "//registry.npmjs.org', "RUN curl -fsSL"),
        "IA1101": ("ENV DB_PASSWORD=",),
        "IA1102": ("LABEL org.example.ci.deploy-token=",),
        "IA1103": ("RUN curl -fsSL",),
    },
    "seed": {},
    "shell-cmd": {"IA1002": ("CMD python3 main.py",)},
    "ssh-port": {"IA201": ("FROM ",), "IA703": ("EXPOSE 22",)},
    "toolchain": {"IA103": ("RUN mkdir -p /usr/bin /usr/include",)},
    "uid0-alias": {"IA201": ("USER $APP_USER",), "IA1203": ('RUN echo "$APP_USER:x:0:0',)},
    "user-hardcoded": {"IA501": ('RUN echo "appuser:x:10001',)},
}
# Rules that fire with one builder only (the classic builder's ARG step splits the RUNs).
ONE_BUILDER = {("secrets", "IA302"): "buildkit"}
# Where the builders differ: the classic builder gives each RUN that changed nothing a layer, so
# only the last two of pb-apt-steps' RUNs are consecutive layer steps there; BuildKit's are five.
BY_BUILDER = {("pb-apt-steps", "IA302"): {"classic": ('RUN echo "remember',),
                                          "buildkit": ("RUN apt-get update",)}}
# The fixtures with a HEALTHCHECK (their own, or inherited); every other one lacks it, which is
# found on its FROM line (IA1301).
HEALTHY = frozenset({"pa-healthcheck", "pa-healthcheck-inherited", "pa-healthcheck-none"})


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "Dockerfile").is_file())


def final_stage(text: str) -> tuple[int, list[str]]:
    """The 1-based number of the last FROM line, and every line of the file."""
    lines = text.splitlines()
    last = max(n for n, line in enumerate(lines, 1) if line.strip().upper().startswith("FROM "))
    return last, lines


def lines_of(text: str, start: str) -> tuple[int, int]:
    """The lines of the one instruction of the final stage whose first line starts with
    `start` (or is `start` exactly, when several start so): its first, and its last (following
    `\\` continuations)."""
    first_line, lines = final_stage(text)
    found = [n for n, line in enumerate(lines, 1)
             if n >= first_line and line.strip().startswith(start)]
    exact = [n for n in found if lines[n - 1].strip() == start]
    if len(found) > 1 and len(exact) == 1:
        found = exact
    assert len(found) == 1, f"{start!r} starts {len(found)} lines of the final stage"
    end = found[0]
    while lines[end - 1].rstrip().endswith("\\"):
        end += 1
    return found[0], end


def report(name: str, builder: str, policy: Policy | None = None) -> ImageReport:
    choice = open_dockerfile(FIXTURES / name / "Dockerfile")
    result = audit([fixture_tag(name, builder)], policy=policy, dockerfiles=[choice])
    assert not result.failures, result.failures
    item = result.images[0]
    assert item.dockerfile is not None and item.dockerfile.matched, item.dockerfile
    return item


def test_every_practice_is_covered() -> None:
    practices = {rule[2:-2] for rules in EXPECTED.values() for rule in rules}
    # the ten practices, secrets, and the peers' checks (12-14)
    assert practices == {str(n) for n in range(1, 15)}


@pytest.mark.usefixtures("fixture_images")
@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", fixture_names())
def test_each_finding_is_on_its_line(name: str, builder: str) -> None:
    text = (FIXTURES / name / "Dockerfile").read_text()
    item = report(name, builder)
    found: dict[str, set[tuple[int, int]]] = {}
    for scored in item.findings:
        finding = scored.finding
        if finding.origin is Origin.BASE:
            assert finding.source is None, finding
            continue
        assert finding.source is not None, finding
        assert finding.source.path.endswith(f"fixtures/images/{name}/Dockerfile")
        found.setdefault(finding.rule, set()).add(
            (finding.source.start_line, finding.source.end_line))
    expected = {
        rule: {lines_of(text, start)
               for start in BY_BUILDER.get((name, rule), {}).get(builder, starts)}
        for rule, starts in EXPECTED[name].items()
        if ONE_BUILDER.get((name, rule), builder) == builder
    }
    if name not in HEALTHY:
        expected["IA1301"] = {lines_of(text, "FROM ")}
    assert found == expected


@pytest.mark.usefixtures("fixture_images")
@pytest.mark.parametrize("builder", BUILDERS)
def test_size_findings_on_the_from_line_and_the_largest_step(builder: str) -> None:
    # limits no fixture reaches by default: a heavy base is fixed on FROM, the own layers' size
    # on the step that made the largest, the whole image's size on no line at all
    tight = Policy(limits=Limits(max_size=1000, max_own_size=1000, max_base_size=1000))
    text = (FIXTURES / "release-v2" / "Dockerfile").read_text()
    item = report("release-v2", builder, tight)
    lines = {(s.rule.id, s.finding.layer is not None):
             None if s.finding.source is None else s.finding.source.start_line
             for s in item.findings if s.rule.id in ("IA101", "IA102")}
    assert lines == {
        ("IA101", False): None,  # the image's size: no one line made it
        ("IA101", True): lines_of(text, "RUN dd if=/dev/zero")[0],  # 256 kB, the largest
        ("IA102", True): lines_of(text, "FROM ")[0],
    }


@pytest.mark.usefixtures("fixture_images")
@pytest.mark.parametrize("builder", BUILDERS)
def test_no_line_of_a_build_stage_is_blamed(builder: str) -> None:
    text = (FIXTURES / "multistage" / "Dockerfile").read_text()
    final_from, _ = final_stage(text)
    # every limit tightened, so that as many rules as can fire do
    tight = Policy(limits=Limits(max_size=1000, max_own_size=1000, max_base_size=1000,
                                 max_own_layers=1))
    item = report("multistage", builder, tight)
    located = [s.finding for s in item.findings if s.finding.source is not None]
    assert {f.rule for f in located} >= {"IA101", "IA102", "IA301", "IA801"}
    for finding in located:
        assert finding.source is not None
        assert finding.source.start_line >= final_from, finding
    # the packages were installed by the build stage's RUN pip, but copied by the final stage
    ia801 = next(f for f in located if f.rule == "IA801")
    assert ia801.source is not None
    assert ia801.source.instruction == "COPY --from=builder /install /usr/local"
