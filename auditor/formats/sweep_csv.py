"""A sweep as CSV: one row per repository tag (and platform), worst first, for spreadsheets."""

from __future__ import annotations

import csv
import io

from auditor.formats.sweep import worst_first
from auditor.formats.sweep_json import tag_document
from auditor.model.sweep import SweepResults

COLUMNS = ("registry", "repository", "tag", "platform", "digest", "status", "score", "grade",
           "size", "own_size", "layers", "own_layers", "failing_practices", "findings", "error",
           "hint", "ruleset", "audited_at", "seen_at")
# A text cell a spreadsheet would run as a formula (registry-supplied text reaches error
# messages) is kept as text with a leading apostrophe.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA):
        return "'" + text
    return text


def render(results: SweepResults) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for tag in worst_first(results):
        document = tag_document(tag)
        writer.writerow([_cell(document[column]) for column in COLUMNS])
    return out.getvalue()
