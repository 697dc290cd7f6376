"""The fixes together, as `imgaudit fix` plans them: they compose on one draft, keep the file's
escape character and line endings, and leave advice, secret values masked, for the rest."""

from __future__ import annotations

import dataclasses

from auditor.fix import Target
from auditor.model.findings import Waiver
from auditor.model.image import Origin
from tests.support.fix_images import audited, context, file, folder, found

DEMO = """\
# A hurried image.
FROM base:1
ENV DEPLOY_TOKEN=ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k
COPY . /app
RUN mkdir -p /root/.cache/pip/http && dd if=/dev/zero of=/root/.cache/pip/http/blob bs=1k
RUN mkdir -p /var/log/app
RUN touch /var/log/app/app.log
CMD sh /app/serve.sh
"""
LAYERS = {
    4: [folder("app"), file("app/serve.sh"), file("app/.env"), file("app/.git/HEAD"),
        file("app/Dockerfile"), file("app/tests/test_serve.sh")],
    5: [file("root/.cache/pip/http/blob", 1_500_000)],
    6: [folder("var/log/app")],
    7: [file("var/log/app/app.log")],
}
FINDINGS = [
    found("IA1101", message="Env DEPLOY_TOKEN holds a GitHub token",
          evidence="config.Env: DEPLOY_TOKEN=********"),
    found("IA201"), found("IA401", 4, "app/.env"), found("IA402", 4, "app/.git"),
    found("IA403", 4, "app/Dockerfile"), found("IA403", 4, "app/tests/test_serve.sh"),
    found("IA901", 5, "root/.cache/pip"), found("IA302", 5), found("IA601"), found("IA1002"),
    found("IA701", message="no port is exposed"),
    found("IA102", message="the base is heavy", origin=Origin.BASE),
]
CONTEXT = context("Dockerfile", "serve.sh", ".env", ".git/HEAD", "tests/test_serve.sh")


def test_every_fix_on_one_dockerfile() -> None:
    audit = audited(DEMO, layers=LAYERS, findings=FINDINGS)
    assert audit.fixed(CONTEXT) == """\
# A hurried image.
FROM base:1
ENV DEPLOY_TOKEN=ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k
COPY . /app
ARG USER_NAME=app
RUN mkdir -p /root/.cache/pip/http && dd if=/dev/zero of=/root/.cache/pip/http/blob bs=1k && \\
    rm -rf /root/.cache/pip && \\
    mkdir -p /var/log/app && \\
    touch /var/log/app/app.log && \\
    echo "$USER_NAME:x:10001:10001::/home/$USER_NAME:/bin/sh" >> /etc/passwd && \\
    echo "$USER_NAME:x:10001:" >> /etc/group && \\
    mkdir -p "/home/$USER_NAME" && chown 10001:10001 "/home/$USER_NAME" && \\
    chown -R 10001 /var/log/app
WORKDIR /app
USER $USER_NAME
CMD ["sh", "/app/serve.sh"]
"""
    plan = audit.plan(CONTEXT)
    assert plan.rules == ("IA201", "IA302", "IA401", "IA402", "IA403", "IA601", "IA901",
                          "IA1002")
    assert [edit.target for edit in plan.edits].count(Target.DOCKERIGNORE) == 1
    assert {(a.rule, a.where) for a in plan.advice} == {
        ("IA1101", "Dockerfile:3"), ("IA701", "Dockerfile:2"), ("IA102", "Dockerfile:2")}


def test_advice_names_the_secret_never_its_value() -> None:
    audit = audited(DEMO, layers=LAYERS, findings=FINDINGS)
    advice = audit.advice(CONTEXT)
    assert advice["IA1101"].startswith("Dockerfile:3: Env DEPLOY_TOKEN holds a GitHub token: "
                                       "delete the ENV DEPLOY_TOKEN line")
    assert "ghp_" not in "".join(advice.values())
    assert advice["IA102"] == ("Dockerfile:2: the base is heavy (from the base image): the "
                               "fix of IA102")


def test_the_escape_directive_and_crlf_are_kept() -> None:
    dockerfile = ("# escape=`\r\nFROM base:1\r\nRUN mkdir C:\\app\r\nRUN echo a > C:\\app\\a\r\n"
                  "CMD app serve\r\n")
    audit = audited(dockerfile, findings=[found("IA302", 3), found("IA1002")])
    assert audit.fixed() == ("# escape=`\r\nFROM base:1\r\nRUN mkdir C:\\app && `\r\n"
                             "    echo a > C:\\app\\a\r\nCMD [\"app\", \"serve\"]\r\n")


def test_a_fixed_image_needs_nothing_more() -> None:
    layers = {**LAYERS, 4: [folder("app"), file("app/serve.sh")]}
    audit = audited(DEMO, layers=layers, findings=[FINDINGS[0]])
    plan = audit.plan(CONTEXT)
    assert plan.edits == ()
    assert [a.rule for a in plan.advice] == ["IA1101"]


def test_waived_findings_are_left_alone() -> None:
    audit = audited(DEMO, layers=LAYERS, findings=[found("IA1002")])
    scored = audit.report.findings[0]
    waived = dataclasses.replace(scored, finding=dataclasses.replace(
        scored.finding, waiver=Waiver("IA1002", "our entrypoint script traps signals")))
    report = dataclasses.replace(audit.report, findings=(waived,))
    assert dataclasses.replace(audit, report=report).plan().edits == ()


def test_a_windows_image_gets_advice_only() -> None:
    audit = audited(DEMO, layers=LAYERS, findings=FINDINGS)
    image = dataclasses.replace(audit.report.image, os="windows")
    windows = dataclasses.replace(audit, report=dataclasses.replace(audit.report, image=image))
    plan = windows.plan(CONTEXT)
    assert plan.rules == ("IA401", "IA402", "IA403", "IA601")  # .dockerignore and WORKDIR
    assert {"IA201", "IA302", "IA901", "IA1002"} <= {a.rule for a in plan.advice}
