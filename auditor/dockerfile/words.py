"""Expands `$VAR`, `${VAR}` and `${VAR:-default}`-style words as BuildKit's shell lexer does, when
some values are not known: a value set by `--build-arg` or inherited from the base image is a
hole, matched later against what the builder recorded."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auditor.dockerfile.errors import DockerfileError


@dataclass(frozen=True, slots=True)
class Hole:
    """A value the Dockerfile alone cannot tell.

    key names what the hole stands for (a build argument, a base image variable), so that every
    use of it must match the same text and a match can learn its value; None matches anything and
    learns nothing. default is the value the build most likely used (tried first)."""

    key: str | None
    default: str | None = None


Part = str | Hole
Word = tuple[Part, ...]
# name -> its value, None when the variable is unset
Lookup = Callable[[str], Word | None]

ANYTHING: Word = (Hole(None),)


def is_literal(word: Word) -> bool:
    return all(isinstance(part, str) for part in word)


def literal(word: Word) -> str | None:
    """The word's text, or None when a part is not known."""
    return "".join(part for part in word if isinstance(part, str)) if is_literal(word) else None


def join(*words: Word | Part) -> Word:
    """One word from several words or parts, adjacent text merged."""
    parts: list[Part] = []
    for word in words:
        for part in (word,) if isinstance(word, (str, Hole)) else word:
            if isinstance(part, str) and parts and isinstance(parts[-1], str):
                parts[-1] += part
            elif part != "":
                parts.append(part)
    return tuple(parts)


def expand(text: str, lookup: Lookup, escape: str = "\\") -> Word:
    """text with variables replaced and quotes removed (BuildKit's ProcessWord)."""
    word, _ = _Lexer(text, lookup, escape).run()
    return word


def expand_fields(text: str, lookup: Lookup, escape: str = "\\") -> tuple[Word, ...]:
    """text expanded and split on unquoted whitespace (BuildKit's ProcessWords)."""
    _, fields = _Lexer(text, lookup, escape).run()
    return fields


