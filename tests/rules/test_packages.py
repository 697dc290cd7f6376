"""Practice 8: Python packages the image's own build installed as root into the system
site-packages (IA801), against ~/.local of the app user or a virtualenv."""

from __future__ import annotations

from auditor.model.findings import Severity, Status
from tests.support.factory import (
    SITE,
    ImageSpec,
    Member,
    Step,
    check,
    copy,
    directory,
    file,
    good,
    own_steps,
    run,
)


def dist(site: str, name: str, uid: int = 0) -> tuple[Member, ...]:
    return (directory(f"{site}/{name}.dist-info", uid=uid, gid=uid),
            file(f"{site}/{name}.dist-info/METADATA", f"Name: {name}\n", uid=uid, gid=uid),
            file(f"{site}/{name.split('-')[0]}/__init__.py", uid=uid, gid=uid))


def installing(step: Step) -> ImageSpec:
    """The good image with its pip step replaced by `step`."""
    own = [s for s in own_steps() if "pip install" not in s.created_by]
    return good().with_own(*own, step)


def test_a_user_install_of_the_runtime_user_passes() -> None:
    result = check(good(), "IA801")
    assert result.status is Status.PASS
    assert result.note == ("user install owned by the runtime user (layer 6: "
                           "/home/myuser/.local/lib/python3.9/site-packages: flask 3.0.0)")


def test_a_root_install_into_the_system_site_packages() -> None:
    step = run("pip install -r requirements.txt", *dist(SITE, "flask-3.0.0"),
               *dist(SITE, "click-8.1.7"))
    result = check(installing(step), "IA801")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "2 packages installed as root into the system site-packages"
    assert finding.evidence == f"layer 6: /{SITE}: click 8.1.7, flask 3.0.0"
    assert finding.path == SITE and finding.layer == 6


def test_a_user_install_made_as_root() -> None:
    site = "root/.local/lib/python3.9/site-packages"
    result = check(installing(run("pip install --user flask", *dist(site, "flask-3.0.0"))),
                   "IA801")
    assert result.status is Status.WARN
    assert result.findings[0].message == "1 package installed with --user as root"


def test_a_virtualenv_passes() -> None:
    site = "opt/venv/lib/python3.9/site-packages"
    step = run("python -m venv /opt/venv && /opt/venv/bin/pip install flask",
               file("opt/venv/pyvenv.cfg", "home = /usr/local/bin\n"), *dist(site, "flask-3.0.0"))
    result = check(installing(step), "IA801")
    assert result.status is Status.PASS and result.note.startswith("venv install owned by UID 0")


def test_a_system_tree_copied_from_a_build_stage_is_info_only() -> None:
    step = copy("dir:5e6d7f in /usr/local", *dist(SITE, "flask-3.0.0"))
    result = check(installing(step), "IA801")
    assert result.status is Status.INFO
    (finding,) = result.findings
    assert finding.severity is Severity.INFO
    assert "not installed by pip in this image" in finding.evidence


def test_many_packages_are_summarised() -> None:
    members = [m for n in range(6) for m in dist(SITE, f"pkg{n}-1.0")]
    (finding,) = check(installing(run("pip install ...", *members)), "IA801").findings
    assert finding.evidence.endswith("pkg0 1.0, pkg1 1.0, pkg2 1.0, pkg3 1.0 and 2 more")


def test_packages_of_the_base_are_not_the_image_own() -> None:
    # The base layers hold pip's own dist-info in the system site-packages.
    own = [s for s in own_steps() if "pip install" not in s.created_by]
    result = check(good().with_own(*own), "IA801")
    assert result.status is Status.SKIP
    assert result.note == "the image's own layers install no Python packages"


def test_without_layer_contents_it_skips() -> None:
    assert check(good(), "IA801", content=False).status is Status.SKIP
