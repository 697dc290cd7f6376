"""A cache a RUN left in its layer is not written, or is removed, in that same RUN."""

from __future__ import annotations

import pytest

from tests.support.fix_images import audited, file, found


def fixed(run: str, rule: str, *paths: str) -> str:
    dockerfile = f"FROM base:1\n{run}\nCMD [\"app\"]\n"
    audit = audited(dockerfile, layers={2: [file(path) for path in paths]},
                    findings=[found(rule, 2, paths[0].rsplit("/", 1)[0])])
    text = audit.fixed()
    assert not audit.plan().advice, audit.plan().advice
    return text.split("\n", 1)[1].rsplit("\nCMD", 1)[0]


@pytest.mark.parametrize(("run", "expected"), [
    ("RUN pip install -r requirements.txt",
     "RUN pip install --no-cache-dir -r requirements.txt"),
    ("RUN pip3 install flask && pip install --no-cache-dir gunicorn",
     "RUN pip3 install --no-cache-dir flask && pip install --no-cache-dir gunicorn"),
    ("RUN python3 -m pip install .", "RUN python3 -m pip install --no-cache-dir ."),
    ("RUN /usr/local/bin/pip3.11 \\\n      install x",
     "RUN /usr/local/bin/pip3.11 \\\n      install --no-cache-dir x"),
])
def test_pip_install_gets_no_cache_dir(run: str, expected: str) -> None:
    assert fixed(run, "IA901", "root/.cache/pip/wheels/ab/x.whl") == expected


def test_a_pip_cache_no_pip_install_made_is_removed() -> None:
    assert fixed("RUN make wheels", "IA901", "root/.cache/pip/http/x") == (
        "RUN make wheels && rm -rf /root/.cache/pip")


def test_apt_lists_and_archives_are_cleaned_in_the_same_run() -> None:
    run = "RUN apt-get update && \\\n    apt-get install -y curl"
    assert fixed(run, "IA902", "var/lib/apt/lists/x_Packages",
                 "var/cache/apt/archives/curl.deb") == (
        "RUN apt-get update && \\\n    apt-get install -y curl && \\\n    apt-get clean && \\\n"
        "    rm -rf /var/lib/apt/lists/*")


def test_apk_add_gets_no_cache() -> None:
    assert fixed("RUN apk add curl", "IA902", "var/cache/apk/APKINDEX.tar.gz") == (
        "RUN apk add --no-cache curl")
    assert fixed("RUN apk update && apk add curl", "IA902", "var/cache/apk/APKINDEX.tar.gz") == (
        "RUN apk update && apk add --no-cache curl && rm -rf /var/cache/apk/*")


def test_npm_cleans_its_own_cache() -> None:
    assert fixed("RUN npm ci", "IA903", "root/.npm/_cacache/index-v5/x") == (
        "RUN npm ci && npm cache clean --force")
    assert fixed("RUN ./fetch-deps.sh", "IA903", "home/node/.npm/_cacache/index-v5/x") == (
        "RUN ./fetch-deps.sh && rm -rf /home/node/.npm/_cacache")


@pytest.mark.parametrize(("run", "why"), [
    ('RUN ["pip", "install", "x"]', "exec form"),
    ("RUN pip download x || exit 1", "cannot simply be followed"),
    ("RUN <<EOF\npip download x\nEOF", "here-document"),
])
def test_a_run_that_cannot_be_edited_gets_advice(run: str, why: str) -> None:
    dockerfile = f"FROM base:1\n{run}\nCMD [\"app\"]\n"
    audit = audited(dockerfile, layers={2: [file("root/.cache/pip/http/x")]},
                    findings=[found("IA901", 2, "root/.cache/pip")])
    assert audit.fixed() == dockerfile
    assert why in audit.advice()["IA901"]
    assert "rm -rf /root/.cache/pip" in audit.advice()["IA901"]


def test_pips_build_folders_are_removed_whatever_the_cache_option() -> None:
    assert fixed("RUN pip install --no-cache-dir .", "IA901", "tmp/pip-req-build-x1/setup.py") == (
        "RUN pip install --no-cache-dir . && rm -rf /tmp/pip-req-build-x1")


def test_an_option_is_added_even_where_nothing_may_follow() -> None:
    dockerfile = "FROM base:1\nRUN apk update; apk add curl;\nCMD [\"app\"]\n"
    audit = audited(dockerfile, layers={2: [file("var/cache/apk/APKINDEX.tar.gz")]},
                    findings=[found("IA902", 2, "var/cache/apk")])
    assert audit.fixed() == dockerfile.replace("apk add", "apk add --no-cache")
    assert "end the RUN with `rm -rf /var/cache/apk/*`" in audit.advice()["IA902"]
