"""Secrets in image metadata (IA1101-IA1103), and the promise behind them: no secret value is
printed anywhere, in any format."""

from __future__ import annotations

import pytest

from auditor.formats import render
from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from auditor.model.report import Report
from tests.support.factory import (
    GOOD_CONFIG,
    ImageSpec,
    base_steps,
    check,
    file,
    good,
    nop,
    own_steps,
    report,
    run,
)

TOKEN = "ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"
AWS = "AKIAIOSFODNN7EXAMPLE"


def with_env(*pairs: str) -> ImageSpec:
    return good().configured(Env=[*GOOD_CONFIG["Env"], *pairs])


def test_clean_metadata_passes() -> None:
    assert check(good(), "IA1101").note == "2 environment variables, none secret-looking"
    assert check(good(), "IA1102").note == "0 labels, none secret-looking"
    assert check(good(), "IA1103").note == ("14 history steps, none with a secret on its "
                                            "command line")


def test_a_secret_named_env() -> None:
    result = check(with_env("DB_PASSWORD=hunter2-env"), "IA1101")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.HIGH
    assert finding.message == "Env DB_PASSWORD holds a secret-looking value"
    assert finding.evidence == "config.Env: DB_PASSWORD=********"


def test_a_credential_value_under_any_name_is_critical() -> None:
    (finding,) = check(with_env(f"SETTINGS={TOKEN}"), "IA1101").findings
    assert finding.severity is Severity.CRITICAL
    assert finding.message == "Env SETTINGS holds a GitHub token"
    assert TOKEN not in finding.evidence


@pytest.mark.parametrize("pair", [
    "DB_PASSWORD=", "DB_PASSWORD=changeme", "API_TOKEN=<set me>", "PASSWORD_FILE=/run/secrets/db",
    "GPG_KEY=E3FF2839C048B25C084DEBE9B26995E310250568", "SECRET_KEY_PATH=/etc/key",
    "TOKEN_URL=https://auth.example.com/token", "PUBLIC_KEY=ssh-ed25519 AAAA",
])
def test_placeholders_and_benign_names(pair: str) -> None:
    assert check(with_env(pair), "IA1101").status is Status.PASS


def test_an_env_secret_the_base_set_is_shown_not_scored() -> None:
    base = (*base_steps()[:-1], nop("ENV BASE_TOKEN=abcdef123456"), base_steps()[-1])
    spec = ImageSpec(base=base).configured(Env=["BASE_TOKEN=abcdef123456"])
    result = check(spec, "IA1101")
    assert result.status is Status.PASS
    assert result.base_findings[0].origin is Origin.BASE


def test_a_secret_label() -> None:
    spec = good().configured(Labels={"maintainer": "me", "deploy.token": "abc123def456",
                                     "aws": AWS})
    result = check(spec, "IA1102")
    assert result.status is Status.FAIL
    assert sorted(f.evidence for f in result.findings) == [
        "config.Labels: aws=********", "config.Labels: deploy.token=********"]
    assert {f.severity for f in result.findings} == {Severity.HIGH, Severity.CRITICAL}


@pytest.mark.parametrize("command", [
    "curl -u admin:hunter2-run https://example.com/x",
    "git clone https://bot:hunter2-run@git.example.com/app.git",
    "mysql -phunter2-run -e 'select 1'",
    "export API_KEY=hunter2-run && make",
    "pip install --index-url https://__token__:hunter2-run@pypi.example.com/simple x",
])
def test_a_secret_on_a_run_line(command: str) -> None:
    result = check(good().adding(run(command, file("x"))), "IA1103")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.message == "history[12] RUN carries a secret"
    assert "hunter2-run" not in finding.evidence and finding.layer == 7


@pytest.mark.parametrize("command", [
    "pip install --prefix=/install -r requirements.txt",
    "npm install --production",
    "mkdir -p /app/data && chown -R app:app /app",
    "apt-get install -y --no-install-recommends python3-pip",
    "useradd -u 10001 -g app app",
])
def test_ordinary_run_lines_carry_no_secret(command: str) -> None:
    assert check(good().adding(run(command, file("x"))), "IA1103").status is Status.PASS


def test_env_and_arg_steps_are_left_to_their_own_rules() -> None:
    spec = good().adding(nop("ENV DB_PASSWORD=hunter2-env"), nop("ARG API_KEY=hunter2-arg"))
    assert check(spec, "IA1103").status is Status.PASS


# ----------------------------------------------------------------------------- never printed

SECRETS = ("hunter2-env", TOKEN, AWS, "hunter2-label", "hunter2-run", "hunter2-arg",
           "hunter2-cmd", "hunter2-base-cmd", "npm_" + "x" * 36)


def leaky() -> ImageSpec:
    """Every place a secret can hide in image metadata, at once."""
    base = (*base_steps()[:-1], nop('CMD ["python3" "--password=hunter2-base-cmd"]'))
    own = (
        nop("ARG API_KEY=hunter2-arg"),
        *own_steps()[1:],
        nop(f"ENV DB_PASSWORD=hunter2-env GH={TOKEN}"),
        run("curl -u admin:hunter2-run https://example.com/x", file("myapp/x")),
        run("npm ci", file("myapp/node_modules/x"), args={"NPM_TOKEN": "npm_" + "x" * 36}),
    )
    tail = (nop("EXPOSE 8000"), nop('CMD ["python" "main.py" "--password" "hunter2-cmd"]'))
    return ImageSpec(base=base, own=own, tail=tail).configured(
        Env=[*GOOD_CONFIG["Env"], "DB_PASSWORD=hunter2-env", f"GH={TOKEN}", f"AWS_ID={AWS}"],
        Labels={"token": "hunter2-label"},
        Cmd=["python", "main.py", "--password", "hunter2-cmd"],
    )


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_no_secret_value_is_rendered(fmt: str) -> None:
    item = report(leaky())
    flagged = {r.rule.id for r in item.results if r.status is Status.FAIL}
    assert {"IA1101", "IA1102", "IA1103", "IA502"} <= flagged
    text = render(Report((item,), tool_version="test"), fmt)
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into the {fmt} report"
    assert "********" in text
    assert "DB_PASSWORD" in text  # the key is named
