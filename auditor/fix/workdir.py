"""Practice 6: an image without a working directory gets `WORKDIR /app` (or the folder its whole
context was copied to): before the first COPY with a relative destination, whose files then land
there instead of in /, or else before the settings of the running container, where it changes
only the folder the app starts in. Refused when something names those files by their old place."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence

from auditor.dockerfile import Instruction
from auditor.fix.draft import Draft
from auditor.fix.facts import Facts, last_build_step
from auditor.fix.model import Advice
from auditor.fix.outcome import Outcome

RULE = "IA601"
DEFAULT = "/app"
# Top folders that hold the system, not an app: a CMD's script there says nothing of the app's.
_SYSTEM = frozenset({"bin", "sbin", "usr", "lib", "lib64", "etc", "proc", "sys", "dev", "tmp",
                     "root", "run", "var"})


def set_workdir(facts: Facts, outcome: Outcome) -> Outcome:
    findings = facts.own(RULE)
    if not findings:
        return outcome
    directory = app_directory(facts)
    where = facts.where(findings[0], RULE)

    def refuse(why: str) -> Outcome:
        return outcome.advise(Advice(RULE, where, "the image sets no working directory",
                                     f"add `WORKDIR {directory}` by hand ({why})"), *findings)

    if facts.has_workdir():
        return refuse("the Dockerfile's WORKDIR is / or relative: make it the app's own "
                      "absolute folder")
    relative = [instruction for instruction in facts.stage.instructions
                if instruction.keyword in ("COPY", "ADD") and len(instruction.arguments) > 1
                and not instruction.arguments[-1].startswith("/")]
    if any("$" in instruction.arguments[-1] for instruction in relative):
        return refuse("a COPY destination holds a variable")
    if relative:
        first = relative[0]
        for name in _copied_names(facts, relative):
            mention = _mentions(facts, first, f"/{name}")
            if mention is not None:
                return refuse(f"{mention.location} names /{name}, which would move to "
                              f"{directory}/{name}")
        before = _above_comments(outcome.draft, first)
        reason = (f"line {first.start_line}: WORKDIR {directory} before the first COPY to a "
                  "relative destination: the app's files and commands get a folder of their own")
    else:
        for word in _command_words(facts):
            if (not word.startswith(("/", "-")) and ("/" in word or "." in word)
                    and facts.exists(word) and not facts.exists(f"{directory}/{word}")):
                return refuse(f"the command names {word}, found in / only")
        step = last_build_step(facts)
        before = (outcome.draft.span(step)[1] if step else facts.stage.from_line.end_line) + 1
        reason = (f"WORKDIR {directory} before the command: the app starts in a folder of "
                  "its own, not in /")
    draft = outcome.draft.insert(before, (f"WORKDIR {directory}",), RULE, reason)
    return outcome.with_draft(draft, *findings)


def app_directory(facts: Facts) -> str:
    """Where the app lives: the absolute folder its whole context was copied to, else the
    folder of an absolute script its command runs (not a system folder), else /app."""
    for instruction in facts.stage.instructions:
        if instruction.keyword not in ("COPY", "ADD") or instruction.flag("from") is not None:
            continue
        *sources, destination = instruction.arguments
        whole = any(posixpath.normpath(source) in (".", "/") for source in sources)
        if whole and destination.startswith("/") and "$" not in destination:
            return posixpath.normpath(destination)
    for word in _command_words(facts):
        folder = posixpath.dirname(word)
        if (word.startswith("/") and "$" not in word and folder != "/"
                and folder.strip("/").split("/")[0] not in _SYSTEM):
            return folder
    return DEFAULT


def _command_words(facts: Facts) -> tuple[str, ...]:
    config = facts.image.config
    return (*(config.entrypoint or ()), *(config.cmd or ()))


def _copied_names(facts: Facts, copies: Iterable[Instruction]) -> set[str]:
    """The top-level names that copies to a relative destination put in /."""
    names: set[str] = set()
    for instruction in copies:
        *sources, destination = instruction.arguments
        top = posixpath.normpath(destination).split("/")[0]
        if top not in (".", ""):
            names.add(top)
            continue
        for source in sources:
            if posixpath.normpath(source) in (".", "/"):
                names.update(path for path in facts.context.paths if "/" not in path)
            else:
                names.add(posixpath.basename(posixpath.normpath(source)))
    return names


def _mentions(facts: Facts, after: Instruction, path: str) -> Instruction | None:
    """The first instruction from `after` on whose text names path."""
    pattern = re.compile(rf"(?<![\w.-]){re.escape(path)}(?![\w.-])")
    for instruction in facts.stage.instructions:
        if instruction.start_line > after.start_line and pattern.search(instruction.original):
            return instruction
    return None


def _above_comments(draft: Draft, instruction: Instruction) -> int:
    """The line before which to insert above an instruction: above the comment lines that
    introduce it."""
    line = draft.span(instruction)[0]
    source: Sequence[str] = draft.source
    while line > 1 and source[line - 2].lstrip().startswith("#"):
        line -= 1
    return line
