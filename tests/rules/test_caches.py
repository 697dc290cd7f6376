"""Practice 9: package-manager caches measured in the layer that wrote them (IA901-IA903),
including caches a later layer deleted, whose bytes still ship."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from auditor.model.policy import Limits, Policy
from tests.support.factory import (
    ImageSpec,
    base_steps,
    check,
    directory,
    file,
    good,
    opaque,
    run,
    whiteout,
)

PIP = "home/myuser/.cache/pip"


def pip_cache(size: int) -> ImageSpec:
    return good().adding(run("pip install --user -r requirements.txt",
                             directory(PIP, uid=1000),
                             file(f"{PIP}/wheels/ab/cd/flask-3.0.0-py3-none-any.whl", size=size),
                             file(f"{PIP}/http-v2/1/2/3/body", size=size),
                             file(f"{PIP}/selfcheck/abc.json", "{}")))


def test_no_cache_passes() -> None:
    for rule, what in (("IA901", "pip cache"), ("IA902", "OS package cache"),
                       ("IA903", "Node package cache")):
        result = check(good(), rule)
        assert result.status is Status.PASS and result.note == f"no {what} in any layer"


def test_a_large_pip_cache() -> None:
    result = check(pip_cache(600_000), "IA901")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "pip cache left in the image: 1.2 MB reclaimable"
    assert finding.evidence == ("layer 7 (history[12]: RUN pip install --user -r "
                                "requirements.txt): /home/myuser/.cache/pip (3 files, 1.2 MB)")
    assert (finding.layer, finding.path, finding.size) == (7, PIP, 1_200_002)


def test_a_small_pip_cache_is_low() -> None:
    (finding,) = check(pip_cache(100), "IA901").findings
    assert finding.severity is Severity.LOW


def test_a_cache_deleted_by_a_later_layer_still_ships() -> None:
    spec = pip_cache(600_000).adding(run("rm -rf ~/.cache/pip", whiteout(PIP)))
    (finding,) = check(spec, "IA901").findings
    assert finding.layer == 7
    assert finding.evidence.endswith("3 of its files deleted by a later layer, bytes still "
                                     "shipped")


def test_pip_build_folders_in_tmp() -> None:
    spec = good().adding(run("pip install x", file("tmp/pip-req-build-abc/setup.py", size=10)))
    (finding,) = check(spec, "IA901").findings
    assert finding.path == "tmp/pip-req-build-abc"


def test_the_cache_threshold_comes_from_the_policy() -> None:
    policy = Policy(limits=Limits(min_cache_bytes=2_000_000))
    assert check(pip_cache(600_000), "IA901", policy).status is Status.PASS


def test_a_cache_the_base_left_is_shown_not_scored() -> None:
    base = (run("apk add python3", file("root/.cache/pip/http/x", size=50)), *base_steps())
    result = check(ImageSpec(base=base), "IA901")
    assert result.status is Status.PASS
    (finding,) = result.base_findings
    assert finding.origin is Origin.BASE and finding.layer == 1
    assert result.note == "1 finding in the base image, not scored"


@pytest.mark.parametrize(("path", "root"), [
    ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "var/lib/apt/lists"),
    ("var/cache/apt/archives/curl_7.88.1_amd64.deb", "var/cache/apt"),
    ("var/cache/apt/pkgcache.bin", "var/cache/apt"),
    ("var/cache/apk/APKINDEX.abc.tar.gz", "var/cache/apk"),
    ("var/cache/dnf/repo/packages/x.rpm", "var/cache/dnf"),
    ("var/cache/yum/x86_64/7/base/packages/curl-7.29.0.rpm", "var/cache/yum"),
    ("var/cache/zypp/packages/repo-oss/x86_64/curl-8.0.rpm", "var/cache/zypp"),
    ("var/cache/libdnf5/fedora-1a2b/repodata/primary.xml.zst", "var/cache/libdnf5"),
    ("var/cache/tdnf/photon/rpms/x86_64/curl-8.0.rpm", "var/cache/tdnf"),
])
def test_os_package_caches(path: str, root: str) -> None:
    result = check(good().adding(run("install things", file(path, size=2000))), "IA902")
    assert result.status is Status.WARN
    assert result.findings[0].path == root


def test_a_clean_apt_install_leaves_no_cache() -> None:
    # apt-get update && apt-get install ... && rm -rf /var/lib/apt/lists/* leaves the empty lock
    # files apt opened, the folder apt cleaned, and whiteouts for the lists it deleted.
    spec = good().adding(run(
        "apt-get update && apt-get install -y --no-install-recommends curl "
        "&& rm -rf /var/lib/apt/lists/*",
        directory("var/cache/apt/archives/partial"),
        file("var/cache/apt/archives/lock"),
        directory("var/lib/apt/lists"),
        opaque("var/lib/apt/lists"),
        file("var/lib/apt/lists/lock"),
        file("usr/bin/curl", size=200),
    ))
    result = check(spec, "IA902")
    assert result.status is Status.PASS, result.findings


def test_apt_lists_left_behind() -> None:
    spec = good().adding(run("apt-get update && apt-get install -y curl",
                             file("var/lib/apt/lists/lock"),
                             file("var/lib/apt/lists/deb_InRelease", size=150_000),
                             file("var/lib/apt/lists/deb_main_Packages.lz4", size=9_000_000)))
    (finding,) = check(spec, "IA902").findings
    assert finding.severity is Severity.MEDIUM
    assert finding.evidence.endswith("/var/lib/apt/lists (2 files, 9.2 MB)")


@pytest.mark.parametrize("root", ["root/.npm/_cacache", "home/node/.cache/yarn",
                                  "usr/local/share/.cache/yarn", "home/node/.pnpm-store"])
def test_node_caches(root: str) -> None:
    spec = good().adding(run("npm ci", file(f"{root}/index-v5/ab/cdef", size=3000)))
    (finding,) = check(spec, "IA903").findings
    assert finding.path == root


def test_without_layer_contents_the_cache_rules_skip() -> None:
    for rule in ("IA901", "IA902", "IA903"):
        assert check(pip_cache(10), rule, content=False).status is Status.SKIP
