"""Practice 14, predictable build steps: package-manager commands in the image's own RUN steps,
read as shell commands (their words, not substrings of the line)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import HistoryQuality, HistoryStep, Image
from auditor.model.policy import Limits
from auditor.redact import describe_step
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import own_steps
from auditor.shell import Command, read_script
from auditor.units import plural

# Commands that run the next word as a command: `sudo apt-get update`, `env X=1 apt-get ...`.
_WRAPPERS = frozenset({"sudo", "env", "command", "exec", "nice", "nohup", "time", "stdbuf"})
# Options of a package manager that take the next word as their value (`apt-get -o X=Y update`).
_VALUED = {
    "apt-get": frozenset({"-o", "--option", "-c", "--config-file", "-t", "--target-release"}),
    "apt": frozenset({"-o", "--option", "-c", "--config-file", "-t", "--target-release"}),
    "apk": frozenset({"-X", "--repository", "-p", "--root", "--arch", "--cache-dir"}),
    "dnf": frozenset({"-c", "--config", "--releasever", "--setopt", "--repo", "--enablerepo",
                      "--disablerepo", "--installroot", "-x", "--exclude"}),
    "yum": frozenset({"-c", "--config", "--releasever", "--setopt", "--enablerepo",
                      "--disablerepo", "--installroot", "-x", "--exclude"}),
    "microdnf": frozenset({"--config", "--releasever", "--setopt", "--enablerepo",
                           "--disablerepo", "--installroot"}),
    "tdnf": frozenset({"-c", "--config", "--releasever", "--setopt", "--enablerepo",
                       "--disablerepo", "--installroot"}),
    "zypper": frozenset({"-R", "--root", "-c", "--config", "-r", "--repo"}),
}
_DNF = frozenset({"dnf", "yum", "microdnf", "tdnf"})
# What uses fresh package lists in the same RUN as the update that fetched them.
_USES_LISTS = {
    "apt": frozenset({"install", "upgrade", "dist-upgrade", "full-upgrade", "build-dep",
                      "source", "download", "reinstall"}),
    "apk": frozenset({"add", "upgrade", "fix", "fetch"}),
}


@dataclass(frozen=True, slots=True)
class PackageCommand:
    """A package manager's simple command: `apt-get -y update` is ("apt-get", "update", ())."""

    manager: str  # apt-get, apt, apk, dnf, yum, microdnf, tdnf, zypper
    action: str  # the first word that is not an option, "" when none
    operands: tuple[str, ...]  # the words after it that are not options

    @property
    def family(self) -> str:
        return "apt" if self.manager in ("apt-get", "apt") else self.manager


def _command_words(command: Command) -> list[str]:
    """The words of a simple command, wrappers such as sudo and env (and their options and
    assignments) taken off the front."""
    words = [w.text for w in command.argv]
    while words and words[0].rsplit("/", 1)[-1] in _WRAPPERS:
        words = words[1:]
        while words and (words[0].startswith("-") or "=" in words[0]):
            words = words[1:]
    return words


def package_commands(body: str) -> list[PackageCommand]:
    """The package-manager commands of a RUN step's shell text, in order."""
    found = []
    for command in read_script(body).commands:
        words = _command_words(command)
        if not words:
            continue
        manager = words[0].rsplit("/", 1)[-1]
        valued = _VALUED.get(manager)
        if valued is None:
            continue
        plain: list[str] = []
        skip = False
        for word in words[1:]:
            if skip:
                skip = False
            elif word.startswith("-"):
                skip = word in valued
            else:
                plain.append(word)
        found.append(PackageCommand(manager, plain[0] if plain else "", tuple(plain[1:])))
    return found


def _run_steps(image: Image) -> list[HistoryStep]:
    """The image's own RUN steps; NotApplicable when history cannot name them."""
    if image.history_quality in (HistoryQuality.MISSING, HistoryQuality.SYNTHETIC):
        raise NotApplicable(image.history_note or "the image has no Dockerfile history")
    steps = own_steps(image, "RUN")
    if not steps:
        raise NotApplicable("the image's own build has no RUN step")
    return steps


