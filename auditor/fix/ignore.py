"""Practice 4: what a COPY of the build context dragged into the image that the app does not need
(.git, .env, keys, tests, bytecode, the Dockerfile, ...) goes into .dockerignore. Entries come
from the paths the image actually holds, traced back to the context, and never name a path the
build needs: one a COPY or ADD names, or a RUN, CMD or ENTRYPOINT mentions."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from auditor.dockerfile import Instruction
from auditor.fix.apply import split_lines
from auditor.fix.facts import Facts
from auditor.fix.model import Advice, Edit, Target
from auditor.fix.outcome import Outcome
from auditor.model.findings import Finding
from auditor.shell import read_script

RULES = ("IA401", "IA402", "IA403")
HEADER = "# Added by imgaudit fix: not needed in the image at run time"
_VCS = re.compile(r"(^|/)(\.git|\.svn|\.hg|\.bzr)(/|$)")
_TEST_RUNNERS = ("pytest", "tox", "nox", "unittest", "py.test")
# Tools that build the project in the folder they are given (`pip install .`): its VCS
# metadata may give the version (setuptools-scm, git describe).
_BUILDERS = ("pip", "python", "npm", "yarn", "pnpm", "poetry", "uv", "go", "cargo", "make",
             "mvn", "gradle")
_SHELLS = ("sh", "bash", "ash", "dash", "zsh")


def _root(path: str, found: re.Match[str]) -> str:
    return path[: found.end()].rstrip("/")


def _anywhere(path: str, found: re.Match[str]) -> str:
    return "**/" + posixpath.basename(_root(path, found))


# How a path of each kind becomes an entry: the folder or file itself, or a pattern for every
# one of its kind (bytecode and tool caches are never part of the app, wherever they are).
_KINDS: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], str]], ...] = (
    (_VCS, _root),
    (re.compile(r"(^|/)__pycache__(/|$)"), _anywhere),
    (re.compile(r"\.py[co]$"), lambda path, found: "**/*" + found[0]),
    (re.compile(r"(^|/)(\.pytest_cache|\.mypy_cache|\.ruff_cache|\.tox|\.nox|htmlcov)(/|$)"),
     _anywhere),
    (re.compile(r"(^|/)(\.DS_Store|Thumbs\.db|desktop\.ini)$"), _anywhere),
    (re.compile(r"(^|/)(tests?|__tests__|spec)(/|$)"), _root),
    (re.compile(r"(^|/)(\.idea|\.vscode|\.vs|\.eclipse)(/|$)"), _root),
    (re.compile(r"(^|/)(\.github|\.circleci)(/|$)"), _root),
)


@dataclass(frozen=True, slots=True)
class _Copy:
    """A COPY or ADD from the build context: its sources as context paths and where they went."""

    instruction: Instruction
    sources: tuple[str, ...]  # normalised: "" is the context's root
    destination: str | None  # absolute, None when a variable makes it unknown

    @property
    def whole_context(self) -> bool:
        return "" in self.sources


def ignore_context_files(facts: Facts, outcome: Outcome) -> Outcome:
    copies = _context_copies(facts)
    needed = _needed(facts, copies)
    present = _present_entries(facts.context.dockerignore)
    entries: dict[str, list[str]] = {}  # entry -> why
    fixed: list[Finding] = []
    for scored in facts.findings(*RULES):
        finding = scored.finding
        made_by = facts.instruction_for_layer(finding.layer)
        copy = next((c for c in copies if made_by is not None and c.instruction == made_by),
                    None)
        if copy is None:
            continue
        unfixed = []
        kept_out = []  # entries the .dockerignore holds already
        for path in finding.all_paths:
            context_path = _context_path(facts, copy, path)
            entry = _entry(context_path) if context_path else None
            blocker = _needs(needed, entry) if entry else None
            if entry is None or blocker is not None:
                unfixed.append((path, blocker))
            elif entry in present:
                kept_out.append(entry)
            else:
                entries.setdefault(entry, []).append(scored.rule.id)
        if kept_out and len(kept_out) == len(finding.all_paths):
            outcome = outcome.advise(Advice(
                scored.rule.id, copy.instruction.location, finding.message,
                f"the .dockerignore keeps {', '.join(dict.fromkeys(kept_out))} out already: "
                "the image was built before; build it again"), finding)
            continue
        if not unfixed:
            fixed.append(finding)
            continue
        for path, blocker in unfixed:
            if blocker is None:
                continue  # not from the context as listed: the generic advice says what to do
            outcome = outcome.advise(Advice(
                scored.rule.id, copy.instruction.location,
                f"/{path} is in the image, but the build needs it ({blocker})",
                "keep it out of the image another way: copy only what the app needs, or "
                "remove it in a multi-stage build", ), finding)
    whole = [copy for copy in copies if copy.whole_context]
    if whole:
        for name, rule in (*_build_only_folders(facts, whole, needed),
                           *_the_dockerfile(facts, whole, needed)):
            if name not in present:
                entries.setdefault(name, []).append(rule)
    if not entries:
        return outcome
    if whole and ".dockerignore" not in present and ".dockerignore" not in entries:
        entries[".dockerignore"] = ["IA403"]
    return outcome.with_edit(_edit(facts.context.dockerignore, tuple(entries), entries), *fixed)


def _edit(current: str | None, added: tuple[str, ...], why: dict[str, list[str]]) -> Edit:
    lines = [HEADER, *added]
    count = 0
    if current is not None:
        count = len(split_lines(current).lines)
        if current.strip():
            lines.insert(0, "")
    rules = tuple(dict.fromkeys(rule for entry in added for rule in why[entry]))
    return Edit(Target.DOCKERIGNORE, count + 1, count, tuple(lines), rules,
                (f".dockerignore: {', '.join(added)} stay out of the build context",))


def _present_entries(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset()
    return frozenset(line.strip().lstrip("/").rstrip("/") for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))


def _entry(context_path: str) -> str:
    """The .dockerignore entry that keeps a context path out: its folder or pattern of a known
    kind, else the path itself."""
    for pattern, entry in _KINDS:
        found = pattern.search(context_path)
        if found:
            return entry(context_path, found)
    return context_path


# ----------------------------------------------------------------------------- context copies


def _normal(source: str) -> str:
    source = posixpath.normpath(source.strip())
    return "" if source in (".", "/") else source.lstrip("/")


def _context_copies(facts: Facts) -> list[_Copy]:
    """The COPY and ADD instructions of every stage that read the build context."""
    copies = []
    for stage in facts.mapping.dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword not in ("COPY", "ADD") or instruction.flag("from") is not None:
                continue
            if instruction.heredocs or len(instruction.arguments) < 2:
                continue
            *sources, destination = instruction.arguments
            if instruction.keyword == "ADD":
                sources = [s for s in sources if "://" not in s and not s.startswith("git@")]
            workdir = facts.workdir_at(instruction.start_line)
            resolved: str | None = None
            if "$" not in destination and (destination.startswith("/") or workdir is not None):
                resolved = posixpath.normpath(posixpath.join(workdir or "/", destination))
            copies.append(_Copy(instruction, tuple(_normal(s) for s in sources), resolved))
    return copies


def _context_path(facts: Facts, copy: _Copy, image_path: str) -> str | None:
    """Where in the context an image path came from, through a copy of the whole context or
    of a folder; None when it did not come from the context as listed (a file the COPY names
    itself is needed, so never traced)."""
    paths = facts.context.paths
    image_path = image_path.strip("/")
    for source in copy.sources:
        if source and (any(ch in source for ch in "*?[") or source not in paths):
            continue
        if copy.destination is not None:
            below = posixpath.relpath("/" + image_path, copy.destination)
            if below.startswith(".."):
                continue
            candidate = posixpath.normpath(posixpath.join(source, below)) if source else below
            if candidate in paths and candidate != source:
                return candidate
        elif not source:
            # a destination with a variable: the longest context path the image path ends with
            parts = image_path.split("/")
            for start in range(1, len(parts)):
                candidate = "/".join(parts[start:])
                if candidate in paths:
                    return candidate
    return None


# ----------------------------------------------------------------------------- what the build needs


@dataclass(frozen=True, slots=True)
class _Needed:
    paths: dict[str, str]  # context path -> why the build needs it
    patterns: tuple[tuple[str, str], ...]  # (a COPY source glob, why)
    vcs: str  # why the build needs .git ("" when it does not)
    tests: str  # why it needs the tests


def _needs(needed: _Needed, entry: str) -> str | None:
    """Why the build needs something the entry would keep out; None when nothing."""
    if _VCS.search(entry) and needed.vcs:
        return needed.vcs
    if re.search(r"(^|/)(tests?|__tests__|spec)$", entry) and needed.tests:
        return needed.tests
    matcher = _matcher(entry)
    for path, why in needed.paths.items():
        if matcher.fullmatch(path):
            return why
    for glob, why in needed.patterns:
        if _matcher(glob).fullmatch(entry.removeprefix("**/")):
            return why
    return None


def _needed(facts: Facts, copies: Iterable[_Copy]) -> _Needed:
    paths: dict[str, str] = {}
    patterns: list[tuple[str, str]] = []
    for copy in copies:
        for source in copy.sources:
            why = f"{copy.instruction.location} copies {source}"
            if any(ch in source for ch in "*?["):
                patterns.append((source, why))
            elif source:
                paths.setdefault(source, why)
    destinations = {copy.destination for copy in copies
                    if copy.whole_context and copy.destination is not None}
    vcs = tests = ""
    for stage in facts.mapping.dockerfile.stages:
        for instruction in stage.instructions:
            words = _words(instruction)
            if not words:
                continue
            why = f"{instruction.location} mentions it"
            for word in words:
                for path in _named_paths(word, destinations):
                    paths.setdefault(path, why)
            if instruction.keyword != "RUN":
                continue
            for command in _commands(instruction):
                name = command[0].rsplit("/", 1)[-1] if command else ""
                if not vcs and name == "git":
                    vcs = f"{instruction.location} runs git"
                if not vcs and name.startswith(_BUILDERS) and "." in command[1:]:
                    vcs = f"{instruction.location} builds the context's own project (`.`)"
                if not tests and any(runner in word for word in command
                                     for runner in _TEST_RUNNERS):
                    tests = f"{instruction.location} runs the tests"
    return _Needed(paths, tuple(patterns), vcs, tests)


def _commands(instruction: Instruction) -> tuple[tuple[str, ...], ...]:
    """The simple commands of a RUN, CMD or ENTRYPOINT, each as its words; the command of an
    exec form that runs `sh -c TEXT` is read from TEXT."""
    if instruction.exec_form:
        argv = instruction.arguments
        if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in _SHELLS and argv[1] == "-c":
            text = argv[2]
        else:
            return (tuple(argv),)
    else:
        text = " ".join(instruction.arguments)
    return tuple(tuple(word.text for word in command.argv)
                 for command in read_script(text).commands)


def _words(instruction: Instruction) -> tuple[str, ...]:
    """The words of a RUN, CMD or ENTRYPOINT (`--opt=value` split at `=`)."""
    if instruction.keyword not in ("RUN", "CMD", "ENTRYPOINT") or instruction.heredocs:
        return ()
    raw = tuple(word for command in _commands(instruction) for word in command)
    out: list[str] = []
    for word in raw:
        out.append(word)
        if "=" in word:
            out.append(word.partition("=")[2])
    return tuple(out)


def _named_paths(word: str, destinations: Iterable[str]) -> Iterable[str]:
    """The context paths a word may name: itself relative to the context (or the working
    folder it was copied to), or an absolute path below where the context was copied."""
    word = word.strip().rstrip("/")
    if not word or word in (".", "..") or word.startswith("-"):
        return
    if word.startswith("/"):
        for destination in destinations:
            below = posixpath.relpath(word, destination)
            if not below.startswith("..") and below != ".":
                yield posixpath.normpath(below)
        return
    yield posixpath.normpath(word)


def _matcher(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex on context paths, matching what it keeps out: the
    paths it names and everything below them."""
    out = []
    position = 0
    while position < len(pattern):
        if pattern.startswith("**/", position):
            out.append("(?:.*/)?")
            position += 3
            continue
        if pattern.startswith("**", position):
            out.append(".*")
            position += 2
            continue
        ch = pattern[position]
        out.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
        position += 1
    return re.compile("".join(out) + "(?:/.*)?")


