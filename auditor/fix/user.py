"""Practice 2 (and 5): an image that runs as root gets an unprivileged user, created from a build
argument with the tool the image actually holds (`useradd` of shadow-utils, busybox `adduser`, or
lines appended to /etc/passwd and /etc/group where neither exists), the folders the app writes
handed to it, and `USER` before the command. A USER that names a missing account gets that
account. The user is created after the last build step, so every RUN still runs as before."""

from __future__ import annotations

import enum
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.dockerfile import ConfigField, Instruction
from auditor.fix.facts import Facts, is_root, last_build_step
from auditor.fix.lines import WIDTH, append_commands, keyword, shell_text
from auditor.fix.model import Advice
from auditor.fix.outcome import Outcome
from auditor.fix.workdir import app_directory
from auditor.model.findings import Finding
from auditor.model.image import FileKind
from auditor.shell import read_script

RUNS_AS_ROOT, MISSING_ACCOUNT = "IA201", "IA202"
FIRST_ID = 10001
NAME = "app"
ARG_NAMES = ("USER_NAME", "APP_USER", "IMGAUDIT_USER")
# Folders the app may write into, when the image has them below its folder.
_WRITABLE = frozenset({"data", "logs", "log", "tmp", "uploads", "cache", "var", "run", "state",
                       "storage"})
# Where a folder a RUN makes is the system's or a cache's, not the app's.
_NOT_APP = re.compile(r"^(root|tmp|etc|usr|bin|sbin|lib|lib64|proc|sys|dev|home|run|var/run|"
                      r"var/cache|var/lib/(apt|dpkg|apk))(/|$)|(^|/)\.(cache|npm|local)(/|$)")
_SHELL_PATHS = ("bin/sh", "usr/bin/sh")


class Tool(enum.Enum):
    """How the image can create an account (the value says it in a sentence)."""

    USERADD = "with useradd"  # shadow-utils (Debian, Ubuntu, RHEL)
    ADDUSER = "with busybox adduser"  # Alpine
    PASSWD = "by lines added to /etc/passwd"  # a shell but no tool (a static busybox)
    NONE = "no shell"  # nothing can run: only a numeric USER


def account_tool(facts: Facts) -> Tool:
    if not any(facts.exists(path) for path in _SHELL_PATHS):
        return Tool.NONE
    if any(facts.exists(path) for path in ("usr/sbin/useradd", "sbin/useradd",
                                            "usr/bin/useradd")):
        return Tool.USERADD
    for path in ("usr/sbin/adduser", "sbin/adduser", "bin/adduser", "usr/bin/adduser"):
        placed = facts.placed(path)
        if placed is not None and "busybox" in placed.entry.linkname:
            return Tool.ADDUSER
    return Tool.PASSWD if facts.exists("etc/passwd") else Tool.NONE


@dataclass(frozen=True, slots=True)
class _Account:
    name: str  # as USER will name it: `$USER_NAME`, or the name as written
    uid: int
    gid: int


def _ids(facts: Facts, path: str, field: int) -> dict[str, int] | None:
    """name -> id of the image's etc/passwd (field 2) or etc/group (field 2); None when it was
    not read."""
    data = facts.image.captured(path)
    if data is None:
        return None
    table = {}
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) > field and fields[field].isdigit() and not line.startswith("#"):
            table[fields[0]] = int(fields[field])
    return table


def _free(*used: Sequence[int]) -> int:
    taken = {number for numbers in used for number in numbers}
    number = FIRST_ID
    while number in taken:
        number += 1
    return number


def _arg_name(facts: Facts) -> str:
    """A build argument name the Dockerfile does not use yet."""
    texts = [instruction.original for stage in facts.mapping.dockerfile.stages
             for instruction in (stage.from_line, *stage.instructions)]
    texts.extend(instruction.original for instruction in facts.mapping.dockerfile.global_args)
    for name in ARG_NAMES:
        if not any(re.search(rf"\b{name}\b", text) for text in texts):
            return name
    return f"{ARG_NAMES[-1]}_{FIRST_ID}"


def _create(facts: Facts, tool: Tool, account: _Account, groups: dict[str, int] | None
            ) -> list[str]:
    name = account.name
    match tool:
        case Tool.USERADD:
            return [f'useradd --no-log-init -r -u {account.uid} "{name}"']
        case Tool.ADDUSER:
            return [f'adduser -D -H -u {account.uid} "{name}"']
        case Tool.PASSWD:
            shell = next((f"/{path}" for path in ("sbin/nologin", "usr/sbin/nologin")
                          if facts.exists(path)), "/bin/sh")
            home = f"/home/{name}"
            commands = [f'echo "{name}:x:{account.uid}:{account.gid}::{home}:{shell}" '
                        ">> /etc/passwd"]
            if groups is None or account.gid not in groups.values():
                commands.append(f'echo "{name}:x:{account.gid}:" >> /etc/group')
            commands.append(f'mkdir -p "{home}" && chown {account.uid}:{account.gid} "{home}"')
            return commands
        case Tool.NONE:
            raise ValueError("no shell to create an account with")