def _flag_runs(
    image: Image, find: Callable[[list[PackageCommand]], list[PackageCommand]],
    message: Callable[[HistoryStep, PackageCommand], str], passed: str,
) -> Iterator[Verdict]:
    """A Flag for each own RUN step whose package commands `find` picks (told by `message`, on
    the first it picks), else one Passed."""
    steps = _run_steps(image)
    flagged = False
    for step in steps:
        found = find(package_commands(step.body))
        if found:
            flagged = True
            yield Flag(message(step, found[0]), describe_step(step), step=step.index,
                       layer=step.layer)
    if not flagged:
        yield Passed(f"{plural(len(steps), 'own RUN step')}, {passed}")


def updates_alone(commands: list[PackageCommand]) -> list[PackageCommand]:
    """`apt-get update` (or `apk update`) with nothing in the same RUN that installs from the
    lists it fetched."""
    updates = [c for c in commands if c.family in _USES_LISTS and c.action == "update"]
    return [
        u for u in updates
        if not any(c.family == u.family and c.action in _USES_LISTS[u.family] for c in commands)
    ]


@rule(
    "IA1402",
    practice=14,
    title="Package lists updated in a step of their own",
    severity=Severity.MEDIUM,
    rationale="A RUN that only runs `apt-get update` is cached on its own: a later install step "
    "reuses stale lists (or fails on vanished packages) until the cache is broken by chance "
    "(CIS Docker Benchmark 4.7).",
    fix="Update and install in one RUN: `RUN apt-get update && apt-get install -y --no-install-"
    "recommends PKG && rm -rf /var/lib/apt/lists/*` (or `apk add --no-cache PKG`).",
)
def update_alone(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag own RUN steps whose shell commands run `apt-get update`, `apt update` or `apk
    update` with no install (`install`, `upgrade`, `add`, ...) of the same manager in that RUN.
    Commands are read as shell words: `echo apt-get update` is no update."""
    yield from _flag_runs(
        image, updates_alone,
        lambda step, found: f"history[{step.index}] runs `{found.manager} update` without an "
        "install in the same RUN",
        "none updates package lists alone")


# Per manager family, the actions that upgrade every installed package, and whether they do so
# even when packages are named (apt's upgrade ignores them; `dnf upgrade curl` is targeted).
_UPGRADES: dict[str, tuple[frozenset[str], bool]] = {
    "apt": (frozenset({"upgrade", "dist-upgrade", "full-upgrade"}), True),
    "apk": (frozenset({"upgrade"}), False),
    "dnf": (frozenset({"upgrade", "update", "distro-sync", "distrosync", "dsync",
                       "upgrade-minimal", "update-minimal"}), False),
    "zypper": (frozenset({"update", "up", "dist-upgrade", "dup", "patch"}), False),
}


def upgrades(commands: list[PackageCommand]) -> list[PackageCommand]:
    """Whole-system upgrades: `apt-get upgrade`/`dist-upgrade`, `apk upgrade`, `dnf upgrade` or
    `yum update` (and zypper's) naming no package. Upgrading named packages is a deliberate fix,
    not a drift of the whole base."""
    found = []
    for c in commands:
        family = "dnf" if c.manager in _DNF else c.family
        actions, with_operands = _UPGRADES.get(family, (frozenset(), False))
        if c.action in actions and (with_operands or not c.operands):
            found.append(c)
    return found


@rule(
    "IA1403",
    practice=14,
    title="Whole-system package upgrade in a build step",
    severity=Severity.LOW,
    rationale="`apt-get upgrade`, `dist-upgrade`, `apk upgrade` or `yum update` make the image "
    "depend on the day it was built, duplicate the base image's files in a new layer, and hide "
    "that the base itself is stale (dockle DKL-DI-0003, trivy DS-0024).",
    fix="Rebuild on a current base image (pin it by digest and bump it) instead of upgrading "
    "everything; upgrade only named packages when a fix cannot wait.",
)
def system_upgraded(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag own RUN steps that upgrade every installed package (apt, apk, dnf, yum, microdnf,
    tdnf, zypper), read as shell words; an upgrade of named packages is not flagged."""
    yield from _flag_runs(
        image, upgrades,
        lambda step, found: f"history[{step.index}] upgrades every package "
        f"(`{found.manager} {found.action}`)",
        "none upgrades the whole system")
