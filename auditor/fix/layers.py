"""Practice 3: consecutive RUN instructions become one, joined with `&& \\`, the first one's line
kept. Only simple RUNs are merged: shell form without flags (no --mount, --network) or
here-documents, and each but the last self-contained (no `cd`, `export`, `set`, `exit`, ...),
so that every command runs as it did alone. Nothing between them but comments."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.dockerfile import Instruction
from auditor.fix.draft import Draft
from auditor.fix.facts import Facts
from auditor.fix.lines import merge_runs, shell_text
from auditor.fix.model import Advice
from auditor.fix.outcome import Outcome
from auditor.shell import read_script

RULE = "IA302"
TOO_MANY = "IA301"


def merge_consecutive_runs(facts: Facts, outcome: Outcome) -> Outcome:
    instructions = facts.stage.instructions
    removed = 0
    for finding in facts.own(RULE):
        first = facts.instruction_for_layer(finding.layer)
        if first is None or first not in instructions:
            continue
        streak = _streak(instructions, instructions.index(first))
        groups = _groups(facts, outcome.draft, streak)
        draft = outcome.draft
        for group in groups:
            if len(group) > 1:
                draft = _merge(draft, group)
                removed += len(group) - 1
        if len(groups) == 1:
            outcome = outcome.with_draft(draft, finding)
            continue
        outcome = outcome.with_draft(draft)
        kept = ", ".join(str(group[0].start_line) for group in groups)
        outcome = outcome.advise(Advice(
            RULE, first.location, f"{len(streak)} consecutive RUN steps; those starting at "
            f"lines {kept} were left apart",
            "merge them by hand where the order allows: a RUN with flags or a here-document, "
            "or one that changes the shell's state (cd, export, set, exit), cannot simply be "
            "chained"), finding)
    if removed:
        for finding in facts.own(TOO_MANY):
            outcome = outcome.advise(Advice(
                TOO_MANY, facts.where(finding, TOO_MANY), finding.message,
                f"the merged RUNs take {removed} layer{'s' if removed > 1 else ''} off; if "
                "the rebuilt image still has too many, chain more steps or COPY in fewer "
                "steps"), finding)
    return outcome


def _streak(instructions: Sequence[Instruction], start: int) -> list[Instruction]:
    """The RUN at `start` and the RUNs that directly follow it."""
    streak = []
    for instruction in instructions[start:]:
        if instruction.keyword != "RUN":
            break
        streak.append(instruction)
    return streak


def _simple(facts: Facts, instruction: Instruction) -> bool:
    return not (instruction.exec_form or instruction.flags or instruction.heredocs
                or facts.shell_changed(instruction))


def _groups(facts: Facts, draft: Draft, streak: Sequence[Instruction]
            ) -> list[list[Instruction]]:
    """The streak cut where two RUNs cannot be one."""
    groups: list[list[Instruction]] = []
    for instruction in streak:
        if groups:
            previous = groups[-1][-1]
            script = read_script(shell_text(draft.lines(previous), facts.escape))
            if (_simple(facts, previous) and _simple(facts, instruction)
                    and script.self_contained
                    and read_script(shell_text(draft.lines(instruction), facts.escape)).complete):
                groups[-1].append(instruction)
                continue
        groups.append([instruction])
    return groups


def _merge(draft: Draft, group: Sequence[Instruction]) -> Draft:
    start, end = draft.span(group[0])
    lines = draft.lines(group[0])
    for instruction in group[1:]:
        between = draft.original(end + 1, instruction.start_line - 1)
        own = draft.lines(instruction)
        script = read_script(shell_text(own, draft.escape))
        # `a && b || c` is `(a && b) || c`: a `;`, `||` or `&` of its own would take in the
        # commands merged before it, so such a RUN runs in a subshell
        chained = all(command.separator in ("", "&&", "|") for command in script.commands)
        lines = merge_runs(lines, between, own, draft.escape, wrap=not chained)
        end = draft.span(instruction)[1]
    numbers = ", ".join(str(instruction.start_line) for instruction in group)
    return draft.replace(start, end, lines, RULE,
                         f"lines {numbers}: {len(group)} RUNs merged into one: one layer, "
                         "not " + str(len(group)))
