"""Reads a shell command line as `/bin/sh -c` splits it: its simple commands and their words (which
rules read in RUN steps), and what would make a fix's edit unsafe (expansions, redirections,
comments, groups, shell state a later command would inherit)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Builtins whose effect outlives the command: merged into one RUN, a later command would inherit
# it (a `cd`, an `export`, a `set -e`), or never run at all (`exit`, `exec`).
STATEFUL = frozenset({
    ".", "alias", "builtin", "cd", "declare", "eval", "exec", "exit", "export", "hash",
    "local", "popd", "pushd", "read", "readonly", "return", "set", "shift", "shopt", "source",
    "trap", "typeset", "ulimit", "umask", "unalias", "unset",
})
_ENDS_SCRIPT = frozenset({"exit", "exec", "return"})
_SEPARATORS = ("&&", "||", ";;", ";", "|", "&", "\n")
_REDIRECTS = ("<<<", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", "<", ">")
_GLOB = frozenset("*?[")
_RESERVED = frozenset({"!", "do", "elif", "else", "if", "then", "time", "until", "while"})


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # with quotes and escapes removed
    raw: str  # as written
    expands: bool = False  # a parameter, command or arithmetic expansion, or a tilde
    glob: bool = False  # an unquoted *, ? or [

    @property
    def literal(self) -> bool:
        return not (self.expands or self.glob)


@dataclass(frozen=True, slots=True)
class Command:
    """A simple command: its words, and the operator after it ("" at the end)."""

    words: tuple[Word, ...]
    separator: str = ""
    redirected: bool = False

    @property
    def assignments(self) -> tuple[Word, ...]:
        """The `NAME=value` words before the command name."""
        found = []
        for word in self.words:
            if not _is_assignment(word):
                break
            found.append(word)
        return tuple(found)

    @property
    def argv(self) -> tuple[Word, ...]:
        """The command name and its arguments: assignments and reserved words (`do pip ...`,
        `then apt-get ...`) before it left out."""
        words = self.words[len(self.assignments):]
        while words and words[0].raw in _RESERVED:
            words = words[1:]
        return words

    @property
    def name(self) -> str:
        """The command's name as written, `""` for a bare assignment."""
        argv = self.argv
        return argv[0].text if argv else ""


@dataclass(frozen=True, slots=True)
class Script:
    commands: tuple[Command, ...]
    complete: bool = True  # quotes, expansions and groups all closed
    comment: bool = False  # an unquoted `#` starts a comment
    grouped: bool = False  # ( ), { }, or a function definition
    heredoc: bool = False  # a `<<` here-document

    @property
    def ends_with_operator(self) -> bool:
        """Whether the text ends with `&&`, `|`, `;`, `&`, ...: nothing may simply follow it."""
        return bool(self.commands) and self.commands[-1].separator not in ("", "\n")

    def runs(self, *names: str) -> bool:
        """Whether any simple command is one of names (by its base name: /usr/bin/pip is pip)."""
        return any(command.name.rsplit("/", 1)[-1] in names for command in self.commands)

    @property
    def appendable(self) -> bool:
        """Whether ` && more` can follow the text and `more` runs when it succeeded."""
        if not self.complete or self.comment or self.heredoc or not self.commands:
            return False
        if self.ends_with_operator:
            return False
        return not any(command.name in _ENDS_SCRIPT for command in self.commands)

    @property
    def self_contained(self) -> bool:
        """Whether commands after it, in the same shell, would run as they would alone: it
        changes no directory, variable, option or trap, and defines nothing."""
        if not self.appendable or self.grouped:
            return False
        for command in self.commands:
            if command.name in STATEFUL or (command.assignments and not command.argv):
                return False
            if command.separator == "&":
                return False
        return True


def _is_assignment(word: Word) -> bool:
    name, sep, _ = word.raw.partition("=")
    return bool(sep) and name.isidentifier()


def read_script(text: str) -> Script:
    """The simple commands of a shell text, as far as a plain POSIX shell would read them."""
    return _Reader(text).read()


