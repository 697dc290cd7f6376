"""The `@rule` decorator: a rule's id, practice, severity, rationale and fix live here once, next
to its logic, and everything else (listing, docs, reports) reads them from the Rule it makes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auditor.model.findings import Flag, Passed, RuleInfo, Severity
from auditor.model.image import Image
from auditor.model.policy import Limits

Verdict = Flag | Passed
Check = Callable[[Image, Limits], Iterator[Verdict]]


@dataclass(frozen=True, slots=True)
class Rule:
    info: RuleInfo
    check: Check


def rule(
    id: str,
    *,
    practice: int,
    title: str,
    severity: Severity,
    rationale: str,
    fix: str,
    needs_content: bool = False,
    files: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> Callable[[Check], Rule]:
    """Declares a rule. Its function yields Flags for what is wrong and a Passed when all is
    well; it raises NotApplicable when it cannot judge the image."""

    def declare(check: Check) -> Rule:
        doc = inspect.getdoc(check) or ""
        return Rule(
            RuleInfo(
                id=id,
                practice=practice,
                title=title,
                severity=severity,
                rationale=rationale,
                fix=fix,
                needs_content=needs_content,
                files=files,
                doc=doc,
                tags=tags,
            ),
            check,
        )

    return declare
