"""Practice 9: a package cache that a RUN left in its layer is not written, or is removed, in that
same RUN (a later RUN's `rm` would leave its bytes in the earlier layer): `--no-cache-dir` for
pip, `--no-cache` for apk, the package manager's own clean command, else `rm -rf` of the very
folders the layer holds."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from auditor.dockerfile import Instruction
from auditor.fix.facts import Facts
from auditor.fix.lines import add_option, append_commands, pattern_words, shell_text
from auditor.fix.model import Advice
from auditor.fix.outcome import Outcome
from auditor.model.findings import Finding
from auditor.model.image import FileKind
from auditor.shell import Script, read_script

RULES = ("IA901", "IA902", "IA903")
# The cache folders each rule measures, by the root whose removal cleans them.
_ROOTS = {
    "IA901": re.compile(r"^(?P<root>(?:.*/)?\.cache/pip|tmp/pip-[^/]+)/"),
    "IA902": re.compile(r"^(?P<root>var/cache/apt|var/lib/apt/lists|var/cache/apk|etc/apk/cache|"
                        r"var/cache/yum|var/cache/dnf|var/cache/zypp)/"),
    "IA903": re.compile(r"^(?P<root>(?:.*/)?\.npm/_cacache|(?:.*/)?\.cache/yarn|"
                        r"usr/local/share/\.cache/yarn|(?:.*/)?\.pnpm-store|(?:.*/)?\.cache/pnpm)/"),
}
_PREFIX = r"(?<![\w.-])(?:[\w./-]*/)?"
_NO_PIP_CACHE = re.compile(r"--no-cache-dir\b|PIP_NO_CACHE_DIR")
_NO_APK_CACHE = re.compile(r"--no-cache\b")


@dataclass(frozen=True, slots=True)
class _Cache:
    instruction: Instruction
    roots: frozenset[str]
    findings: tuple[Finding, ...]


def remove_caches(facts: Facts, outcome: Outcome) -> Outcome:
    for cache in _by_instruction(facts):
        outcome = _clean(facts, outcome, cache)
    return outcome


def _by_instruction(facts: Facts) -> list[_Cache]:
    """The cache findings grouped by the RUN that wrote them, with the cache roots its layer
    holds; findings on a layer no RUN made are left for advice."""
    found: dict[int, _Cache] = {}
    for scored in facts.findings(*RULES):
        finding = scored.finding
        instruction = facts.instruction_for_layer(finding.layer)
        if instruction is None or instruction.keyword != "RUN" or finding.layer is None:
            continue
        layer = facts.image.layers[finding.layer - 1]
        pattern = _ROOTS[scored.rule.id]
        roots = {match["root"] for entry in (layer.content.entries if layer.content else ())
                 if entry.kind is FileKind.FILE and (match := pattern.match(entry.path))}
        if finding.path:
            roots.add(finding.path.strip("/"))
        known = found.get(instruction.start_line)
        if known is not None:
            roots |= known.roots
        found[instruction.start_line] = _Cache(
            instruction, frozenset(roots),
            (*(known.findings if known else ()), finding))
    return sorted(found.values(), key=lambda cache: cache.instruction.start_line)


def _clean(facts: Facts, outcome: Outcome, cache: _Cache) -> Outcome:
    instruction = cache.instruction
    refusal = _why_not(facts, instruction)
    if refusal:
        return outcome.advise(Advice(
            "/".join(_rules(facts, cache.findings)), instruction.location,
            f"a package cache is left in the layer of {instruction.describe()}",
            f"clean it in the same RUN ({refusal}): " + _suggestion(cache.roots),
        ), *cache.findings)
    escape = facts.escape
    lines = outcome.draft.lines(instruction)
    script = read_script(shell_text(lines, escape))
    reasons: list[str] = []
    removals: list[str] = []
    commands: list[str] = []
    # a root below another (a finding's path deeper than the cache's root) goes with it
    roots = sorted(root for root in cache.roots
                   if not any(root.startswith(other + "/") for other in cache.roots))
    pip = [root for root in roots if _ROOTS["IA901"].match(root + "/")]
    # pip's build folders under /tmp are no cache --no-cache-dir would stop
    removals.extend("/" + root for root in pip if root.startswith("tmp/"))
    pip = [root for root in pip if not root.startswith("tmp/")]
    if pip:
        lines, changed = add_option(lines, re.compile(_PREFIX + "(?:" + "|".join((
            pattern_words(r"pip(?:3(?:\.\d+)?)?", "install", escape=escape),
            pattern_words(r"python(?:3(?:\.\d+)?)?", "-m", "pip", "install", escape=escape),
        )) + r")(?![\w-])"), "--no-cache-dir", _NO_PIP_CACHE)
        if changed:
            reasons.append("`pip install --no-cache-dir`: pip writes no wheel cache")
        else:
            removals.extend("/" + root for root in pip)
    apt = [root for root in roots if root in ("var/lib/apt/lists", "var/cache/apt")]
    if "var/cache/apt" in apt and script.runs("apt-get", "apt"):
        commands.append("apt-get clean")
        apt.remove("var/cache/apt")
    removals.extend(f"/{root}/*" for root in apt)
    apk = [root for root in roots if root in ("var/cache/apk", "etc/apk/cache")]
    if apk:
        lines, changed = add_option(lines, re.compile(
            _PREFIX + pattern_words("apk", "add", escape=escape) + r"(?![\w-])"),
            "--no-cache", _NO_APK_CACHE)
        if changed:
            reasons.append("`apk add --no-cache`: apk keeps no index or package cache")
        if not changed or _runs_subcommand(script, "apk", "update"):
            removals.extend(f"/{root}/*" for root in apk)
    for root in roots:
        tool = {"var/cache/yum": "yum", "var/cache/dnf": "dnf"}.get(root)
        if tool and script.runs(tool):
            commands.append(f"{tool} clean all")
        if tool or root == "var/cache/zypp":
            removals.append(f"/{root}")
    for root in roots:
        node = _node_tool(root)
        if not node:
            continue
        if script.runs(node):
            command = {"npm": "npm cache clean --force", "yarn": "yarn cache clean",
                       "pnpm": "pnpm store prune"}[node]
            if command not in commands:
                commands.append(command)
        else:
            removals.append("/" + root)
    if removals:
        commands.append("rm -rf " + " ".join(dict.fromkeys(removals)))
    if commands and read_script(shell_text(lines, escape)).appendable:
        lines = append_commands(lines, commands, escape)
        reasons.append(f"`{' && '.join(commands)}` in the same RUN: the cache never reaches "
                       "the layer")
    elif commands:
        outcome = outcome.advise(Advice(
            "/".join(_rules(facts, cache.findings)), instruction.location,
            f"a package cache is left in the layer of {instruction.describe()}",
            "end the RUN with `" + " && ".join(commands) + "` (its text cannot simply be "
            "followed by `&&`: it ends with an operator, a comment, exit or exec)",
        ), *cache.findings)
    if not reasons:
        return outcome
    draft = outcome.draft.edit(instruction, lines, "/".join(_rules(facts, cache.findings)),
                               f"line {instruction.start_line}: " + "; ".join(reasons))
    return outcome.with_draft(draft, *cache.findings)


def _why_not(facts: Facts, instruction: Instruction) -> str:
    """Why a RUN's text cannot be edited safely, "" when it can."""
    if instruction.exec_form:
        return "it is in exec form, without a shell to chain commands"
    if instruction.heredocs:
        return "it runs a here-document"
    if facts.shell_changed(instruction):
        return "a SHELL instruction sets another shell"
    return ""


def _rules(facts: Facts, findings: Iterable[Finding]) -> list[str]:
    wanted = set(findings)
    return list(dict.fromkeys(scored.rule.id for scored in facts.findings(*RULES)
                              if scored.finding in wanted))


def _runs_subcommand(script: Script, tool: str, subcommand: str) -> bool:
    return any(command.name.rsplit("/", 1)[-1] == tool and len(command.argv) > 1
               and command.argv[1].text == subcommand for command in script.commands)


def _node_tool(root: str) -> str:
    if root.endswith(".npm/_cacache"):
        return "npm"
    if root.endswith(".cache/yarn"):
        return "yarn"
    if root.endswith((".pnpm-store", ".cache/pnpm")):
        return "pnpm"
    return ""


def _suggestion(roots: Iterable[str]) -> str:
    return "`rm -rf " + " ".join("/" + root for root in sorted(roots)) + "` at its end"
