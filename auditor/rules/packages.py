"""Practice 8, packages installed as non-root: Python packages the image's own build put in a
root-owned system site-packages, against ones under the runtime user's ~/.local or a virtualenv."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import FileKind, Image, Layer, Origin
from auditor.model.policy import Limits
from auditor.redact import describe_step
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import (
    PASSWD_FILES,
    layer_matches,
    layer_step,
    require_content,
    runtime_user,
)
from auditor.units import plural

_DIST_INFO = re.compile(r"^(?P<site>.+/(site|dist)-packages)/(?P<name>[^/]+)\.(dist|egg)-info(/|$)")
_USER_SITE = re.compile(r"^(home/[^/]+|root)/\.local/lib/python[^/]+/site-packages$")
_SYSTEM_SITE = re.compile(
    r"^(usr|usr/local|opt/conda|opt/python[^/]*)/lib(64)?/python[^/]+/(site|dist)-packages$"
)


@dataclass
class _Install:
    layer: Layer
    site: str
    uid: int
    packages: list[str]


def _classify(image: Image, site: str) -> str:
    if _USER_SITE.match(site):
        return "user"
    prefix = site.split("/lib/")[0]
    if image.files is not None and posixpath.join(prefix, "pyvenv.cfg") in image.files:
        return "venv"
    if _SYSTEM_SITE.match(site):
        return "system"
    return "other"


@rule(
    "IA801",
    practice=8,
    title="Python packages installed as root into the system site-packages",
    severity=Severity.MEDIUM,
    rationale="Packages pip installs as root into the system site-packages can clash with the "
    "distribution's and run their install hooks as root.",
    fix="Install as the app user with `pip install --user` (after USER), or into a virtualenv "
    "the app user owns (`python -m venv /opt/venv`).",
    needs_content=True,
    files=PASSWD_FILES,
)
def packages_installed_as_root(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag packages in a root-owned system site-packages added by the image's own layers (a
    tree copied in from a build stage is not flagged: pip did not run in this image)."""
    require_content(image)
    installs: dict[tuple[int, str], _Install] = {}
    for layer, entry in layer_matches(image, _DIST_INFO.match, Origin.OWN):
        found = _DIST_INFO.match(entry.path)
        assert found is not None  # as layer_matches found it
        if entry.kind is not FileKind.DIR and not entry.path.endswith("METADATA"):
            continue
        key = (layer.number, found.group("site"))
        install = installs.setdefault(key, _Install(layer, found.group("site"), entry.uid, []))
        name = found.group("name")
        if name not in install.packages:
            install.packages.append(name)
        if entry.kind is FileKind.DIR:
            install.uid = entry.uid
    if not installs:
        raise NotApplicable("the image's own layers install no Python packages")
    user = runtime_user(image)
    flagged = False
    passed = []
    for install in installs.values():
        kind = _classify(image, install.site)
        names = ", ".join(p.replace("-", " ", 1) for p in sorted(install.packages)[:4])
        more = f" and {len(install.packages) - 4} more" if len(install.packages) > 4 else ""
        where = f"layer {install.layer.number}: /{install.site}: {names}{more}"
        step = layer_step(image, install.layer)
        if kind == "system" and step is not None and step.instruction in ("COPY", "ADD"):
            # The multi-stage pattern IA101 and IA103 recommend: pip ran in a build stage, so no
            # install hook ran as root here. Still system-wide and root-owned, so said, unscored.
            flagged = True
            yield Flag(
                f"{len(install.packages)} packages copied from a build stage into the system "
                "site-packages",
                f"{where}; copied in by {describe_step(step)}, not installed by pip in this image",
                layer=install.layer.number,
                path=install.site,
                severity=Severity.INFO,
            )
        elif kind == "system" and install.uid == 0:
            flagged = True
            yield Flag(
                f"{plural(len(install.packages), 'package')} installed as root into the system "
                "site-packages",
                where,
                layer=install.layer.number,
                path=install.site,
            )
        elif kind == "user" and install.site.startswith("root/"):
            flagged = True
            yield Flag(f"{plural(len(install.packages), 'package')} installed with --user as root",
                       where, layer=install.layer.number, path=install.site)
        else:
            owner = "the runtime user" if install.uid == user.uid else f"UID {install.uid}"
            passed.append(f"{kind} install owned by {owner} ({where})")
    if not flagged:
        yield Passed("; ".join(passed))
