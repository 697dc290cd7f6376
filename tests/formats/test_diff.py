"""The diff renderers on in-memory images: every format shows the measures side by side, the
changed practices and the findings added and removed, and never a secret value."""

from __future__ import annotations

import json
import re

import pytest

from auditor.compare import diff
from auditor.errors import UsageError
from auditor.formats.diff import DIFF_RENDERERS, render_diff
from auditor.model.report import ImageDiff
from tests.support.factory import bad, copy, file, good, report

SECRET = "abcdef123456"  # the API_TOKEN value bad() sets in ENV


def change() -> ImageDiff:
    return diff(report(good()), report(bad(), reference="app:2"))


def test_json_diff() -> None:
    d = change()
    document = json.loads(render_diff(d, "json"))
    assert document["kind"] == "diff" and document["schema_version"] == 1
    assert document["old"]["reference"] == "app:1" and document["new"]["reference"] == "app:2"
    assert document["change"]["score"] == d.new.score - d.old.score < 0
    assert document["change"]["size"] == d.new.image.size - d.old.image.size
    assert document["change"]["layers"] == len(d.new.image.layers) - len(d.old.image.layers)
    assert [f["rule"] for f in document["added"]] == [s.rule.id for s in d.added]
    assert document["removed"] == []
    assert {p["id"] for p in document["practices"] if p["changed"]} == {
        p.practice.id for p in d.practices if p.old is not p.new}
    assert all(f["fingerprint"] and f["fix"] for f in document["added"])


def test_table_and_markdown_diff() -> None:
    d = change()
    table = render_diff(d, "table")
    assert f"Findings added ({len(d.added)}):" in table
    assert "Findings removed: none" in table
    for scored in d.added:
        assert scored.rule.id in table
    assert "fix:" in table
    markdown = render_diff(d, "markdown")
    assert markdown.startswith("## imgaudit diff: app:1 → app:2")
    assert f"### Findings added ({len(d.added)})" in markdown
    changed = [p for p in d.practices if p.changed]
    assert changed and all(f"**{p.new.value}**" in markdown for p in changed)
    reverse = render_diff(diff(d.new, d.old), "markdown")
    assert f"### Findings removed ({len(d.added)})" in reverse


@pytest.mark.parametrize("fmt", sorted(DIFF_RENDERERS))
def test_no_secret_value_in_any_format(fmt: str) -> None:
    d = change()
    assert any(s.rule.id == "IA1101" for s in d.added)
    assert SECRET not in render_diff(d, fmt)


def test_unknown_format() -> None:
    with pytest.raises(UsageError, match="sarif"):
        render_diff(change(), "sarif")


def test_markdown_escapes_what_the_image_supplies() -> None:
    # A file name can hold HTML: `<!--` would hide the rest of a merge-request comment.
    hostile = good().adding(copy("file:1 in /app/", file("app/<b>x<!--.key", "k")))
    d = diff(report(good()), report(hostile, reference="app:<i>2|"))
    (added,) = [s for s in d.added if s.finding.path == "app/<b>x<!--.key"]
    markdown = render_diff(d, "markdown")
    assert "<!--" not in markdown and "<b>" not in markdown and "<i>" not in markdown
    assert re.findall(r"(?<!\\)<", markdown) == []  # no raw HTML at all
    assert r"app/\<b\>x\<\!--.key" in markdown  # shown as written, escaped
    assert r"app:\<i\>2\|" in markdown
    assert added.rule.fix.split("`")[0] in markdown  # the fix stays readable Markdown
