"""Reads a history step's created_by as the builder wrote it: which builder, which instruction,
and the text after it, plus the Go renderings builders use for lists and port sets.

The classic builder writes `<shell> #(nop) INSTR ...` for steps that run nothing (the shell is
the one SHELL set at the time) and `[|N K=v ...] <shell> <command>` for RUN; BuildKit writes
`INSTR ...`, with ` # buildkit` after RUN, COPY and ADD."""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.dockerfile.model import Builder
from auditor.dockerfile.parse import KEYWORDS

_BUILDKIT_SUFFIX = re.compile(r"\s#\s*buildkit\s*$")
_NOP = re.compile(r"^(?P<shell>[^|#][^#]*?)\s#\(nop\)\s+(?P<word>[A-Z]+)\b\s?(?P<body>.*)$",
                  re.DOTALL)
_GO_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class RecordedStep:
    """A created_by read back: which builder wrote it, the instruction and what followed it."""

    builder: Builder
    instruction: str  # RUN, COPY, ...
    body: str  # for a RUN: `[|N K=v ...] [shell] command`; builder decorations removed


def read_step(created_by: str) -> RecordedStep:
    text = created_by.strip()
    nop = _NOP.match(text)
    if nop and nop.group("word") in KEYWORDS:
        return RecordedStep(Builder.CLASSIC, nop.group("word"), nop.group("body").strip())
    suffix = _BUILDKIT_SUFFIX.search(text)
    word, _, rest = text.partition(" ")
    if word in KEYWORDS:
        body = rest[: suffix.start() - len(word) - 1] if suffix else rest
        return RecordedStep(Builder.BUILDKIT, word, body.strip())
    # the classic builder's RUN, shell or exec form: the command line as run
    return RecordedStep(Builder.CLASSIC, "RUN", text)


def go_strings(text: str) -> tuple[str, ...]:
    """The Go-quoted strings in text (`["a" "b"]` as fmt's %q writes a []string)."""
    return tuple(_unquote(found.group(1)) for found in _GO_STRING.finditer(text))


def _unquote(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        code = text[i + 1]
        width = {"x": 2, "u": 4, "U": 8}.get(code)
        if width:
            digits = text[i + 2 : i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            except ValueError:
                pass
        out.append(_GO_ESCAPES.get(code, "\\" + code))
        i += 2
    return "".join(out)


def port_set(text: str) -> frozenset[str] | None:
    """The `port/proto` set of an EXPOSE, however it was written or recorded: `80 9090/udp`
    (classic), `map[80/tcp:{} 9090/udp:{}]` (BuildKit until 0.12), `[80/tcp 9090/udp]`;
    None when a port does not read as one."""
    text = text.strip()
    text = text.removeprefix("map[").removeprefix("[").removesuffix("]")
    ports: set[str] = set()
    for spec in text.split():
        expanded = port_specs(spec.removesuffix(":{}"))
        if expanded is None:
            return None
        ports.update(expanded)
    return frozenset(ports)


def port_specs(spec: str) -> tuple[str, ...] | None:
    """`[ip:][host:]port[-end][/proto]` as the `port/proto` entries it exposes."""
    port, _, proto = spec.rpartition(":")[2].partition("/")
    proto = proto.lower() or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        return None
    start, _, end = port.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        return None
    last = int(end) if end else int(start)
    if last < int(start) or last - int(start) > 65535:
        return None
    return tuple(f"{number}/{proto}" for number in range(int(start), last + 1))
