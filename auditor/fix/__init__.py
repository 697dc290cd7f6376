"""`imgaudit fix`: from an audited image and the Dockerfile that built it, the edits of the
Dockerfile and .dockerignore that fix what can be fixed mechanically and safely, and advice for
the rest. Pure: the command reads the files and the image, and writes.

    plan = plan_fix(report, mapping, text, context)      # mapping: match_image(...)
    new_text = apply_edits(text, plan.edits_to(Target.DOCKERFILE))
    print(unified_diff(text, new_text, "Dockerfile"))
"""

from __future__ import annotations

from auditor.fix.apply import apply_edits, split_lines, unified_diff
from auditor.fix.model import Advice, Context, Edit, Plan, Target
from auditor.fix.plan import plan_fix

__all__ = [
    "Advice",
    "Context",
    "Edit",
    "Plan",
    "Target",
    "apply_edits",
    "plan_fix",
    "split_lines",
    "unified_diff",
]