def _the_dockerfile(facts: Facts, copies: Iterable[_Copy], needed: _Needed
                    ) -> Iterable[tuple[str, str]]:
    """The Dockerfile itself, whatever its name, when a copy of the whole context put it in
    the image."""
    name = facts.context.dockerfile
    if name is None or _needs(needed, name):
        return
    for copy in copies:
        if copy.destination is not None and facts.exists(posixpath.join(copy.destination, name)):
            yield name, "IA403"
            return


def _build_only_folders(facts: Facts, copies: Iterable[_Copy], needed: _Needed
                        ) -> Iterable[tuple[str, str]]:
    """Folders a copy of the whole context brings that a RUN rebuilds in the image anyway:
    node_modules, when a RUN installs the packages."""
    if "node_modules" not in facts.context.paths or _needs(needed, "node_modules"):
        return
    for instruction in facts.instructions:
        if instruction.keyword != "RUN" or instruction.exec_form:
            continue
        script = read_script(" ".join(instruction.arguments))
        for command in script.commands:
            argv = [word.text for word in command.argv]
            if (argv and argv[0].rsplit("/", 1)[-1] in ("npm", "yarn", "pnpm")
                    and (len(argv) == 1 or argv[1] in ("install", "ci", "i"))
                    and any(c.instruction.start_line < instruction.start_line for c in copies)):
                yield "node_modules", "IA403"
                return
