"""Secret-bearing files (IA401, the secrets group), VCS metadata (IA402) and build clutter
(IA403, practice 4) the image's own layers added, and the step that likely dragged them in."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from tests.support.factory import (
    ImageSpec,
    Step,
    base_steps,
    check,
    copy,
    directory,
    file,
    good,
    run,
    whiteout,
)

CONTEXT = "dir:5e6d7f8091a2b3c4d5e6f708192a3b4c5e6d7f8091a2b3c4d5e6f708192a3b4c in ./"


def copied(*paths: str, body: str = "multi:abc in ./") -> ImageSpec:
    return good().adding(copy(body, *[file(p, "x = 1\n") for p in paths]))


def test_the_good_image_passes() -> None:
    for rule in ("IA401", "IA402", "IA403"):
        assert check(good(), rule).status is Status.PASS


# A file that may hold a secret is high; one that is a credential by itself (a private key, a
# key store, a credential store) is critical: rotate now.
@pytest.mark.parametrize(("path", "severity"), [
    ("myapp/.env", Severity.HIGH), ("myapp/.env.production", Severity.HIGH),
    ("myapp/config/id_rsa", Severity.CRITICAL), ("myapp/certs/server.key", Severity.CRITICAL),
    ("myapp/private.pem", Severity.CRITICAL), ("myapp/keystore.p12", Severity.CRITICAL),
    ("myapp/service-account-prod.json", Severity.CRITICAL),
    ("myapp/.git-credentials", Severity.CRITICAL), ("home/myuser/.pgpass", Severity.CRITICAL),
])
def test_secret_bearing_files(path: str, severity: Severity) -> None:
    result = check(copied(path), "IA401")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is severity
    assert finding.path == path
    assert f"/{path}" in finding.evidence
    assert finding.evidence.startswith("layer 7 (history[12]: COPY multi:abc in ./)")


@pytest.mark.parametrize("path", ["root/.npmrc", "myapp/.aws/credentials", "root/.netrc",
                                  "root/.docker/config.json", "root/.pypirc"])
def test_tool_logins_are_judged_by_what_they_hold_not_by_name(path: str) -> None:
    # IA1104 reads them: one holding no credential value (`x = 1`) is no finding of either rule
    assert check(copied(path), "IA401").status is Status.PASS
    assert check(copied(path), "IA1104").status is Status.PASS


@pytest.mark.parametrize("path", [
    "myapp/.env.example", "myapp/.env.sample", "myapp/.env.template", "myapp/id_rsa.pub",
    "myapp/environment.py", "myapp/keys.py",
    "usr/local/lib/python3.9/site-packages/certifi/test.key",
    "home/myuser/.local/lib/python3.9/site-packages/x/tests/server.key",
])
def test_lookalikes_and_library_files_are_not_secrets(path: str) -> None:
    assert check(copied(path), "IA401").status is Status.PASS


def test_copying_the_whole_context_is_named_as_the_likely_cause() -> None:
    evidence = check(copied("myapp/.env", body=CONTEXT), "IA401").findings[0].evidence
    assert "copies the whole build context (add a .dockerignore)" in evidence
    buildkit = good().adding(Step("COPY . ./ # buildkit", (file("myapp/.env"),),
                                  comment="buildkit.dockerfile.v0"))
    assert "whole build context" in check(buildkit, "IA401").findings[0].evidence


def test_a_secret_deleted_by_a_later_layer_still_ships() -> None:
    spec = copied("myapp/.env", "myapp/id_rsa").adding(run("rm .env", whiteout("myapp/.env")))
    gone, kept = sorted(check(spec, "IA401").findings, key=lambda f: f.path)
    assert "deleted by a later layer but still shipped" in gone.evidence
    assert "deleted" not in kept.evidence


def test_secret_files_of_the_base_are_not_the_image_own() -> None:
    base = (copy("file:k in /", file("etc/ssl/private/snakeoil.key")), *base_steps())
    assert check(ImageSpec(base=base), "IA401").status is Status.PASS


def test_each_secret_file_is_its_own_finding() -> None:
    # A secret added next to a known one must be a finding of its own: a baseline or a path
    # waiver that knows the first must not swallow the second.
    result = check(copied("a/.env", "b/.env", "c/.env", "d/.env", "e/id_rsa"), "IA401")
    assert [f.path for f in result.findings] == ["a/.env", "b/.env", "c/.env", "d/.env",
                                                 "e/id_rsa"]
    assert [f.paths for f in result.findings] == [(f.path,) for f in result.findings]
    assert len({f.fingerprint for f in result.findings}) == 5
    assert result.findings[4].message == "secret-bearing file in the image: /e/id_rsa, 6 B"
    assert result.findings[4].evidence.startswith("layer 7 (history[12]: COPY multi:abc in ./)"
                                                  ": /e/id_rsa")


def test_a_grouped_finding_lists_every_path() -> None:
    spec = copied("a/.git/HEAD", "b/.svn/entries", "myapp/tests/test_a.py",
                  "myapp/tests/test_b.py")
    (vcs,) = check(spec, "IA402").findings
    assert vcs.paths == ("a/.git", "b/.svn") and vcs.path == "a/.git"
    (tests,) = check(spec, "IA403").findings
    assert tests.paths == ("myapp/tests/test_a.py", "myapp/tests/test_b.py")


def test_a_git_folder_is_one_path_however_many_objects() -> None:
    objects = [file(f"myapp/.git/objects/{n:02x}/abc", size=100) for n in range(40)]
    spec = good().adding(copy(CONTEXT, directory("myapp/.git"), file("myapp/.git/HEAD", "ref"),
                              *objects))
    result = check(spec, "IA402")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "version-control metadata in the image: 1 path, 4.0 kB"
    assert finding.path == "myapp/.git"
    assert "whole build context" in finding.evidence


@pytest.mark.parametrize("folder", [".svn", ".hg", ".bzr"])
def test_other_version_control_folders(folder: str) -> None:
    assert check(copied(f"myapp/{folder}/entries"), "IA402").status is Status.WARN


def test_a_gitignore_is_not_a_git_folder() -> None:
    assert check(copied("myapp/.gitignore", "myapp/.github-notes"), "IA402").status is (
        Status.PASS)


@pytest.mark.parametrize(("path", "kind"), [
    ("myapp/Dockerfile", "Dockerfile"),
    ("myapp/.dockerignore", "Dockerfile"),
    ("myapp/docker-compose.yml", "compose file"),
    ("myapp/compose.override.yaml", "compose file"),
    ("myapp/tests/test_main.py", "test suite"),
    ("myapp/__pycache__/main.cpython-39.pyc", "bytecode cache"),
    ("myapp/.vscode/settings.json", "IDE folder"),
    ("myapp/.DS_Store", "OS clutter"),
    ("myapp/.pytest_cache/v/cache/nodeids", "tool cache"),
    ("myapp/.github/workflows/ci.yml", "CI config"),
])
def test_build_clutter(path: str, kind: str) -> None:
    result = check(copied(path), "IA403")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.message.startswith(f"{kind} in the image: 1 path")


def test_bytecode_compiled_by_the_build_is_not_clutter() -> None:
    spec = good().adding(run("python -m compileall .",
                             file("myapp/__pycache__/main.cpython-39.pyc", size=10)))
    assert check(spec, "IA403").status is Status.PASS


def test_library_tests_are_not_clutter() -> None:
    site = "home/myuser/.local/lib/python3.9/site-packages"
    spec = good().adding(run("pip install --user x", file(f"{site}/x/tests/test_x.py"),
                             file("usr/share/doc/x/Dockerfile")))
    assert check(spec, "IA403").status is Status.PASS


def test_each_kind_of_clutter_is_its_own_finding() -> None:
    result = check(copied("myapp/Dockerfile", "myapp/tests/test_a.py", "myapp/tests/test_b.py"),
                   "IA403")
    assert sorted(f.message for f in result.findings) == [
        "Dockerfile in the image: 1 path, 6 B", "test suite in the image: 2 paths, 12 B"]


def test_without_layer_contents_the_file_rules_skip() -> None:
    for rule in ("IA401", "IA402", "IA403"):
        result = check(copied("myapp/.env"), rule, content=False)
        assert result.status is Status.SKIP
