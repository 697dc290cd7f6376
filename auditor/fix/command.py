"""Practice 10: a CMD or ENTRYPOINT in shell form becomes exec form, so that the app, not
`/bin/sh -c`, gets the signals `docker stop` sends; only when the command is plain words, which
mean the same to the shell and in a JSON array. Anything else is advice."""

from __future__ import annotations

from auditor.dockerfile import ConfigField, Instruction
from auditor.fix.facts import Facts
from auditor.fix.lines import exec_form, shell_text
from auditor.fix.model import Advice
from auditor.fix.outcome import Outcome
from auditor.shell import word_list

RULE = "IA1002"


def use_exec_form(facts: Facts, outcome: Outcome) -> Outcome:
    for finding in facts.own(RULE):
        field = ConfigField.ENTRYPOINT if facts.image.config.entrypoint else ConfigField.CMD
        keyword = "ENTRYPOINT" if field is ConfigField.ENTRYPOINT else "CMD"
        instruction = facts.mapping.config_source(field)
        if instruction is None or instruction.keyword != keyword:
            continue  # inherited from the base image: the generic advice says what to do
        lines = outcome.draft.lines(instruction)
        words = word_list(shell_text(lines, facts.escape))
        refusal = _refusal(facts, instruction, words)
        if refusal:
            why, action = refusal
            outcome = outcome.advise(Advice(
                RULE, instruction.location, f"{instruction.describe()} runs under /bin/sh -c",
                f"{action} ({why})"), finding)
            continue
        assert words is not None
        draft = outcome.draft.edit(
            instruction, exec_form(lines, words), RULE,
            f"line {instruction.start_line}: {keyword} in exec form: the app itself gets "
            "SIGTERM, not /bin/sh")
        outcome = outcome.with_draft(draft, finding)
    return outcome


def _refusal(facts: Facts, instruction: Instruction, words: tuple[str, ...] | None
             ) -> tuple[str, str] | None:
    """Why the command cannot simply be written in exec form, and what to do instead."""
    if instruction.exec_form:
        return ("the exec form itself starts a shell", "start the app directly, or begin the "
                "shell's command with `exec ` so that the app replaces the shell")
    if facts.shell_changed(instruction):
        return ("a SHELL instruction sets the shell it runs in", "write it in exec form by hand")
    if instruction.keyword == "ENTRYPOINT" and any(
            other.keyword == "CMD" for other in facts.stage.instructions):
        return ("in exec form, the stage's CMD would become its arguments",
                "write ENTRYPOINT and CMD in exec form together")
    if words is None:
        return ("it uses shell syntax: variables, operators, escapes or redirections",
                "begin it with `exec ` (`CMD exec python app.py --port $PORT`), or move the "
                "shell part into a script that ends with exec")
    return None
