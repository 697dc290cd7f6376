"""Recognises secret-looking names and values and masks them: no secret value leaves imgaudit."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from auditor.model.image import HistoryStep

MASK = "********"

_SECRET_NAME = re.compile(
    r"(?i)(passw(or)?d|passwd|pwd$|^pw$|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|priv[_-]?key|credential|auth[_-]?key|client[_-]?secret|session[_-]?key|"
    r"signing[_-]?key|encryption[_-]?key|master[_-]?key|secret[_-]?key|_key$|^key$)"
)
# Names that match the words above but hold no secret by convention.
_BENIGN_NAME = re.compile(
    r"(?i)(_file$|_path$|_dir$|_url$|_host$|_user(name)?$|_id$|^gpg_key$|public|fingerprint|"
    r"_key_?id$|_keyring$|_length$|_len$|_size$|_type$|_algorithm$|_ttl$|_expiry$|_enabled$)"
)
_PLACEHOLDER = re.compile(r"(?i)^(|changeme|change_me|none|null|false|true|\$\{?\w+\}?|<[^>]*>|x+|\*+)$")

_URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]+:)[^/\s@'\"]+@")
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Stripe key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("PyPI token", re.compile(r"\bpypi-[A-Za-z0-9_-]{40,}")),
    ("npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("password in URL", _URL_CREDENTIALS),
)
# Applied after the URL credentials are masked (keeping the user and host readable).
_MASKED_AFTER = tuple(p for _, p in _VALUE_PATTERNS if p is not _URL_CREDENTIALS)

# KEY=value pairs inside a command line or a build-argument prefix.
_ASSIGNMENT = re.compile(r"(?P<key>\b[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\"[^\"]*\"|'[^']*'|[^\s;&|]+)")
_PASSWORD_FLAG = re.compile(
    r"(?P<flag>(?:--(?:password|passwd|token|secret|api-key|access-key)[= ]|"
    r"(?<![\w-])-p(?=\S{4,})))"  # mysql's -pSECRET, not the -p of --prefix or --production
    r"(?P<value>\"[^\"]*\"|'[^']*'|\S+)"
)
_USER_COLON_PASS = re.compile(r"(?P<flag>(?:-u|--user)\s+[^\s:]+:)(?P<value>\S+)")
# The same flags in an exec-form argument list: ["app", "--password", "value"], or as history
# writes it: ["app" "--password" "value"].
_QUOTED_PASSWORD_ARG = re.compile(
    r"(?P<flag>[\"'](?:--(?:password|passwd|token|secret|api-key|access-key))[\"'],?\s*[\"'])"
    r"(?P<value>[^\"']+)"
)


def redact_argv(argv: Sequence[str]) -> str:
    """An exec-form argument list as written (`["app", "--flag", "value"]`), each argument
    redacted and the argument after a --password-style flag masked. Each argument is redacted on
    its own: a pass over the joined text would run a flag's mask into the next argument."""
    text = "[" + ", ".join(f'"{redact(a)}"' for a in argv) + "]"
    return _QUOTED_PASSWORD_ARG.sub(lambda m: m.group("flag") + MASK, text)


def describe_step(step: HistoryStep) -> str:
    """A history step as evidence quotes it, secrets masked and cut to 160 characters:
    `history[4]: RUN pip install ...`."""
    text = redact(f"{step.instruction} {step.body}".strip() or step.created_by.strip())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"history[{step.index}]: {text}"


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _BENIGN_NAME.search(name)


def secret_value_kind(value: str) -> str | None:
    """The kind of credential a value looks like, or None."""
    for kind, pattern in _VALUE_PATTERNS:
        if pattern.search(value):
            return kind
    return None


def is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value.strip().strip("'\"")))


def looks_secret(key: str, value: str) -> bool:
    """Whether KEY=value holds a secret: a credential-shaped value, or a secret name with a
    real (not placeholder) value."""
    return bool(secret_value_kind(value)) or (is_secret_name(key) and not is_placeholder(value))


def mask_secrets(values: Mapping[str, object]) -> dict[str, object]:
    """The values, each text that looks like a credential (by its name or its shape) masked."""
    return {key: MASK if isinstance(value, str) and looks_secret(key, value) else value
            for key, value in values.items()}


def redact(text: str) -> str:
    """The text with every secret-looking value replaced by a mask; names are kept."""

    def assignment(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if looks_secret(key, value):
            return f"{key}={MASK}"
        return match.group(0)

    text = _URL_CREDENTIALS.sub(lambda m: m.group("head") + MASK + "@", text)
    text = _ASSIGNMENT.sub(assignment, text)
    text = _PASSWORD_FLAG.sub(lambda m: m.group("flag") + MASK, text)
    text = _USER_COLON_PASS.sub(lambda m: m.group("flag") + MASK, text)
    text = _QUOTED_PASSWORD_ARG.sub(lambda m: m.group("flag") + MASK, text)
    for pattern in _MASKED_AFTER:
        text = pattern.sub(MASK, text)
    return text
