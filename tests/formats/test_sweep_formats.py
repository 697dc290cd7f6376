"""Sweep reports from a real sweep database: CSV and JSON parse back to what was recorded, the
table is worst first, and the HTML page is self-contained, escapes hostile names, and works in
a real headless Chromium (renders, sorts, filters, drills down, no console error)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import re
import statistics
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from auditor.formats import render_sweep, sweep_csv, sweep_html, sweep_json, sweep_table
from auditor.formats.json import image_document
from auditor.formats.sweep import worst_first
from auditor.model.report import ImageReport, ScoredFinding
from auditor.model.sweep import AuditStatus, SweepAudit, SweepResults, SweepTag
from auditor.scoring import grade_for
from auditor.store.read import load
from auditor.store.write import SweepStore
from tests.support.browser import Browser, Page
from tests.support.demo import SECRETS
from tests.support.sweeps import REGISTRY, RULESET, demo_reports, fill, target

# What a hostile registry (or a hostile image's file names) could put in front of a reader.
HOSTILE_REPO = "evil/<script>window.__xss=1</script>"
HOSTILE_TAG = '"><img src=x onerror="window.__xss=2">'
HOSTILE_ERROR = "</script><script>window.__xss=3</script> & <b>bold</b>"
HOSTILE_PATH = "app/<img src=x onerror=window.__xss=4>.env"
FORMULA_ERROR = '=HYPERLINK("evil","click")'
# What a sweep records for an artifact that is no container image.
CHART = ("registry.test:5000/charts/app@sha256:cccccccccccc is not a container image (its config "
         "is application/vnd.cncf.helm.config.v1+json)")


def _resized(item: ImageReport, size: int, layers: int) -> ImageReport:
    image = item.image
    extra = tuple(dataclasses.replace(image.layers[-1], number=n)
                  for n in range(len(image.layers) + 1, layers + 1))
    return dataclasses.replace(item, image=dataclasses.replace(
        image, size=size, layers=image.layers + extra))


def _hostile(item: ImageReport) -> ImageReport:
    first = item.findings[0]
    finding = dataclasses.replace(first.finding, path=HOSTILE_PATH,
                                  evidence=f"layer 3: {HOSTILE_PATH} (47 B)")
    return dataclasses.replace(item, findings=(ScoredFinding(finding, first.rule, first.points),
                                               *item.findings[1:]))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> SweepResults:
    db = tmp_path_factory.mktemp("sweep") / "sweep.db"
    fill(db)
    _, good, bad = demo_reports()
    with SweepStore.open(db) as store:
        # Sizes and layer counts of different digit counts: numeric and text order differ.
        tiny = _resized(good, 999, 12)
        store.record_report(target("apps/tiny", "1", digest="sha256:" + "9" * 64), tiny,
                            image_document(tiny), RULESET, 0.1)
        hostile = _hostile(bad)
        store.record_report(target(HOSTILE_REPO, HOSTILE_TAG, digest="sha256:" + "6" * 64),
                            hostile, image_document(hostile), RULESET, 0.1)
        store.record_failure(target(HOSTILE_REPO, "v2"), HOSTILE_ERROR, "a <hint>", RULESET, 0.1)
        store.record_failure(target("apps/formula", "v1"), FORMULA_ERROR, "", RULESET, 0.1)
        store.record_skipped(target("charts/app", "0.1.0", digest="sha256:" + "c" * 64), CHART,
                             "imgaudit audits container images", RULESET, 0.1)
    return load([db])


_RANK = {"error": 0, "ok": 1, "skipped": 2}


def _worst_key(tag: SweepTag) -> tuple[int, int]:
    """Errors first, then by score, then what is no image."""
    return (_RANK[tag.audit.status.value],
            tag.audit.score if tag.audit.score is not None else -1)


# ------------------------------------------------------------------------------ CSV, JSON, table


def test_csv_has_one_row_per_tag_worst_first(results: SweepResults) -> None:
    text = sweep_csv.render(results)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == sweep_csv.COLUMNS
    assert len(rows) == len(results.tags) == 11
    keys = [(_RANK[r["status"]], int(r["score"]) if r["score"] else -1) for r in rows]
    assert keys == sorted(keys)
    assert rows[-1]["status"] == "skipped" and rows[-1]["error"] == CHART
    by_ref = {(r["repository"], r["tag"]): r for r in rows}
    bad = demo_reports()[2]
    row = by_ref[("apps/bad", "latest")]
    assert (row["score"], row["grade"], row["digest"]) == (str(bad.score), bad.grade, bad.image.id)
    assert row["size"] == str(bad.image.size) and row["layers"] == str(len(bad.image.layers))
    assert row["failing_practices"].split() == [
        str(p.practice.id) for p in bad.practices if p.status.value in ("fail", "warn", "error")]
    assert by_ref[("apps/gone", "v1")]["error"] == "manifest unknown"
    assert by_ref[(HOSTILE_REPO, HOSTILE_TAG)]["repository"] == HOSTILE_REPO  # kept exact
    # A cell a spreadsheet would run as a formula stays text.
    assert by_ref[("apps/formula", "v1")]["error"] == "'" + FORMULA_ERROR


def test_json_loads_with_every_report(results: SweepResults) -> None:
    document = json.loads(sweep_json.render(results))
    assert document["schema_version"] == 1 and document["kind"] == "imgaudit-sweep"
    summary = document["summary"]
    assert (summary["tags"], summary["errors"], summary["skipped"]) == (11, 4, 1)
    ok_scores = sorted(a.score for a in results.audits if a.score is not None)
    assert sum(summary["grades"].values()) == sum(h["images"] for h in summary["histogram"]) \
        == len(ok_scores)
    assert summary["score_median"] == statistics.median(ok_scores)
    keys = [(_RANK[t["status"]], t["score"] if t["score"] is not None else -1)
            for t in document["tags"]]
    assert keys == sorted(keys)
    reports = {d["tags"][0]: d for d in document["images"]}
    good = demo_reports()[1]
    image = reports[f"{REGISTRY}/apps/good:1.0"]
    assert image["report"] == image_document(good)
    assert sorted(image["tags"]) == [f"{REGISTRY}/apps/good:1.0", f"{REGISTRY}/apps/good:stable"]
    assert reports[f"{REGISTRY}/apps/gone:v1"]["report"] is None


def test_table_is_worst_first_with_errors_on_top(results: SweepResults) -> None:
    text = sweep_table.render(results)
    lines = text.splitlines()
    assert lines[0].startswith(f"imgaudit sweep of {REGISTRY}: 11 tag(s)")
    assert "; 4 error(s); 1 not an image (skipped);" in lines[0]
    order = [t for t in worst_first(results)]
    assert [_worst_key(t) for t in order] == sorted(_worst_key(t) for t in order)
    body = lines[lines.index(next(line for line in lines if line.startswith("---"))) + 1:]
    positions = [next(i for i, line in enumerate(body)
                      if line.startswith(t.repository) and f" {t.tag} " in line) for t in order
                 if t.tag.isalnum() or "." in t.tag]
    assert positions == sorted(positions)
    assert any("error: manifest unknown" in line for line in body[:4])
    chart = next(line for line in body if line.startswith("charts/app"))
    assert chart.rstrip().endswith("skipped: not an image")
    assert "practices: 2 Non-root user" in text


def test_table_escapes_control_characters(tmp_path: Path) -> None:
    """Names and errors come from registries; a table goes to a terminal."""
    db = tmp_path / "hostile.db"
    _, good, _ = demo_reports()
    with SweepStore.open(db) as store:
        store.record_report(target("evil/\x1b]0;PWNED\x07", "1\r", good), good,
                            image_document(good), RULESET, 0.1)
        store.record_failure(target("evil/app", "v\x9b2J"), "config is x\x1b[2J\rall good",
                             "hint \x07", RULESET, 0.1)
    text = sweep_table.render(load([db]))
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text), repr(text)
    assert "evil/\\x1b]0;PWNED\\x07" in text and "config is x\\x1b[2J\\x0dall good" in text


def test_render_sweep_names_the_formats() -> None:
    from auditor.errors import UsageError

    with pytest.raises(UsageError, match="unknown format") as caught:
        render_sweep(SweepResults((), ()), "xml")
    assert "csv" in caught.value.hint and "html" in caught.value.hint


def test_no_format_shows_a_secret_value(results: SweepResults) -> None:
    for fmt in ("table", "json", "csv", "html"):
        text = render_sweep(results, fmt)
        for secret in SECRETS:
            assert secret not in text, fmt


def test_an_empty_sweep_renders(tmp_path: Path) -> None:
    """A database with no sweep yet: every format says there is nothing, none fails."""
    db = tmp_path / "e.db"
    SweepStore.open(db).close()
    empty = load([db])
    assert render_sweep(empty, "table") == (
        "imgaudit sweep of no registry: 0 tag(s), 0 image(s) in 0 repositories; 0 error(s)\n")
    document = json.loads(render_sweep(empty, "json"))
    summary = document["summary"]
    assert (summary["tags"], summary["images"], summary["errors"]) == (0, 0, 0)
    assert summary["score_mean"] is None and set(summary["grades"].values()) == {0}
    assert document["databases"] == [str(db)]
    assert document["sweeps"] == document["tags"] == document["images"] == []
    (header,) = csv.reader(io.StringIO(render_sweep(empty, "csv")))  # the header alone
    assert header[:3] == ["registry", "repository", "tag"]
    text = render_sweep(empty, "html")
    assert "<h1>imgaudit sweep of no registry</h1>" in text and "<tbody></tbody>" in text
    data = json.loads(_parse(text).texts["script"][0])
    assert data["rows"] == data["audits"] == []


# ------------------------------------------------------------------------------ HTML, statically


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {"script": [], "style": []}
        self._inside: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in self.texts:
            self._inside = tag
            self.texts[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.texts[self._inside][-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_is_self_contained(results: SweepResults) -> None:
    text = sweep_html.render(results)
    page = _parse(text)
    for tag, attrs in page.elements:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base", "image"), tag
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster"):
            assert name not in attrs, (tag, attrs)
    assert not re.search(r"https?://", text)
    (style,) = page.texts["style"]
    assert "@import" not in style and "url(" not in style
    data, code = page.texts["script"]
    scripts = [a for t, a in page.elements if t == "script"]
    assert scripts[0] == {"type": "application/json", "id": "sweep-data"} and scripts[1] == {}
    # The Content-Security-Policy allows exactly this page's script and style, nothing else.
    (policy,) = [a["content"] for t, a in page.elements
                 if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert policy is not None and "default-src 'none'" in policy

    def digest(body: str) -> str:
        return base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(code)}'" in policy
    assert f"style-src 'sha256-{digest(style)}'" in policy
    assert len(json.loads(data)["rows"]) == len(results.tags)


def test_html_escapes_hostile_names(results: SweepResults) -> None:
    text = sweep_html.render(results)
    for hostile in (HOSTILE_REPO, HOSTILE_TAG, HOSTILE_ERROR, HOSTILE_PATH, "<hint>"):
        assert hostile not in text
    assert "window.__xss" in text  # the payloads are there, as inert data
    page = _parse(text)
    assert [t for t, _ in page.elements].count("script") == 2
    assert "img" not in [t for t, _ in page.elements] and "b" not in [t for t, _ in page.elements]
    data = json.loads(page.texts["script"][0])
    assert HOSTILE_REPO in {row["r"] for row in data["rows"]}
    assert HOSTILE_TAG in {row["t"] for row in data["rows"]}
    assert HOSTILE_ERROR in {a["error"] for a in data["audits"]}
    assert any(f[4] == HOSTILE_PATH for a in data["audits"] for f in a["findings"])


# ------------------------------------------------------------------------------ HTML in Chromium


def _open(browser: Browser, path: Path, text: str) -> Page:
    path.write_text(text, encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for("document.body.getAttribute('data-ready') === 'true'")
    return page


def _shown(page: Page) -> list[int]:
    return [int(i) for i in page.eval(
        "Array.from(document.querySelectorAll('#tags tbody tr.row'))"
        ".map(tr => tr.getAttribute('data-row'))")]


def _select(page: Page, selector: str, value: str) -> None:
    page.eval(f"(() => {{ const s = document.querySelector({json.dumps(selector)});"
              f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('input')); }})()")


def test_browser_harness_sees_errors_and_requests(browser: Browser, tmp_path: Path) -> None:
    # The checks below are only worth something if a broken page would fail them.
    page = _open(browser, tmp_path / "broken.html",
                 "<!DOCTYPE html><body><script>console.error('boom'); missing();"
                 "document.body.setAttribute('data-ready', 'true');</script>"
                 "<script>document.body.setAttribute('data-ready', 'true');</script>"
                 "<img src='http://127.0.0.1:9/pixel.png'></body>")
    time.sleep(0.2)
    assert any("boom" in e for e in page.errors)
    assert any("missing" in e for e in page.errors)
    assert "http://127.0.0.1:9/pixel.png" in page.requests


def test_html_in_chromium(browser: Browser, results: SweepResults, tmp_path: Path) -> None:
    started = time.monotonic()
    path = tmp_path / "report.html"
    page = _open(browser, path, sweep_html.render(results))
    order = worst_first(results)
    n = len(order)

    # It renders: every tag, worst first, and the summary.
    assert _shown(page) == list(range(n))
    assert page.eval("document.getElementById('count').textContent") == f"showing {n} of {n} tags"
    assert page.eval("document.querySelector('[data-stat=tags]').textContent") == str(n)
    assert page.eval("document.querySelectorAll('svg.histogram rect').length") == 10

    # Clicking a header sorts, numerically; clicking it again reverses.
    def by(value: Callable[[SweepTag], Any]) -> list[int]:
        return sorted(range(n), key=lambda i: (value(order[i]), i))

    score = by(lambda t: t.audit.score if t.audit.score is not None else -1)
    page.click("#tags th[data-key=score] button")
    assert page.eval("document.querySelector('#tags th[data-key=score]')"
                     ".getAttribute('aria-sort')") == "ascending"
    assert _shown(page) == score
    page.click("#tags th[data-key=score] button")
    shown = _shown(page)
    assert [_worst_key(order[i])[1] for i in shown] == sorted(
        (_worst_key(order[i])[1] for i in shown), reverse=True)
    page.click("#tags th[data-key=size] button")
    assert _shown(page) == by(lambda t: t.audit.size if t.audit.size is not None else -1)
    assert order[_shown(page)[-1]].audit.size != 999  # 999 bytes is not the largest
    page.click("#tags th[data-key=layers] button")
    assert order[_shown(page)[-1]].audit.layers == 12
    page.click("#tags th[data-key=repository] button")
    assert _shown(page) == by(lambda t: t.repository)

    # The filters filter.
    page.type("#filter", "apps/good")
    assert {order[i].reference for i in _shown(page)} == {
        f"{REGISTRY}/apps/good:1.0", f"{REGISTRY}/apps/good:stable"}
    assert page.eval("document.getElementById('count').textContent") == f"showing 2 of {n} tags"
    _select(page, "#filter", "")
    _select(page, "#grade", "F")
    assert sorted(order[i].audit.grade for i in _shown(page)) == ["F", "F"]
    _select(page, "#grade", "")
    _select(page, "#status", "error")
    assert len(_shown(page)) == sum(t.audit.failed for t in order) == 4
    _select(page, "#status", "skipped")
    (chart,) = _shown(page)
    cells = page.eval(f"Array.from(document.querySelector(\"tr[data-row='{chart}']\").cells)"
                      ".map(c => c.textContent)")
    assert cells[0] == "charts/app" and cells[-1] == "skipped: not an image"
    assert "skipped" in cells
    page.click(f"#tags tbody tr[data-row='{chart}']")
    detail = page.eval("document.querySelector('tr.detail').textContent")
    assert "Not audited: not a container image" in detail and "helm.config" in detail
    page.click(f"#tags tbody tr[data-row='{chart}']")
    assert page.eval("document.querySelector('[data-stat=skipped]').textContent") == "1"
    assert page.eval("document.querySelector('[data-stat=errors]').textContent") == "4"
    _select(page, "#status", "")

    # A click on a row opens its drill-down: practices, findings with evidence and fixes.
    bad = next(i for i, t in enumerate(order) if t.repository == "apps/bad")
    page.click(f"#tags tbody tr[data-row='{bad}']")
    detail = page.wait_for("document.querySelector('tr.detail') &&"
                           " document.querySelector('tr.detail').textContent")
    item = demo_reports()[2]
    for scored in item.findings:
        assert scored.rule.id in detail and scored.rule.fix in detail
    assert "DEPLOY_TOKEN=********" in detail and "Non-root user" in detail
    page.click(f"#tags tbody tr[data-row='{bad}']")
    assert page.eval("document.querySelectorAll('tr.detail').length") == 0
    gone = next(i for i, t in enumerate(order) if t.repository == "apps/gone")
    page.click(f"#tags tbody tr[data-row='{gone}']")
    detail = page.eval("document.querySelector('tr.detail').textContent")
    assert "manifest unknown" in detail and "hint: check the tag exists" in detail

    # Hostile names are shown as text and never run.
    hostile = next(i for i, t in enumerate(order) if t.repository == HOSTILE_REPO and t.audit.ok)
    page.click(f"#tags tbody tr[data-row='{hostile}']")
    cells = page.eval(f"Array.from(document.querySelector(\"tr[data-row='{hostile}']\").cells)"
                      ".map(c => c.textContent)")
    assert cells[:2] == [HOSTILE_REPO, HOSTILE_TAG]
    assert HOSTILE_PATH in page.eval("document.querySelector('tr.detail').textContent")
    _select(page, "#status", "error")
    assert page.eval("window.__xss === undefined && document.querySelectorAll('img').length")\
        == 0
    assert HOSTILE_ERROR in page.eval("document.getElementById('tags').textContent")

    # No console error, no exception, no request but the page itself.
    time.sleep(0.1)
    assert page.errors == []
    assert page.requests == [path.as_uri()]
    assert time.monotonic() - started < 20


def _many(results: SweepResults, count: int) -> SweepResults:
    """`count` distinct images, with the findings of the real ones, as a big registry would."""
    real = [a for a in results.audits if a.ok]
    tags, audits = [], []
    for i in range(count):
        score = (i * 37) % 101
        audit: SweepAudit = dataclasses.replace(
            real[i % len(real)], digest=f"sha256:{i:064x}", score=score,
            grade=grade_for(score), size=(i * 7919) % 10**9 + 1,
            status=AuditStatus.OK if i % 50 else AuditStatus.ERROR,
            error="" if i % 50 else "timed out")
        audits.append(audit)
        tags.append(SweepTag(REGISTRY, f"team{i % 40}/app{i}", f"v{i % 7}.0", "", audit.digest,
                             1.0, audit))
    return SweepResults(tuple(tags), tuple(audits))


def test_html_with_thousands_of_rows_stays_quick(browser: Browser, results: SweepResults,
                                                tmp_path: Path) -> None:
    big = _many(results, 3000)
    text = sweep_html.render(big)
    assert len(text) < 12_000_000
    started = time.monotonic()
    page = _open(browser, tmp_path / "big.html", text)
    loaded = time.monotonic() - started
    assert len(_shown(page)) == 3000
    started = time.monotonic()
    page.click("#tags th[data-key=size] button")
    shown = _shown(page)
    sorted_in = time.monotonic() - started
    order = worst_first(big)
    sizes = [order[i].audit.size or 0 for i in shown]
    assert sizes == sorted(sizes)
    started = time.monotonic()
    page.type("#filter", "team7/")
    filtered = time.monotonic() - started
    assert len(_shown(page)) == 75
    assert page.errors == []
    assert loaded < 5 and sorted_in < 2 and filtered < 2, (loaded, sorted_in, filtered)
