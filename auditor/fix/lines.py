"""Edits of one instruction's lines as written: the shell text they hold, commands appended in
the same RUN, an option added after a command, two RUNs merged, a command in exec form. Each
keeps the user's indentation, comments and escape character, and touches no other line."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_KEYWORD = re.compile(r"^(?P<indent>\s*)(?P<keyword>[A-Za-z]+)\s+(?P<flags>(?:--\S+\s+)*)")
_SEPARATOR = re.compile(r"&&|\|\||;|\||&|$")
DEFAULT_INDENT = "    "
WIDTH = 79  # a line that would grow past this gets a continuation line instead


def _continues(line: str, escape: str) -> bool:
    return line.rstrip(" \t").endswith(escape)


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def keyword(lines: Sequence[str]) -> str:
    """The instruction's keyword as written (`RUN`, `run`)."""
    found = _KEYWORD.match(lines[0]) if lines else None
    return found.group("keyword") if found else ""


def shell_text(lines: Sequence[str], escape: str) -> str:
    """The command a shell-form RUN, CMD or ENTRYPOINT hands to the shell: keyword and flags
    left out, continuation lines joined as the builder joins them, comment and empty lines
    inside the instruction dropped."""
    parts: list[str] = []
    for index, line in enumerate(lines):
        if index and (_is_comment(line) or not line.strip()):
            continue
        if index == 0:
            found = _KEYWORD.match(line)
            line = line[found.end():] if found else line
        if _continues(line, escape):
            parts.append(line.rstrip(" \t")[: -len(escape)])
        else:
            parts.append(line)
    return "".join(parts).strip()


def indent_of(lines: Sequence[str]) -> str:
    """The indentation of the instruction's continuation lines, or four spaces."""
    for line in lines[1:]:
        if line.strip() and not _is_comment(line):
            indent = line[: len(line) - len(line.lstrip())]
            return indent or DEFAULT_INDENT
    return DEFAULT_INDENT


def append_commands(lines: Sequence[str], commands: Sequence[str], escape: str
                    ) -> tuple[str, ...]:
    """`&& command` after the instruction's last command: on its last line when it is a one-line
    instruction and stays short, else one continuation line per command."""
    last = lines[-1].rstrip()
    joined = " && ".join(commands)
    if len(lines) == 1 and len(last) + 4 + len(joined) <= WIDTH:
        return (f"{last} && {joined}",)
    indent = indent_of(lines)
    out = [*lines[:-1], f"{last} && {escape}"]
    for index, command in enumerate(commands):
        more = index < len(commands) - 1
        out.append(f"{indent}{command}" + (f" && {escape}" if more else ""))
    return tuple(out)


def merge_runs(first: Sequence[str], between: Sequence[str], second: Sequence[str],
               escape: str, *, wrap: bool = False) -> tuple[str, ...]:
    """Two RUNs as one: the first's lines, `&&`, the comment lines between them (a comment line
    inside a continued instruction is allowed and skipped by both builders), then the second's
    command on a continuation line, its own continuation lines as they were. With wrap, the
    second runs in `( ... )`: its own `;` or `||` must not take in the commands before it."""
    found = _KEYWORD.match(second[0])
    body = second[0][found.end():] if found else second[0].lstrip()
    indent = indent_of(first)
    comments = [line for line in between if _is_comment(line)]
    rest = list(second[1:])
    if wrap:
        body = f"( {body}"
        if rest:
            rest[-1] = f"{rest[-1].rstrip()} )"
        else:
            body = f"{body.rstrip()} )"
    return (*first[:-1], f"{first[-1].rstrip()} && {escape}", *comments, f"{indent}{body}",
            *rest)


def pattern_words(*words: str, escape: str) -> str:
    """A regex for words in sequence, whatever blanks and continuation lines separate them."""
    blank = rf"(?:[ \t]|{re.escape(escape)}[ \t]*\n)+"
    return blank.join(words)


def add_option(lines: Sequence[str], command: re.Pattern[str], option: str,
               present: re.Pattern[str]) -> tuple[tuple[str, ...], int]:
    """` option` after each match of `command` whose arguments (up to the next `&&`, `;`, `|`)
    hold nothing matching `present`; the new lines and how many were changed. Matches on
    comment lines are left alone."""
    text = "\n".join(lines)
    out: list[str] = []
    position = changed = 0
    for found in command.finditer(text):
        line_start = text.rfind("\n", 0, found.start()) + 1
        if line_start and _is_comment(text[line_start:]):
            continue
        end = _SEPARATOR.search(text, found.end())
        arguments = text[found.end(): end.start() if end else len(text)]
        if present.search(arguments):
            continue
        out.append(text[position:found.end()])
        out.append(f" {option}")
        position = found.end()
        changed += 1
    out.append(text[position:])
    return tuple("".join(out).split("\n")), changed


def exec_form(lines: Sequence[str], words: Sequence[str]) -> tuple[str, ...]:
    """The instruction as one line in exec form (`CMD ["sh", "/app/serve.sh"]`), keyword and
    indentation as written."""
    found = _KEYWORD.match(lines[0])
    indent = found.group("indent") if found else ""
    word = found.group("keyword") if found else "CMD"
    return (f"{indent}{word} {json.dumps(list(words), ensure_ascii=False)}",)
