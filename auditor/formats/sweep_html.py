"""A sweep as one self-contained HTML page: summary, score histogram (inline SVG), a sortable and
filterable table of tags, and a drill-down per image. No external asset: works from file://.

Registry-supplied text (names, tags, errors, evidence) is untrusted: the page puts it in the DOM
only as text (html.escape here, textContent in the script), its data travels as JSON with `<`
escaped, and a Content-Security-Policy lets only this page's own script and style run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any

from auditor.formats.sweep import (
    SweepSummary,
    failing_practices,
    summarize,
    timestamp,
    worst_first,
)
from auditor.model.sweep import SweepAudit, SweepResults
from auditor.units import human_size

_CSS = """
:root { --fg: #1d2329; --muted: #5b6670; --line: #d8dde2; --bg: #fff; --alt: #f5f7f9;
  --A: #1a7f37; --B: #4c9a2a; --C: #b08800; --D: #d1641b; --F: #c62828; --err: #7b1fa2; }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.5rem 2rem 3rem; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.75rem 0 .5rem; }
h3 { font-size: 1rem; margin: 0 0 .5rem; word-break: break-all; }
h4 { font-size: .9rem; margin: 1rem 0 .35rem; }
.meta, .muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; word-break: break-all; }
.stats { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0 0; padding: 0; }
.stats div { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem;
  min-width: 7.5rem; }
.stats dt { color: var(--muted); font-size: .8rem; }
.stats dd { margin: 0; font-size: 1.35rem; font-weight: 600; }
.notice { background: #fff8e1; border: 1px solid #f0d98a; padding: .5rem .75rem;
  border-radius: 6px; }
.grade { display: inline-block; min-width: 1.6em; text-align: center; border-radius: 4px;
  color: #fff; font-weight: 600; padding: 0 .3em; }
.g-A { background: var(--A); } .g-B { background: var(--B); } .g-C { background: var(--C); }
.g-D { background: var(--D); } .g-F { background: var(--F); } .g-error { background: var(--err); }
.g-skipped { background: var(--muted); }
svg.histogram { width: 100%; max-width: 760px; height: auto; display: block; }
svg .b-A { fill: var(--A); } svg .b-B { fill: var(--B); } svg .b-C { fill: var(--C); }
svg .b-D { fill: var(--D); } svg .b-F { fill: var(--F); }
svg text { font-size: 11px; fill: var(--muted); text-anchor: middle; }
svg line { stroke: var(--line); }
.controls { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: .5rem 0; }
.controls input, .controls select { font: inherit; padding: .25rem .4rem; }
.controls input { width: 18rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
#tags thead th { position: sticky; top: 0; background: var(--bg); z-index: 1;
  border-bottom: 2px solid var(--line); }
#tags th button { all: unset; cursor: pointer; font-weight: 600; }
#tags th button:focus-visible { outline: 2px solid #1f6feb; }
#tags th[aria-sort=ascending] button::after { content: " \\25B2"; }
#tags th[aria-sort=descending] button::after { content: " \\25BC"; }
#tags td.num, #tags th.num { text-align: right; }
#tags tbody tr.row { cursor: pointer; }
#tags tbody tr.row:hover, #tags tbody tr.row:focus { background: var(--alt); outline: none; }
#tags tbody tr.open { background: var(--alt); }
#tags td.error { color: var(--err); }
tr.detail > td { background: var(--alt); padding: .75rem 1rem 1rem; }
.drill dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
  margin: 0; }