class _Lexer:
    def __init__(self, text: str, lookup: Lookup, escape: str) -> None:
        self.text = text
        self.pos = 0
        self.lookup = lookup
        self.escape = escape

    def fail(self, why: str) -> DockerfileError:
        return DockerfileError(f"cannot expand {self.text!r}: {why}",
                               hint="fix the variable reference; BuildKit rejects it too")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def run(self) -> tuple[Word, tuple[Word, ...]]:
        result, fields = self.until("")
        return result, fields

    def until(self, stop: str, raw_escapes: bool = False) -> tuple[Word, tuple[Word, ...]]:
        """Reads up to `stop` (consumed) or the end; returns the word and its fields."""
        result: list[Word | Part] = []
        fields: list[Word] = []
        current: list[Word | Part] = []
        in_field = False
        while self.pos < len(self.text):
            ch = self.peek()
            if stop and ch == stop:
                self.pos += 1
                break
            if ch == "$":
                value = self.dollar()
                result.append(value)
                # an expansion's own whitespace splits fields, as in the shell
                for piece in _split_on_space(value):
                    if piece is None:
                        if in_field:
                            fields.append(join(*current))
                            current, in_field = [], False
                    else:
                        current.append(piece)
                        in_field = True
                continue
            if ch in "'\"":
                quoted = self.single_quoted() if ch == "'" else self.double_quoted()
                result.append(quoted)
                current.append(quoted)
                in_field = True
                continue
            self.pos += 1
            if ch == self.escape:
                if raw_escapes:
                    result.append(ch)
                    current.append(ch)
                if self.pos >= len(self.text):
                    break
                ch = self.next()
                result.append(ch)
                current.append(ch)
                in_field = True
                continue
            result.append(ch)
            if ch.isspace():
                if in_field:
                    fields.append(join(*current))
                    current, in_field = [], False
            else:
                current.append(ch)
                in_field = True
        else:
            if stop:
                raise self.fail(f"missing '{stop}'")
        if in_field:
            fields.append(join(*current))
        return join(*result), tuple(fields)

    def single_quoted(self) -> Word:
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise self.fail("missing closing single quote")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return (value,)

    def double_quoted(self) -> Word:
        self.pos += 1
        parts: list[Word | Part] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise self.fail("missing closing double quote")
            if ch == '"':
                self.pos += 1
                return join(*parts)
            if ch == "$":
                parts.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape and self.peek() in ('"', "$", self.escape) and self.peek():
                ch = self.next()
            elif ch == self.escape and self.peek() == "":
                continue
            parts.append(ch)

    def name(self) -> str:
        start = self.pos
        ch = self.peek()
        if ch.isdigit():
            while self.peek().isdigit():
                self.pos += 1
            return self.text[start : self.pos]
        if ch and ch in "@*#?-$!0":
            self.pos += 1
            return ch
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def dollar(self) -> Word:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            if not name:
                return ("$",)
            return self.lookup(name) or ()
        self.pos += 1
        if self.peek() in ("", "{", "}", ":"):
            raise self.fail("bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            return self.lookup(name) or ()
        null_is_unset = op == ":"
        if null_is_unset:
            op = self.next()
        if op in "+-?#%" and op:
            argument, _ = self.until("}", raw_escapes=op in "#%")
            return self.modify(name, op, argument, null_is_unset)
        if op == "/" and not null_is_unset:
            if self.peek() == "/":
                self.pos += 1
            self.until("/", raw_escapes=True)
            self.until("}", raw_escapes=True)
            value = self.lookup(name)
            # pattern replacement on a known value is rare in Dockerfiles: match it loosely
            return () if value is None else ANYTHING
        raise self.fail(f"unsupported modifier ({':' if null_is_unset else ''}{op}) in ${{{name}}}")

    def modify(self, name: str, op: str, argument: Word, null_is_unset: bool) -> Word:
        value = self.lookup(name)
        if value is not None and not is_literal(value):
            return ANYTHING  # which branch the build took depends on the unknown value
        known = literal(value) if value is not None else None
        unset = known is None or (null_is_unset and known == "")
        if op == "-":
            return argument if unset else (known or "",)
        if op == "+":
            return () if unset else argument
        if op == "?":
            if unset:
                state = "unset" if known is None else "empty"
                raise self.fail(f"{name} is not allowed to be {state}")
            return (known or "",)
        pattern = literal(argument)
        if known is None or pattern is None:
            return ANYTHING if pattern is None else ()
        greedy = pattern.startswith(op)
        if greedy:
            pattern = pattern[1:]
        regex = _shell_pattern(pattern, greedy)
        if op == "#":
            found = re.match(regex, known)
            return (known[found.end() :] if found else known,)
        # % trims the shortest (or with %%, longest) matching suffix
        starts = range(len(known) + 1) if greedy else range(len(known), -1, -1)
        for start in starts:
            if re.fullmatch(regex, known[start:]):
                return (known[:start],)
        return (known,)


def _shell_pattern(pattern: str, greedy: bool) -> str:
    out = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _split_on_space(word: Word) -> Iterator[Part | None]:
    """The word's parts, None where whitespace separates fields."""
    for part in word:
        if isinstance(part, Hole):
            yield part
            continue
        for piece in re.split(r"(\s+)", part):
            if not piece:
                continue
            yield None if piece.isspace() else piece


# ----------------------------------------------------------------------------- matching


def pattern(*words: Word | Part) -> Pattern:
    """The words as one expected text, without whitespace at either end."""
    parts = list(join(*words))
    if parts and isinstance(parts[0], str):
        parts[0] = parts[0].lstrip()
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip()
    return Pattern(tuple(part for part in parts if part != ""))


@dataclass(frozen=True, slots=True)
class Pattern:
    """Expected text, holes included; matches recorded text whatever its runs of whitespace."""

    parts: Word

    def match(self, text: str, lead: str = "") -> tuple[dict[str, str], str] | None:
        """The values the holes took and the text the `lead` regex (placed before the pattern,
        with a group named `lead`) took; None when text is not what was expected."""
        groups: dict[str, str] = {}
        regex = lead + _regex(self.parts, groups)
        found = re.fullmatch(regex, text.strip(), re.DOTALL)
        if found is None:
            return None
        values = {key: found.group(group) for group, key in groups.items()}
        led = found.group("lead") if "lead" in found.re.groupindex else ""
        return values, led or ""

    def match_values(self, text: str) -> dict[str, str] | None:
        found = self.match(text)
        return None if found is None else found[0]


def _regex(parts: Word, groups: dict[str, str]) -> str:
    named: dict[str, str] = {}
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(r"\s+".join(re.escape(piece) for piece in re.split(r"\s+", part)))
            continue
        if part.key is None:
            out.append(".*?")
            continue
        if part.key in named:
            out.append(f"(?P={named[part.key]})")
            continue
        group = f"g{len(named)}"
        named[part.key] = group
        groups[group] = part.key
        prefer = "" if part.default is None else re.escape(part.default) + "|"
        out.append(f"(?P<{group}>{prefer}.*?)")
    return "".join(out)
