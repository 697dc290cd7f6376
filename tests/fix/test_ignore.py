""".dockerignore entries from the paths a context copy put in the image, traced back to the
context, never one the build needs."""

from __future__ import annotations

from auditor.fix import Target
from tests.support.fix_images import audited, context, file, folder, found

APP = """\
FROM base:1
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir --find-links wheels -r requirements.txt
CMD ["python", "main.py"]
"""
COPIED = [folder("app"), file("app/.env"), folder("app/.git"), file("app/.git/HEAD"),
          file("app/id_rsa"), file("app/Dockerfile"), file("app/tests/test_main.py"),
          file("app/__pycache__/main.cpython-311.pyc"), file("app/src/__pycache__/x.pyc"),
          file("app/.DS_Store"), file("app/.vscode/settings.json"), file("app/main.py"),
          file("app/requirements.txt"), file("app/wheels/tiny-1.0.tar.gz")]
FINDINGS = [
    found("IA401", 3, "app/.env"), found("IA401", 3, "app/id_rsa"),
    found("IA402", 3, "app/.git"),
    found("IA403", 3, "app/Dockerfile"), found("IA403", 3, "app/tests/test_main.py"),
    found("IA403", 3, "app/__pycache__/main.cpython-311.pyc", "app/src/__pycache__/x.pyc"),
    found("IA403", 3, "app/.DS_Store"), found("IA403", 3, "app/.vscode/settings.json"),
]
CONTEXT = context("Dockerfile", ".env", ".git/HEAD", "id_rsa", "tests/test_main.py",
                  "__pycache__/main.cpython-311.pyc", "src/__pycache__/x.pyc", ".DS_Store",
                  ".vscode/settings.json", "main.py", "requirements.txt",
                  "wheels/tiny-1.0.tar.gz")


def entries(text: str | None) -> list[str]:
    assert text is not None
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_what_the_context_copy_dragged_in_is_ignored() -> None:
    audit = audited(APP, layers={3: COPIED}, findings=FINDINGS)
    text = audit.ignore(CONTEXT)
    assert text is not None and text.startswith("# Added by imgaudit fix")
    assert entries(text) == [".env", "id_rsa", ".git", "Dockerfile", "tests", "**/__pycache__",
                             "**/.DS_Store", ".vscode", ".dockerignore"]
    plan = audit.plan(CONTEXT)
    (edit,) = plan.edits_to(Target.DOCKERIGNORE)
    assert set(edit.rules) == {"IA401", "IA402", "IA403"}
    assert audit.fixed(CONTEXT) == APP  # nothing else to do
    assert not plan.advice


def test_what_the_build_names_stays() -> None:
    dockerfile = """\
FROM base:1
WORKDIR /app
COPY . .
COPY .env /etc/app.env
RUN git describe > VERSION && pytest
CMD ["python", "main.py"]
"""
    audit = audited(dockerfile, layers={3: COPIED}, findings=FINDINGS)
    text = audit.ignore(CONTEXT)
    assert entries(text) == ["id_rsa", "Dockerfile", "**/__pycache__", "**/.DS_Store",
                             ".vscode", ".dockerignore"]
    advice = {(a.rule, a.message) for a in audit.plan(CONTEXT).advice}
    assert ("IA401", "/app/.env is in the image, but the build needs it (Dockerfile:4 "
            "copies .env)") in advice
    assert ("IA402", "/app/.git is in the image, but the build needs it (Dockerfile:5 runs "
            "git)") in advice
    assert ("IA403", "/app/tests/test_main.py is in the image, but the build needs it "
            "(Dockerfile:5 runs the tests)") in advice


def test_a_path_a_run_or_the_command_mentions_stays() -> None:
    dockerfile = """\
FROM base:1
COPY . /srv
RUN sh /srv/tests/smoke.sh
CMD ["sh", "-c", ". /srv/.env && exec app"]
"""
    layer = [folder("srv"), file("srv/.env"), file("srv/tests/smoke.sh"), file("srv/id_rsa")]
    audit = audited(dockerfile, layers={2: layer}, findings=[
        found("IA401", 2, "srv/.env"), found("IA401", 2, "srv/id_rsa"),
        found("IA403", 2, "srv/tests/smoke.sh")])
    ctx = context(".env", "tests/smoke.sh", "id_rsa")
    assert entries(audit.ignore(ctx)) == ["id_rsa", ".dockerignore"]


def test_an_existing_dockerignore_gains_only_what_it_lacks() -> None:
    audit = audited(APP, layers={3: COPIED}, findings=FINDINGS[:3])
    existing = "# mine\n.git\nnode_modules"
    ctx = context(*CONTEXT.paths, dockerignore=existing)
    text = audit.ignore(ctx)
    assert text == (existing + "\n\n# Added by imgaudit fix: not needed in the image at run "
                    "time\n.env\nid_rsa\nDockerfile\n.dockerignore")


def test_what_the_dockerignore_keeps_out_already_needs_a_rebuild() -> None:
    audit = audited(APP, layers={3: COPIED}, findings=FINDINGS[2:3])
    ctx = context(*CONTEXT.paths, dockerignore=".git\nDockerfile\n.dockerignore\n")
    assert audit.ignore(ctx) is None
    assert audit.advice(ctx)["IA402"] == (
        "Dockerfile:3: a finding: the .dockerignore keeps .git out already: the image was "
        "built before; build it again")


def test_the_dockerfile_itself_whatever_its_name() -> None:
    dockerfile = "FROM base:1\nCOPY . /app\nCMD [\"/app/run\"]\n"
    audit = audited(dockerfile, layers={2: [file("app/run"), file("app/docker/app.Dockerfile")]})
    ctx = context("run", "docker/app.Dockerfile")
    ctx = type(ctx)(ctx.paths, None, "docker/app.Dockerfile")
    assert entries(audit.ignore(ctx)) == ["docker/app.Dockerfile", ".dockerignore"]


def test_nothing_when_the_path_did_not_come_from_the_context() -> None:
    dockerfile = "FROM base:1\nCOPY . /app\nRUN echo x > /app/.env\n"
    audit = audited(dockerfile, layers={2: [folder("app")], 3: [file("app/.env")]},
                    findings=[found("IA401", 3, "app/.env")])
    assert audit.ignore(context("main.py")) is None
    assert audit.advice(context("main.py"))["IA401"] == (
        "Dockerfile:3: a finding: the fix of IA401")


def test_a_folder_copy_maps_below_its_source() -> None:
    dockerfile = "FROM base:1\nCOPY config/ /etc/app/\nCOPY app.sh /usr/local/bin/\n"
    audit = audited(dockerfile, layers={2: [file("etc/app/.env"), file("etc/app/app.conf")],
                                        3: [file("usr/local/bin/app.sh")]},
                    findings=[found("IA401", 2, "etc/app/.env")])
    text = audit.ignore(context("config/.env", "config/app.conf", "app.sh"))
    assert entries(text) == ["config/.env"]  # no whole-context copy: .dockerignore stays in


def test_node_modules_when_the_image_installs_its_own() -> None:
    dockerfile = "FROM base:1\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"node\", \"app.js\"]\n"
    audit = audited(dockerfile, layers={3: [file("app/app.js"), file("app/.git/HEAD")]},
                    findings=[found("IA402", 3, "app/.git")])
    ctx = context("app.js", "package.json", "node_modules/x/index.js", ".git/HEAD")
    assert entries(audit.ignore(ctx)) == [".git", "node_modules", ".dockerignore"]