def word_list(text: str) -> tuple[str, ...] | None:
    """The words of text when it is one command of plain words (quotes allowed, no expansion,
    glob, redirection, operator or comment): what an exec-form JSON array can say the same way.
    None otherwise."""
    script = read_script(text)
    if not script.appendable or script.grouped or len(script.commands) != 1:
        return None
    command = script.commands[0]
    if command.redirected or command.assignments or not command.words:
        return None
    if any(not word.literal or "\\" in word.raw for word in command.words):
        return None
    return tuple(word.text for word in command.words)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.complete = True
        self.comment = False
        self.grouped = False
        self.heredoc = False
        self.commands: list[Command] = []
        self.words: list[Word] = []
        self.redirected = False
        self.redirect_target = False

    def read(self) -> Script:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t":
                self.pos += 1
            elif ch == "#":
                self.comment = True
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif ch == "\\" and self.text.startswith("\\\n", self.pos):
                self.pos += 2
            elif self.operator():
                continue
            else:
                self.word()
        self.end_command("")
        return Script(tuple(self.commands), self.complete, self.comment, self.grouped,
                      self.heredoc)

    def end_command(self, separator: str) -> None:
        if self.words:
            self.commands.append(Command(tuple(self.words), separator, self.redirected))
        elif self.commands and separator not in ("", "\n"):
            # an operator after a group's `)` ends what the group ended: `( a || b ) && c`
            self.commands[-1] = dataclasses.replace(self.commands[-1], separator=separator)
        self.words, self.redirected = [], False

    def operator(self) -> bool:
        text, pos = self.text, self.pos
        for op in _SEPARATORS:
            if text.startswith(op, pos):
                self.pos += len(op)
                self.end_command(op)
                return True
        if text[pos] in "()":
            self.grouped = True
            self.pos += 1
            self.end_command("")
            return True
        for op in _REDIRECTS:
            if text.startswith(op, pos):
                self.pos += len(op)
                self.redirected = True
                self.redirect_target = True
                if op.startswith("<<") and op != "<<<":
                    self.heredoc = True
                return True
        return False

    def word(self) -> None:
        text = self.text
        out: list[str] = []
        start = self.pos
        expands = glob = False
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\n;&|()<>":
                break
            if ch == "\\":
                if text.startswith("\\\n", self.pos):
                    self.pos += 2
                    continue
                out.append(text[self.pos + 1 : self.pos + 2])
                self.pos += 2
            elif ch == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    self.complete = False
                    end = len(text)
                out.append(text[self.pos + 1 : end])
                self.pos = end + 1
            elif ch == '"':
                expands |= self.double_quoted(out)
            elif ch == "$" or ch == "`":
                expands = True
                out.append(self.expansion())
            else:
                if ch in _GLOB:
                    glob = True
                if ch == "~" and self.pos == start:
                    expands = True
                out.append(ch)
                self.pos += 1
        raw = text[start:self.pos]
        if not raw or (raw.isdigit() and text[self.pos : self.pos + 1] in ("<", ">")):
            return  # a redirection's file descriptor (`2>`) is no word
        if raw in ("{", "}"):
            self.grouped = True
        if self.redirect_target:
            self.redirect_target = False
            return
        self.words.append(Word("".join(out), raw, expands, glob))

    def double_quoted(self, out: list[str]) -> bool:
        text = self.text
        self.pos += 1
        expands = False
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return expands
            if ch == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '"\\$`\n':
                if text[self.pos + 1] != "\n":
                    out.append(text[self.pos + 1])
                self.pos += 2
            elif ch in "$`":
                expands = True
                out.append(self.expansion())
            else:
                out.append(ch)
                self.pos += 1
        self.complete = False
        return expands

    def expansion(self) -> str:
        """Skips `$name`, `${...}`, `$(...)` or a backquoted command; returns its text."""
        text, start = self.text, self.pos
        if text[self.pos] == "`":
            end = self.pos + 1
            while end < len(text) and text[end] != "`":
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                self.complete = False
            self.pos = min(end + 1, len(text))
            return text[start:self.pos]
        self.pos += 1
        if self.pos < len(text) and text[self.pos] in "({":
            closing = ")" if text[self.pos] == "(" else "}"
            opening = text[self.pos]
            depth = 0
            quote = ""
            while self.pos < len(text):
                ch = text[self.pos]
                if quote:
                    if ch == quote:
                        quote = ""
                    elif ch == "\\" and quote == '"':
                        self.pos += 1
                elif ch in "'\"":
                    quote = ch
                elif ch == "\\":
                    self.pos += 1
                elif ch == opening:
                    depth += 1
                elif ch == closing:
                    depth -= 1
                    if depth == 0:
                        self.pos += 1
                        return text[start:self.pos]
                self.pos += 1
            self.complete = False
            return text[start:self.pos]
        while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] == "_"):
            self.pos += 1
        if self.pos == start + 1 and self.pos < len(text) and text[self.pos] in "@*#?-$!0123456789":
            self.pos += 1
        return text[start:self.pos]