def _writable(facts: Facts) -> list[str]:
    """Folders the app likely writes to, that root owns: those a RUN of the stage makes with
    mkdir outside the system's and caches' folders (not the app's own folder), and data, logs,
    tmp and the like below the app's folder."""
    app = app_directory(facts).strip("/")
    found: list[str] = []
    for instruction in facts.stage.instructions:
        if instruction.keyword != "RUN" or instruction.exec_form or instruction.heredocs:
            continue
        workdir = facts.workdir_at(instruction.start_line)
        for command in read_script(" ".join(instruction.arguments)).commands:
            if command.name != "mkdir":
                continue
            for word in command.argv[1:]:
                if (word.literal and not word.text.startswith("-")
                        and (word.text.startswith("/") or workdir is not None)):
                    found.append(posixpath.normpath(
                        posixpath.join(workdir or "/", word.text)).strip("/"))
    for path, file in facts.files.items():
        if (file.entry.kind is FileKind.DIR and posixpath.dirname(path) == app
                and posixpath.basename(path) in _WRITABLE):
            found.append(path)
    kept: list[str] = []
    for path in dict.fromkeys(found):
        placed = facts.placed(path)
        if (not path or _NOT_APP.search(path) or placed is None
                or placed.entry.kind is not FileKind.DIR or placed.entry.uid != 0
                or app == path or app.startswith(path + "/")):
            continue
        kept.append(path)
    return sorted(path for path in kept
                  if not any(path.startswith(other + "/") for other in kept))


def _foldable(facts: Facts, outcome: Outcome, instruction: Instruction | None) -> bool:
    """Whether account creation can end this RUN, instead of starting a RUN of its own (which
    would stand next to it as one more layer)."""
    if instruction is None or instruction.keyword != "RUN":
        return False
    if instruction.exec_form or instruction.heredocs or facts.shell_changed(instruction):
        return False
    if not is_root(facts.user_at(instruction.start_line)):
        return False
    return read_script(shell_text(outcome.draft.lines(instruction), facts.escape)).appendable


def _run_lines(commands: Sequence[str], escape: str) -> tuple[str, ...]:
    """A RUN of its own: one line when short, else one command per continuation line."""
    one = f"RUN {' && '.join(commands)}"
    if len(commands) == 1 or len(one) <= WIDTH:
        return (one,)
    return append_commands((f"RUN {commands[0]}",), commands[1:], escape)


def _creates(facts: Facts, outcome: Outcome, commands: list[str], arg: str | None, name: str,
             previous: Instruction | None, before: int, rule: str, reason: str) -> Outcome:
    """The account made: at the end of `previous` when it is a RUN that can take it (the ARG
    above it), else as a RUN of its own before line `before`."""
    draft = outcome.draft
    declare = (f"ARG {arg}={name}",) if arg else ()
    if previous is not None and _foldable(facts, outcome, previous):
        if declare:
            draft = draft.insert(draft.span(previous)[0], declare, rule,
                                 f"ARG {arg}={name}: the user name is a build argument")
        lines = append_commands(draft.lines(previous), commands, facts.escape)
        draft = draft.edit(previous, lines, rule, f"{reason}, at the end of the RUN of line "
                           f"{previous.start_line} (no layer of its own)")
        return outcome.with_draft(draft)
    return outcome.with_draft(draft.insert(before, (*declare, *_run_lines(commands,
                                                                           facts.escape)),
                                           rule, reason))


def run_as_user(facts: Facts, outcome: Outcome) -> Outcome:
    root = facts.own(RUNS_AS_ROOT)
    if root:
        return _add_user(facts, outcome, root)
    missing = facts.own(MISSING_ACCOUNT)
    if missing:
        return _add_missing_account(facts, outcome, missing)
    return outcome


def _refusal(facts: Facts) -> str:
    if facts.image.os == "windows":
        return "a Windows image: `USER ContainerUser` runs without administrator rights"
    if not facts.image.content_read:
        return "the image's files were not read"
    if facts.image.captured("etc/passwd") is None and account_tool(facts) is not Tool.NONE:
        return "the image's etc/passwd was not read"
    return ""


