"""Every policy setting declared once: its key in a policy file, the kind of value it takes,
where it lands in a Policy, what it does, and its command-line option; a Policy as setting
values and back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from auditor.config.values import (
    Choice,
    Kind,
    RuleList,
    SeverityName,
    Size,
    Switch,
    Threshold,
    WholeNumber,
)
from auditor.model.policy import Limits, Policy, ReadPath
from auditor.rules import ALL_RULES, PRACTICES

WAIVERS = "waivers"  # the key of the policy's waivers: a list of tables, read on their own


@dataclass(frozen=True, slots=True)
class Option:
    """A setting's command-line option, as typer declares it."""

    names: tuple[str, ...]  # "--max-size", or "--score-base/--no-score-base" for a switch
    help: str  # "{default}" in it stands for the built-in value, as a policy file writes it
    metavar: str | None = None
    min: int | None = None
    max: int | None = None
    show_default: bool = True
    extends: bool = False  # a rule list it adds to the file's instead of replacing it

    @property
    def name(self) -> str:
        """How an error message names the option: `--score-base`."""
        return self.names[0].split("/")[0]

    @property
    def parameter(self) -> str:
        """The command function's parameter that takes the option: `score_base`."""
        return self.name.removeprefix("--").replace("-", "_")


@dataclass(frozen=True, slots=True)
class Setting:
    """One policy setting. `field` is the Policy attribute it sets ("limits.max_size" for one
    of its Limits); a rule's severity and a practice's weight are the `member` of a mapping
    field, which holds only the values that differ from the rule's or practice's own."""

    key: str  # as in a policy file; "rules.enable" is `enable` in the file's [rules] table
    kind: Kind
    field: str
    note: str = ""  # what it does, for a written policy file and `imgaudit config`
    option: Option | None = None
    example: str = ""  # written commented out (`# fail-under = 80`) while the value is unset
    member: str | int | None = None
    declared: object = None  # the member's value when the mapping leaves it out
    # `imgaudit config` has never shown the rule lists' notes; kept so its output stays the same
    explained: bool = True

    def value(self, policy: Policy) -> Any:
        """This setting's value in `policy`; a set of rule ids as a sorted tuple."""
        owner: Any = policy
        for name in self.field.split("."):
            owner = getattr(owner, name)
        if self.member is not None:
            return owner.get(self.member, self.declared)
        return tuple(sorted(owner)) if isinstance(owner, frozenset) else owner

    @property
    def table(self) -> str:
        """The table of a policy file that holds it: "" for the top level, "rules", ..."""
        return self.key.rpartition(".")[0]

    @property
    def name(self) -> str:
        """Its key in that table."""
        return self.key.rpartition(".")[2]

    @property
    def default(self) -> Any:
        return self.value(_BUILT_IN)

    @property
    def option_help(self) -> str:
        """The option's help, the built-in value written in."""
        assert self.option is not None
        return self.option.help.format(default=self.kind.write(self.default))


_BUILT_IN = Policy()
SCORE, COUNT, WEIGHT = WholeNumber(0, 100), WholeNumber(1), WholeNumber(0)
SWITCH, SEVERITY, SIZE = Switch(), SeverityName(), Size(least=1)

