"""Rules: every check, declared once with its metadata, and the practices they belong to.

Modules are listed here by hand, not discovered: what runs is what this file names.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable

from auditor.errors import UsageError
from auditor.model.findings import Practice
from auditor.model.policy import Policy
from auditor.rules import (
    accounts,
    args,
    base,
    caches,
    command,
    credentials,
    files,
    hardening,
    layering,
    package_steps,
    packages,
    ports,
    runtime,
    secrets,
    steps,
    user,
    workdir,
    writable,
)
from auditor.rules.registry import Rule, rule

__all__ = ["ALL_RULES", "PRACTICES", "Rule", "rule", "select", "wanted_files"]

# Numbers 1-10 are those of PRACTICES.md; 11 groups every secrets check, in files (IA401, IA1104)
# and in metadata (build arguments, ENV, labels, history); 12-14 the checks peer tools (dockle,
# trivy, the CIS Docker Benchmark) make, judged from evidence. Weights are relative: a score
# scales them over the practices that apply.
PRACTICES: tuple[Practice, ...] = (
    Practice(1, "Lightweight base image", 10),
    Practice(2, "Non-root user", 15),
    Practice(3, "Minimal layers", 6),
    Practice(4, "Only necessary files", 12),
    Practice(5, "ARG for the user name", 4),
    Practice(6, "Working directory set", 5),
    Practice(7, "Port exposed", 4),
    Practice(8, "Packages installed as non-root", 8),
    Practice(9, "No caches left", 10),
    Practice(10, "Explicit command", 8),
    Practice(11, "No secrets in the image", 18),
    Practice(12, "Hardened files and accounts", 8),
    Practice(13, "Health and volumes declared", 4),
    Practice(14, "Predictable build steps", 5),
)

ALL_RULES: tuple[Rule, ...] = (
    base.image_is_large,
    base.base_is_heavy,
    base.build_tools_left,
    user.runs_as_root,
    user.user_missing_from_passwd,
    layering.too_many_layers,
    layering.run_steps_not_combined,
    files.secret_files_copied,
    files.vcs_metadata_copied,
    files.build_clutter_copied,
    files.zero_filled_file_shipped,
    args.user_name_hardcoded,
    args.secret_in_build_arg,
    workdir.workdir_not_set,
    ports.no_exposed_port,
    ports.privileged_port_as_non_root,
    ports.ssh_port_exposed,
    packages.packages_installed_as_root,
    caches.pip_cache_left,
    caches.os_package_cache_left,
    caches.node_cache_left,
    command.no_explicit_command,
    command.shell_form_command,
    secrets.secret_in_env,
    secrets.secret_in_label,
    secrets.secret_in_history,
    credentials.tool_credentials_left,
    hardening.setuid_files_added,
    accounts.empty_password,
    accounts.shared_ids,
    hardening.sudo_used,
    writable.world_writable_files,
    writable.code_writable_by_user,
    runtime.no_healthcheck,
    runtime.sensitive_volume,
    steps.add_instead_of_copy,
    package_steps.update_alone,
    package_steps.system_upgraded,
)


def resolve(patterns: Iterable[str]) -> frozenset[str]:
    """The rule ids that ids or globs (IA4*) name; a pattern naming no rule is an error."""
    known = [r.info.id for r in ALL_RULES]
    ids: set[str] = set()
    for pattern in patterns:
        pattern = pattern.strip().upper()
        if not pattern:
            continue
        matched = fnmatch.filter(known, pattern)
        if not matched:
            raise UsageError(
                f"unknown rule {pattern}", hint="`imgaudit rules` lists every rule id"
            )
        ids.update(matched)
    return frozenset(ids)


def select(
    ignore: Iterable[str] = (), enable: Iterable[str] = ()
) -> tuple[tuple[Rule, ...], frozenset[str]]:
    """Every rule, and the ids among them to report as ignored: those named by `ignore`, and
    when `enable` names any, every rule it does not name. An unknown id is an error."""
    ignored = resolve(ignore)
    enabled = resolve(enable)
    if enabled:
        ignored |= {r.info.id for r in ALL_RULES} - enabled
    return ALL_RULES, ignored


def prepare(policy: Policy) -> tuple[tuple[Rule, ...], Policy, tuple[str, ...]]:
    """Every rule; the policy with its rule selection resolved to ids (ignore holds every rule
    not to run, enable is spent); and the small files the rules that run read. An unknown rule
    id, in the selection or in a severity override, is an error."""
    rules, ignored = select(policy.ignore, policy.enable)
    unknown = sorted(set(policy.severities) - {r.info.id for r in rules})
    if unknown:
        raise UsageError(f"unknown rule {unknown[0]} in a severity override",
                         hint="`imgaudit rules` lists every rule id")
    resolved = dataclasses.replace(policy, ignore=ignored, enable=frozenset())
    return rules, resolved, wanted_files(r for r in rules if r.info.id not in ignored)


def wanted_files(rules: Iterable[Rule]) -> tuple[str, ...]:
    """The union of small files the rules read, so layers are walked once for all of them."""
    return tuple(sorted({path for r in rules for path in r.info.files}))

