"""Secret-looking names and values, and the masking that keeps every value out of reports."""

from __future__ import annotations

import pytest

from auditor.redact import (
    MASK,
    describe_step,
    is_placeholder,
    is_secret_name,
    mask_secrets,
    redact,
    secret_value_kind,
)
from auditor.sources.history import make_steps

GITHUB = "ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"


@pytest.mark.parametrize("name", [
    "PASSWORD", "DB_PASSWORD", "db_passwd", "MYSQL_ROOT_PWD", "PW", "SECRET", "CLIENT_SECRET",
    "API_KEY", "apikey", "GITHUB_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY",
    "PRIVATE_KEY", "STRIPE_KEY", "KEY", "SIGNING_KEY", "CREDENTIALS", "SESSION_KEY",
])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "PASSWORD_FILE", "TOKEN_PATH", "SECRETS_DIR", "TOKEN_URL", "DB_HOST", "DB_USER",
    "API_KEY_ID", "GPG_KEY", "PUBLIC_KEY", "KEY_FINGERPRINT", "TOKEN_TTL", "PASSWORD_LENGTH",
    "PATH", "HOME", "PYTHON_VERSION", "USER_NAME", "KEYBOARD", "MONKEY_PATCH",
])
def test_benign_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(("value", "kind"), [
    ("AKIAIOSFODNN7EXAMPLE", "AWS access key"),
    (GITHUB, "GitHub token"),
    ("github_pat_" + "A1b2" * 10, "GitHub token"),
    ("glpat-" + "x" * 20, "GitLab token"),
    ("xoxb-1234567890-abcdef", "Slack token"),
    ("sk_live_" + "a1B2" * 6, "Stripe key"),
    ("AIza" + "b" * 35, "Google API key"),
    ("pypi-" + "A" * 60, "PyPI token"),
    ("npm_" + "a" * 36, "npm token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
    ("-----BEGIN PRIVATE KEY-----", "private key"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "JSON web token"),
    ("postgres://app:hunter2@db:5432/app", "password in URL"),
])
def test_secret_values(value: str, kind: str) -> None:
    assert secret_value_kind(value) == kind
    assert f"in {value} out" != redact(f"in {value} out")


@pytest.mark.parametrize("value", [
    "hello", "https://example.com/path", "postgres://db:5432/app", "sk_test_abc",
    "-----BEGIN PUBLIC KEY-----", "ghp_short", "AKIA-not-a-key",
])
def test_ordinary_values(value: str) -> None:
    assert secret_value_kind(value) is None


@pytest.mark.parametrize("value", ["", "changeme", "CHANGE_ME", "none", "null", "false",
                                   "$SECRET", "${SECRET}", "<your token>", "xxxx", "****",
                                   "'changeme'", '""'])
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["hunter2", "changeme2", "x1", "${A}${B}"])
def test_real_looking_values_are_no_placeholders(value: str) -> None:
    assert not is_placeholder(value)


@pytest.mark.parametrize(("text", "shown"), [
    ("DB_PASSWORD=hunter2 make", f"DB_PASSWORD={MASK} make"),
    ('API_KEY="hunter 2" ./run', f"API_KEY={MASK} ./run"),
    ("API_KEY='hunter2';next", f"API_KEY={MASK};next"),
    ("DB_PASSWORD=changeme make", "DB_PASSWORD=changeme make"),
    ("DB_PASSWORD=$DB_PASSWORD make", "DB_PASSWORD=$DB_PASSWORD make"),
    ("PATH=/usr/bin:/bin make", "PATH=/usr/bin:/bin make"),
    (f"SETTINGS={GITHUB}", f"SETTINGS={MASK}"),
    ("git clone https://bot:hunter2@git.example.com/x.git",
     f"git clone https://bot:{MASK}@git.example.com/x.git"),
    ("app --password hunter2 --verbose", f"app --password {MASK} --verbose"),
    ("app --token=hunter2", f"app --token={MASK}"),
    ("app --api-key 'hunter 2'", f"app --api-key {MASK}"),
    ("mysql -u root -phunter2 db", f"mysql -u root -p{MASK} db"),
    ("curl -u admin:hunter2 https://x", f"curl -u admin:{MASK} https://x"),
    ('["app", "--password", "hunter2"]', f'["app", "--password", "{MASK}"]'),
    ('CMD ["app" "--secret" "hunter2"]', f'CMD ["app" "--secret" "{MASK}"]'),
    (f"echo {GITHUB} > /tmp/t", f"echo {MASK} > /tmp/t"),
])
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown  # masking is stable


@pytest.mark.parametrize("text", [
    "pip install --prefix=/install -r requirements.txt",
    "pip install --user --no-cache-dir -r requirements.txt",
    "npm install --production --progress=false",
    "mkdir -p /app && cp -pr src /app",
    "apt-get install -y --no-install-recommends python3-pip",
    "docker-php-ext-install pdo_mysql",
    "adduser -D -u 10001 app",
    "echo PYTHONDONTWRITEBYTECODE=1",
    "git clone https://github.com/org/repo.git",
    "chown -R app:app /app",
])
def test_ordinary_commands_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_describe_step_names_the_step_and_masks_secrets() -> None:
    (step,) = make_steps([{"created_by": "/bin/sh -c curl -H 'x' https://u:hunter2@example.com/x"}])
    assert describe_step(step).startswith("history[0]: RUN curl")
    assert "hunter2" not in describe_step(step)
    (long,) = make_steps([{"created_by": "/bin/sh -c echo " + "x" * 400}])
    assert len(describe_step(long)) <= len("history[0]: ") + 160


def test_mask_secrets_masks_texts_that_look_like_credentials() -> None:
    masked = mask_secrets({"password": "hunter2-hunter2", "platform": GITHUB, "tag": "v1",
                           "jobs": 4, "newest": None})
    assert masked == {"password": MASK, "platform": MASK, "tag": "v1", "jobs": 4, "newest": None}