# The settings a file names one by one (not a rule's severity or a practice's weight): those
# at its top level, then its [rules] table, in the order shown.
NAMED = (
    Setting("fail-under", SCORE, "fail_under", example="80",
            note="exit 1 when an image scores below this (0-100)",
            option=Option(("--fail-under",), "Exit 1 when an image scores below SCORE.",
                          metavar="SCORE", min=0, max=100)),
    Setting("fail-on", Threshold(), "fail_on",
            note="exit 1 on a scored finding this severe or worse; \"none\" to never",
            option=Option(("--fail-on",), "Exit 1 on a scored finding of this severity or worse "
                          "(info, low, medium, high, critical).", metavar="SEVERITY")),
    Setting("score-base", SWITCH, "score_base", note="score the base image's findings too",
            option=Option(("--score-base/--no-score-base",),
                          "Score the base image's findings too.", show_default=False)),
    Setting("image-waivers", SWITCH, "image_waivers",
            note="honour an image's own io.imgaudit.waive label"),
    Setting("fail-on-new", SWITCH, "fail_on_new",
            note="with --baseline: fail only on findings the baseline does not hold",
            option=Option(("--fail-on-new/--no-fail-on-new",), "With --baseline: fail only on "
                          "regressions (new findings at or above --fail-on, default low; a score "
                          "under --fail-under and the baseline's). --no-fail-on-new switches off "
                          "the policy file's fail-on-new.", show_default=False)),
    Setting("read", Choice(ReadPath), "read",
            note="how an engine's layers are read: from its storage when local and readable "
            "(auto), or only so (storage), or by export",
            option=Option(("--read",), "How an engine's image layers are read: auto (from the "
                          "engine's storage when it is local and readable, else by export), "
                          "storage, or export.", metavar="auto|storage|export")),
    Setting("max-size", SIZE, "limits.max_size", note="IA101: the whole image",
            option=Option(("--max-size",), "Size limit for the image ({default}).")),
    Setting("max-own-size", SIZE, "limits.max_own_size", note="IA101: the image's own layers",
            option=Option(("--max-own-size",),
                          "Size limit for the image's own layers ({default}).")),
    Setting("max-base-size", SIZE, "limits.max_base_size", note="IA102: the base image",
            option=Option(("--max-base-size",), "Size limit for the base image ({default}).")),
    Setting("max-layers", COUNT, "limits.max_own_layers",
            note="IA301: non-empty layers the image's own build may add",
            option=Option(("--max-layers",),
                          "Most non-empty layers the image's own build may add ({default}).",
                          min=1)),
    Setting("max-consecutive-runs", COUNT, "limits.max_consecutive_runs",
            note="IA302: RUN steps in a row before they should be one"),
    Setting("min-cache-size", Size(least=0), "limits.min_cache_bytes",
            note="IA901-IA903: smallest cache worth a finding"),
    Setting("rules.enable", RuleList(empty="(all)"), "enable", explained=False,
            note="when not empty, only these rules run (ids or globs such as \"IA4*\")"),
    Setting("rules.disable", RuleList(empty="(none)"), "ignore", explained=False,
            note="these rules do not run; shown as ignored",
            option=Option(("--ignore",), "Do not run RULE (repeatable, or comma-separated; "
                          "globs like IA4*).", metavar="RULE", extends=True)),
)

# Every setting, in the order shown: the named ones, then each rule's severity, then each
# practice's weight.
SETTINGS: tuple[Setting, ...] = (
    *NAMED,
    *(Setting(f"severity.{r.info.id}", SEVERITY, "severities", note=r.info.title,
              member=r.info.id, declared=r.info.severity) for r in ALL_RULES),
    *(Setting(f"weights.{p.id}", WEIGHT, "weights", note=p.name, member=p.id,
              declared=p.weight) for p in PRACTICES),
)
BY_KEY: Mapping[str, Setting] = MappingProxyType({s.key: s for s in SETTINGS})


def flatten(policy: Policy) -> dict[str, Any]:
    """A policy as setting keys and typed values, every setting in the order shown, then its
    waivers (the inverse of `build`)."""
    values = {setting.key: setting.value(policy) for setting in SETTINGS}
    values[WAIVERS] = policy.waivers
    return values


def build(values: Mapping[str, Any]) -> Policy:
    """The Policy that holds these setting values (every key of `flatten`)."""
    fields: dict[str, dict[str, Any]] = {"": {}, "limits": {}}
    for setting in SETTINGS:
        value = values[setting.key]
        owner, _, name = setting.field.rpartition(".")
        if setting.member is None:
            fields[owner][name] = frozenset(value) if isinstance(value, tuple) else value
        elif value != setting.declared:
            # Only what differs from the rule's or practice's own is kept, so that a file
            # restating a default yields the same Policy as no file at all.
            fields[owner].setdefault(name, {})[setting.member] = value
    top: dict[str, Any] = {name: MappingProxyType(value) if isinstance(value, dict) else value
                           for name, value in fields[""].items()}
    return Policy(**top, limits=Limits(**fields["limits"]), waivers=tuple(values[WAIVERS]))