.drill dt { color: var(--muted); }
.drill dd { margin: 0; }
.drill table { background: var(--bg); margin-top: .25rem; }
.drill td, .drill th { font-size: 13px; }
.sev-critical, .sev-high { color: var(--F); font-weight: 600; }
.sev-medium { color: var(--D); } .sev-low { color: var(--C); } .sev-info { color: var(--muted); }
.st-fail, .st-error { color: var(--F); font-weight: 600; } .st-warn { color: var(--D); }
.st-pass { color: var(--A); }
.errorbox { border-left: 4px solid var(--err); padding: .25rem .75rem; background: var(--bg); }
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("sweep-data").textContent);
  var audits = data.audits, rows = data.rows;
  var table = document.getElementById("tags");
  var tbody = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.querySelectorAll("thead th[data-key]"));
  var keys = heads.map(function (th) { return th.getAttribute("data-key"); });
  var filter = document.getElementById("filter");
  var gradeSelect = document.getElementById("grade");
  var statusSelect = document.getElementById("status");
  var count = document.getElementById("count");
  var state = { key: null, dir: 1, open: -1 };
  var byAudit = {};

  rows.forEach(function (row, i) {
    row.i = i;
    row.audit = audits[row.a];
    row.name = (row.g + "/" + row.r + ":" + row.t).toLowerCase();
    (byAudit[row.a] = byAudit[row.a] || []).push(row);
  });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function number(v) { return v === null || v === undefined ? -1 : v; }

  function sortValue(row, key) {
    var a = row.audit;
    switch (key) {
      case "repository": return row.r;
      case "tag": return row.t;
      case "platform": return row.p;
      case "score": return number(a.score);
      case "grade": return a.grade || "~";
      case "size": return number(a.size);
      case "layers": return number(a.layers);
      case "failing":
        return a.status === "skipped" ? -1 : (a.error ? 1000 : a.failing.length);
    }
    return "";
  }

  function cell(row, key) {
    var a = row.audit, td;
    switch (key) {
      case "repository": return el("td", null, row.r);
      case "tag": return el("td", "mono", row.t);
      case "platform": return el("td", "mono", row.p || "-");
      case "score": return el("td", "num", a.score === null ? "-" : a.score);
      case "grade":
        td = el("td");
        td.appendChild(el("span", "grade g-" + (a.grade || a.status), a.grade || a.status));
        return td;
      case "size": return el("td", "num", a.size_h || "-");
      case "layers": return el("td", "num", a.layers === null ? "-" : a.layers);
      case "failing":
        if (a.status === "skipped") {
          td = el("td", "muted", "skipped: not an image");
          td.title = a.error;
          return td;
        }
        if (a.error) {
          td = el("td", "error", "error: " + (a.error.length > 90
            ? a.error.slice(0, 87) + "..." : a.error));
          td.title = a.error;
          return td;
        }
        td = el("td", null, a.failing.length ? a.failing.join(" ") : "-");
        td.title = a.failing.map(function (n) { return n + " " + data.practices[n]; })
          .join("\n");
        return td;
    }
    return el("td");
  }

  function definitions(pairs) {
    var dl = el("dl");
    pairs.forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined || pair[1] === "") { return; }
      dl.appendChild(el("dt", null, pair[0]));
      dl.appendChild(el("dd", pair[2] || null, pair[1]));
    });
    return dl;
  }

  function grid(headers, lines) {
    var t = el("table"), head = t.createTHead().insertRow(), body = t.createTBody();
    headers.forEach(function (h) { head.appendChild(el("th", null, h)); });
    lines.forEach(function (cells) {
      var tr = body.insertRow();
      cells.forEach(function (c) {
        tr.appendChild(c instanceof Node ? c : el("td", null, c));
      });
    });
    return t;
  }

  function detail(row) {
    var a = row.audit, box = el("div", "drill");
    box.appendChild(el("h3", null, row.g + "/" + row.r + ":" + row.t));
    var others = (byAudit[row.a] || []).filter(function (o) { return o !== row; })
      .map(function (o) { return o.r + ":" + o.t; });
    box.appendChild(definitions([
      ["digest", a.digest || "not resolved", "mono"],
      ["platform", a.platform, "mono"],
      ["audited as", a.reference, "mono"],
      ["audited at", a.audited],
      ["took", a.duration + " s"],
      ["rule set", a.ruleset, "mono"],
      ["size", a.size_h ? a.size_h + " (" + a.own_size_h + " own)" : ""],
      ["layers", a.layers === null ? "" : a.layers + " (" + a.own_layers + " own)"],
      ["same image as", others.join(", ")]
    ]));
    if (a.status === "skipped") {
      var what = el("div", "errorbox");
      what.appendChild(el("p", null, a.error));
      if (a.hint) { what.appendChild(el("p", "muted", a.hint)); }
      box.appendChild(el("h4", null, "Not audited: not a container image"));
      box.appendChild(what);
      return box;
    }
    if (a.error) {
      var err = el("div", "errorbox");
      err.appendChild(el("p", "error", a.error));
      if (a.hint) { err.appendChild(el("p", "muted", "hint: " + a.hint)); }
      box.appendChild(el("h4", null, "Could not be audited"));
      box.appendChild(err);
      return box;
    }
    box.appendChild(el("h4", null, "Practices"));
    box.appendChild(grid(["#", "practice", "status", "findings", "points lost"],
      a.practices.map(function (p) {
        return [p[0], data.practices[p[0]], el("td", "st-" + p[1], p[1]), p[2],
          p[3] ? "-" + p[3] : ""];
      })));
    box.appendChild(el("h4", null, a.findings.length
      ? "Findings (" + a.findings.length + ")" : "No findings"));
    if (a.findings.length) {
      box.appendChild(grid(["severity", "rule", "finding", "evidence", "points", "fix"],
        a.findings.map(function (f) {
          var rule = data.rules[f[0]] || ["", 0, ""];
          var where = [f[3]];
          if (f[4]) { where.push("path: " + f[4]); }
          if (f[5] !== null) { where.push("layer " + f[5] + " (" + f[6] + ")"); }
          var evidence = el("td", "mono");
          where.forEach(function (w, i) {
            if (i) { evidence.appendChild(el("br")); }
            evidence.appendChild(document.createTextNode(w));
          });
          return [el("td", "sev-" + f[1], f[1]), f[0], rule[0] + ": " + f[2], evidence,
            f[7] ? f[7] : "", rule[2]];
        })));
    }
    return box;
  }

  function visible() {
    var text = filter.value.trim().toLowerCase();
    var grade = gradeSelect.value, status = statusSelect.value;
    return rows.filter(function (row) {
      var a = row.audit;
      if (text && row.name.indexOf(text) < 0) { return false; }
      if (grade && (a.grade || a.status) !== grade) { return false; }
      if (status && a.status !== status) { return false; }
      return true;
    });
  }

  function render() {
    var shown = visible();
    if (state.key) {
      var key = state.key, dir = state.dir;
      shown.sort(function (x, y) {
        var a = sortValue(x, key), b = sortValue(y, key);
        if (a < b) { return -dir; }
        if (a > b) { return dir; }
        return x.i - y.i;
      });
    }
    var fragment = document.createDocumentFragment();
    shown.forEach(function (row) {
      var tr = el("tr", "row");
      tr.setAttribute("data-row", row.i);
      tr.tabIndex = 0;
      tr.setAttribute("aria-expanded", row.i === state.open ? "true" : "false");
      keys.forEach(function (key) { tr.appendChild(cell(row, key)); });
      fragment.appendChild(tr);
      if (row.i === state.open) {
        tr.className += " open";
        var more = el("tr", "detail"), td = el("td");
        td.colSpan = keys.length;
        td.appendChild(detail(row));
        more.appendChild(td);
        fragment.appendChild(more);
      }
    });
    tbody.textContent = "";
    tbody.appendChild(fragment);
    count.textContent = "showing " + shown.length + " of " + rows.length + " tags";
  }

  heads.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      state.dir = state.key === key ? -state.dir : 1;
      state.key = key;
      heads.forEach(function (h) {
        h.setAttribute("aria-sort", h === th
          ? (state.dir > 0 ? "ascending" : "descending") : "none");
      });
      render();
    });
  });

  function toggle(target) {
    var tr = target.closest("tr.row");
    if (!tr) { return; }
    var i = Number(tr.getAttribute("data-row"));
    state.open = state.open === i ? -1 : i;
    render();
    var again = tbody.querySelector('tr[data-row="' + i + '"]');
    if (again) { again.focus(); }
  }
  tbody.addEventListener("click", function (event) { toggle(event.target); });
  tbody.addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      toggle(event.target);
    }
  });
  [filter, gradeSelect, statusSelect].forEach(function (input) {
    input.addEventListener("input", render);
  });
  render();
  document.body.setAttribute("data-ready", "true");
})();
"""

_GRADE_OF_BIN = ("F", "F", "F", "F", "F", "F", "D", "C", "B", "A")


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# The page allows only its own script and style, by hash (computed once).
_JS_HASH = _hash(_JS)
_CSS_HASH = _hash(_CSS)


def _embed(data: object) -> str:
    """JSON that cannot end its <script> block: every `<`, `>` and `&` escaped."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _histogram(summary: SweepSummary) -> str:
    width, height, top, bottom = 640, 200, 20, 30
    slot = width / 10
    tallest = max(summary.histogram) or 1
    parts = [
        f'<svg class="histogram" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Score distribution of {sum(summary.histogram)} audited images">',
        f'<line x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}"/>',
    ]
    for i, n in enumerate(summary.histogram):
        bar = (height - top - bottom) * n / tallest
        x = i * slot + 6
        y = height - bottom - bar
        label = f"{10 * i}-{100 if i == 9 else 10 * i + 9}"
        parts.append(
            f'<rect class="b-{_GRADE_OF_BIN[i]}" x="{x:.1f}" y="{y:.1f}" '
            f'width="{slot - 12:.1f}" height="{bar:.1f}" data-bin="{label}" data-count="{n}">'
            f"<title>score {label}: {n} image(s)</title></rect>")
        parts.append(f'<text x="{x + (slot - 12) / 2:.1f}" y="{y - 5:.1f}">{n}</text>')
        parts.append(
            f'<text x="{x + (slot - 12) / 2:.1f}" y="{height - bottom + 16}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _audit_data(audit: SweepAudit) -> dict[str, Any]:
    return {
        "status": audit.status.value,
        "digest": audit.digest,
        "platform": audit.platform,
        "ruleset": audit.ruleset,
        "reference": audit.reference,
        "audited": timestamp(audit.audited_at),
        "duration": round(audit.duration, 2),
        "score": audit.score,
        "grade": audit.grade,
        "size": audit.size,
        "size_h": human_size(audit.size) if audit.size is not None else "",
        "own_size_h": human_size(audit.own_size) if audit.own_size is not None else "",
        "layers": audit.layers,
        "own_layers": audit.own_layers,
        "failing": list(failing_practices(audit)),
        "practices": [[p.practice.id, p.status.value, p.findings, p.points_lost]
                      for p in audit.practices],
        "findings": [[f.rule, f.severity.label, f.message, f.evidence, f.path, f.layer,
                      f.origin.value, f.points] for f in audit.findings],
        "error": audit.error,
        "hint": audit.hint,
    }


def _stat(name: str, key: str, value: object) -> str:
    return (f'<div><dt>{escape(name)}</dt>'
            f'<dd data-stat="{key}">{escape(str(value))}</dd></div>')


def render(results: SweepResults) -> str:
    summary = summarize(results)
    index = {id(audit): i for i, audit in enumerate(results.audits)}
    data = {
        "audits": [_audit_data(a) for a in results.audits],
        "rows": [{"a": index[id(t.audit)], "g": t.registry, "r": t.repository, "t": t.tag,
                  "p": t.platform} for t in worst_first(results)],
        "practices": {p.practice.id: p.practice.name
                      for a in results.audits for p in a.practices},
        "rules": {f.rule: [f.title, f.practice, f.fix] for a in results.audits
                  for f in a.findings},
    }
    where = ", ".join(summary.registries) or "no registry"
    columns = [("repository", "Repository", ""), ("tag", "Tag", "")]
    if any(t.platform for t in results.tags):
        columns.append(("platform", "Platform", ""))
    columns += [("score", "Score", "num"), ("grade", "Grade", ""), ("size", "Size", "num"),
                ("layers", "Layers", "num"), ("failing", "Failing practices / error", "")]
    heads = "".join(
        f'<th data-key="{key}" aria-sort="none"{f" class={kind!r}" if kind else ""}>'
        f'<button type="button">{label}</button></th>'
        for key, label, kind in columns)
    grades = "".join(f'<option value="{g}">{g}</option>' for g, _ in summary.grades)
    chips = " ".join(f'<span class="grade g-{g}">{g}</span> {n}' for g, n in summary.grades)
    stats = "".join((
        _stat("tags", "tags", summary.tags),
        _stat("images", "images", summary.images),
        _stat("repositories", "repositories", summary.repositories),
        _stat("errors", "errors", summary.errors),
        _stat("not images", "skipped", summary.skipped),
        _stat("mean score", "mean", "-" if summary.mean is None else f"{summary.mean:g}"),
        _stat("median score", "median",
              "-" if summary.median is None else f"{summary.median:g}"),
    ))
    notice = ""
    if len(summary.rulesets) > 1:
        notice = (f'<p class="notice">These audits were made under {len(summary.rulesets)} '
                  "rule sets; sweep again to audit every image under the current one.</p>")
    last = timestamp(summary.last_seen) or "never"
    sources = ", ".join(results.databases)
    policy = (f"default-src 'none'; script-src '{_JS_HASH}'; style-src '{_CSS_HASH}'; "
              "base-uri 'none'; form-action 'none'")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="referrer" content="no-referrer">
<title>imgaudit sweep: {escape(where)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>imgaudit sweep of {escape(where)}</h1>
<p class="meta">tags last seen {escape(last)} &middot; from {escape(sources)}</p>
</header>
<section id="summary" aria-label="Summary">
<dl class="stats">{stats}</dl>
<p>Grades: {chips}</p>
{notice}
</section>
<section id="chart">
<h2>Score distribution</h2>
{_histogram(summary)}
</section>
<section id="list">
<h2>Repositories and tags</h2>
<div class="controls">
<label>Filter <input id="filter" type="search" placeholder="repository or tag"
 autocomplete="off"></label>
<label>Grade <select id="grade"><option value="">all</option>{grades}
<option value="error">error</option></select></label>
<label>Status <select id="status"><option value="">all</option><option value="ok">audited</option>
<option value="error">error</option><option value="skipped">not an image</option></select></label>
<span id="count" class="muted" aria-live="polite"></span>
</div>
<table id="tags"><thead><tr>{heads}</tr></thead><tbody></tbody></table>
<noscript><p>This page needs JavaScript for its table; <code>imgaudit report --format csv</code>
gives the same rows.</p></noscript>
<p class="muted">Click a row for the image's practices, findings and fixes.</p>
</section>
<script type="application/json" id="sweep-data">{_embed(data)}</script>
<script>{_JS}</script>
</body>
</html>
"""
