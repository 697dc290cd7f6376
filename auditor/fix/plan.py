"""Plans the fix of a Dockerfile from its image's audit: each fix in turn edits the draft or
advises, then every finding no fix dealt with becomes advice of its own. Pure: the text of the
Dockerfile and a listing of the context in, edits and advice out."""

from __future__ import annotations

import re
from collections.abc import Callable

from auditor.dockerfile import DockerfileMapping
from auditor.fix.apply import split_lines
from auditor.fix.caches import remove_caches
from auditor.fix.command import use_exec_form
from auditor.fix.draft import Draft
from auditor.fix.facts import Facts
from auditor.fix.ignore import ignore_context_files
from auditor.fix.layers import merge_consecutive_runs
from auditor.fix.model import Advice, Context, Plan
from auditor.fix.outcome import Outcome
from auditor.fix.user import run_as_user
from auditor.fix.workdir import set_workdir
from auditor.model.image import Origin
from auditor.model.report import ImageReport

Fix = Callable[[Facts, Outcome], Outcome]
# In this order: per-line edits first, so that merged RUNs carry them; the user last, so that it
# is created after every build step (and may end the merged RUN).
FIXES: tuple[Fix, ...] = (
    ignore_context_files,
    remove_caches,
    use_exec_form,
    merge_consecutive_runs,
    set_workdir,
    run_as_user,
)
_KEY = re.compile(r"config\.(Env|Labels): ([^=\s]+)=")


def plan_fix(report: ImageReport, mapping: DockerfileMapping, text: str, context: Context
             ) -> Plan:
    """The edits of the Dockerfile (whose text is `text`, as the mapping parsed it) and of the
    context's .dockerignore that fix the report's findings mechanically and safely, and advice
    for every other finding."""
    facts = Facts(report, mapping, context)
    outcome = Outcome(Draft(split_lines(text).lines, mapping.dockerfile.escape))
    for fix in FIXES:
        outcome = fix(facts, outcome)
    advice = list(outcome.advice)
    for scored in facts.findings():
        if scored.finding in outcome.handled:
            continue
        finding = scored.finding
        item = Advice(scored.rule.id, facts.where(finding, scored.rule.id),
                      _message(finding.message, finding.origin), _action(scored.rule.id,
                                                                         finding.evidence,
                                                                         scored.rule.fix))
        if item not in advice:
            advice.append(item)
    return Plan((*outcome.draft.edits(), *outcome.edits), tuple(advice))


def _message(message: str, origin: Origin) -> str:
    return message + (" (from the base image)" if origin is Origin.BASE else "")


def _action(rule: str, evidence: str, fix: str) -> str:
    """What to do: the rule's own fix, said of the very key for a secret in the metadata."""
    key = _KEY.search(evidence)
    if rule == "IA1101" and key:
        return (f"delete the ENV {key[2]} line; pass the value at run time (`docker run -e "
                f"{key[2]}`, an orchestrator secret), or to a build step with `RUN "
                "--mount=type=secret`; rotate it: it has shipped")
    if rule == "IA701":
        return ("add `EXPOSE PORT` for the port the app listens on (the image does not tell "
                "which)")
    if rule == "IA1102" and key:
        return f"delete the label {key[2]}; keep credentials out of metadata and rotate it"
    return fix
