"""A sweep as a terminal table: a one-line summary, then every tag, worst first. Names, tags and
errors come from registries: their control characters are escaped before they reach a terminal."""

from __future__ import annotations

from tabulate import tabulate

from auditor.formats.sweep import failing_practices, headline, summarize, worst_first
from auditor.model.sweep import AuditStatus, SweepResults
from auditor.text import printable
from auditor.units import human_size

_ERROR_WIDTH = 70
SKIPPED = "skipped: not an image"


def render(results: SweepResults) -> str:
    summary = summarize(results)
    several = len(summary.registries) > 1
    platforms = any(t.platform for t in results.tags)
    rows = []
    used: dict[int, str] = {}
    for tag in worst_first(results):
        audit = tag.audit
        if audit.ok:
            failing = failing_practices(audit)
            used.update({p.practice.id: p.practice.name for p in audit.practices
                         if p.practice.id in failing})
            detail = ",".join(str(n) for n in failing) or "-"
        elif audit.status is AuditStatus.SKIPPED:
            detail = SKIPPED
        else:
            detail = "error: " + audit.error
            if len(detail) > _ERROR_WIDTH:
                detail = detail[:_ERROR_WIDTH - 3] + "..."
        row = [
            f"{tag.registry}/{tag.repository}" if several else tag.repository,
            tag.tag,
            *([tag.platform or "-"] if platforms else []),
            audit.score if audit.score is not None else "-",
            audit.grade or "-",
            human_size(audit.size) if audit.size is not None else "-",
            audit.layers if audit.layers is not None else "-",
            detail,
        ]
        rows.append([printable(str(cell)) for cell in row])
    headers = ["repository", "tag", *(["platform"] if platforms else []),
               "score", "grade", "size", "layers", "failing practices / error"]
    where = ", ".join(summary.registries) or "no registry"
    lines = [printable(f"imgaudit sweep of {where}: {headline(summary)}")]
    if rows:
        lines += ["", tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
    if used:
        lines += ["", "practices: " + "; ".join(f"{n} {name}" for n, name in sorted(used.items()))]
    if len(summary.rulesets) > 1:
        lines += ["", f"note: audits from {len(summary.rulesets)} rule sets are shown; "
                      "sweep again to audit every image under the current one"]
    return "\n".join(lines) + "\n"