def _add_user(facts: Facts, outcome: Outcome, findings: Sequence[Finding]) -> Outcome:
    where = facts.where(findings[0], RUNS_AS_ROOT)
    users = [i for i in facts.instructions if i.keyword == "USER"]
    if users and not is_root(users[-1].arguments[0]):
        return outcome.advise(Advice(
            RUNS_AS_ROOT, users[-1].location, f"{users[-1].describe()} runs as UID 0",
            "give the account a UID of its own, or USER another one"), *findings)
    why = _refusal(facts)
    if why:
        return outcome.advise(Advice(RUNS_AS_ROOT, where, "the image runs as root",
                                     f"add a user and USER by hand ({why})"), *findings)
    step = last_build_step(facts)
    before = (outcome.draft.span(step)[1] if step else facts.stage.from_line.end_line) + 1
    passwd = _ids(facts, "etc/passwd", 2) or {}
    groups = _ids(facts, "etc/group", 2)
    tool = account_tool(facts)
    if passwd.get(NAME):
        draft = outcome.draft.insert(before, (f"USER {NAME}",), RUNS_AS_ROOT,
                                     f"USER {NAME}: the image's own account {NAME} "
                                     f"(UID {passwd[NAME]}) runs the app, not root")
        return outcome.with_draft(draft, *findings)
    name = NAME if NAME not in passwd else f"{NAME}user"
    uid = gid = _free(list(passwd.values()), list((groups or {}).values()))
    if tool is Tool.NONE:
        draft = outcome.draft.insert(before, (f"USER {uid}:{gid}",), RUNS_AS_ROOT,
                                     f"USER {uid}:{gid}: the image has no shell to create an "
                                     "account, and a numeric user needs none")
        return outcome.with_draft(draft, *findings)
    arg = _arg_name(facts)
    account = _Account(f"${arg}", uid, gid)
    commands = _create(facts, tool, account, groups)
    writable = _writable(facts)
    if writable:
        commands.append(f"chown -R {uid} " + " ".join("/" + path for path in writable))
    handed = f", {', '.join('/' + p for p in writable)} handed to it" if writable else ""
    outcome = _creates(facts, outcome, commands, arg, name, step, before, RUNS_AS_ROOT,
                       f"user {name} (UID {uid}) created {tool.value}{handed}")
    draft = outcome.draft.insert(before, (f"USER ${arg}",), RUNS_AS_ROOT,
                                 f"USER ${arg}: the app runs as {name}, not root")
    return outcome.with_draft(draft, *findings)


def _add_missing_account(facts: Facts, outcome: Outcome, findings: Sequence[Finding]
                         ) -> Outcome:
    line = facts.mapping.config_source(ConfigField.USER)
    if line is None or line.keyword != "USER" or line not in facts.stage.instructions:
        return outcome
    value = line.arguments[0]
    name, _, group = value.partition(":")

    def refuse(why: str) -> Outcome:
        return outcome.advise(Advice(
            MISSING_ACCOUNT, line.location, f"{line.describe()} names an account the image "
            "does not have", f"create it before the USER line, or use a numeric UID:GID "
            f"({why})"), *findings)

    if group and group != name:
        return refuse(f"its group {group} differs from the user's name")
    if name.isdigit():
        return outcome
    why = _refusal(facts)
    if why:
        return refuse(why)
    tool = account_tool(facts)
    if tool is Tool.NONE:
        return refuse("the image has no shell to create it with")
    if not is_root(facts.user_at(line.start_line)):
        return refuse("a USER before it is not root, and only root can create it")
    passwd = _ids(facts, "etc/passwd", 2) or {}
    groups = _ids(facts, "etc/group", 2)
    uid = gid = _free(list(passwd.values()), list((groups or {}).values()))
    arg: str | None = None
    expression = name
    if "$" not in name:
        arg = _arg_name(facts)
        expression = f"${arg}"
    commands = _create(facts, tool, _Account(expression, uid, gid), groups)
    index = facts.stage.instructions.index(line)
    previous = facts.stage.instructions[index - 1] if index else None
    start = outcome.draft.span(line)[0]
    outcome = _creates(facts, outcome, commands, arg, name, previous, start, MISSING_ACCOUNT,
                       f"account {name} (UID {uid}) created {tool.value} before USER names it")
    if arg is not None:
        written = outcome.draft.lines(line)
        indent = written[0][: len(written[0]) - len(written[0].lstrip())]
        user = f"${arg}" + (f":${arg}" if group else "")
        outcome = outcome.with_draft(outcome.draft.edit(
            line, (f"{indent}{keyword(written)} {user}",), MISSING_ACCOUNT,
            f"line {line.start_line}: USER {user}: the name comes from the build argument"))
    return outcome.with_draft(outcome.draft, *findings)
