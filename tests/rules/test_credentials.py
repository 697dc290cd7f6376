"""IA1104, cloud and tool credentials: judged by what each file holds, values never shown."""

from __future__ import annotations

import json

import pytest

from auditor.model.findings import Severity, Status
from auditor.redact import MASK
from tests.support.factory import ImageSpec, base_steps, check, copy, file, good, run, whiteout

# FAKE values shaped like real ones
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEFAKEKEY"
NPM = "npm_FAKEfixtureTOKEN0000notREAL0000abcde"
DOCKER_AUTH = "dXNlcjpGQUtFcGFzc3dvcmQ="


def holding(path: str, text: str) -> ImageSpec:
    return good().adding(copy("multi:abc in /", file(path, text)))


CREDENTIALS = [
    ("root/.aws/credentials",
     f"[default]\naws_access_key_id = AKIAFAKEFAKEFAKEFAKE\naws_secret_access_key = {SECRET}\n",
     "aws_secret_access_key"),
    ("root/.aws/config", f"[profile ci]\nregion = eu-west-1\naws_session_token={SECRET}\n",
     "aws_session_token"),
    ("root/.azure/msal_token_cache.json",
     json.dumps({"RefreshToken": {"k": {"secret": SECRET}}}), "secret"),
    ("root/.config/gcloud/application_default_credentials.json",
     json.dumps({"type": "authorized_user", "refresh_token": SECRET}), "refresh_token"),
    ("root/.config/gcloud/credentials.db", "SQLite format 3\0refresh_token\0" + SECRET,
     "refresh_token"),
    ("myapp/.gcp/key.json",
     json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----x"}),
     "private_key"),
    ("root/.docker/config.json", json.dumps({"auths": {"registry.example": {"auth": DOCKER_AUTH}}}),
     "auth"),
    ("home/myuser/.npmrc", f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={NPM}\n",
     "//registry.npmjs.org/:_authToken"),
    ("root/.pypirc", f"[pypi]\nusername = __token__\npassword = {SECRET}\n", "password"),
    ("root/.netrc", f"machine git.example login ci password {SECRET}\n", "password"),
    ("root/.kube/config", f"users:\n- name: ci\n  user:\n    token: {SECRET}\n", "token"),
    ("myapp/deploy.kubeconfig", f"users:\n- user:\n    client-key-data: {DOCKER_AUTH}\n",
     "client-key-data"),
]


@pytest.mark.parametrize(("path", "text", "key"), CREDENTIALS)
def test_a_file_holding_a_credential_is_critical_and_masked(path: str, text: str,
                                                            key: str) -> None:
    result = check(holding(path, text), "IA1104")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.CRITICAL and finding.path == path
    assert f"/{path}: {key}={MASK}" in finding.evidence
    for value in (SECRET, NPM, DOCKER_AUTH):
        assert value not in finding.evidence and value not in finding.message


@pytest.mark.parametrize(("path", "text"), [
    ("root/.aws/config", "[default]\nregion = eu-west-1\noutput = json\n"),
    ("root/.aws/credentials", "[default]\naws_secret_access_key =\n"),
    ("root/.azure/azureProfile.json", json.dumps({"subscriptions": [{"id": "x"}]})),
    ("root/.docker/config.json", json.dumps({"auths": {"r.example": {}}, "credsStore": "pass"})),
    ("home/myuser/.npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n"),
    ("root/.pypirc", "[pypi]\nusername = __token__\n"),
    ("root/.kube/config", "users:\n- user:\n    exec:\n      command: aws\n"),
    ("myapp/config.json", json.dumps({"password": SECRET})),  # not a tool's login file
])
def test_a_file_holding_no_credential_is_no_finding(path: str, text: str) -> None:
    result = check(holding(path, text), "IA1104")
    assert result.status is Status.PASS


def test_clean_tool_files_are_named_in_the_pass() -> None:
    note = check(holding("root/.npmrc", "registry=https://r.example/\n"), "IA1104").note
    assert note == "1 tool configuration file without a credential value: /root/.npmrc"


def test_a_login_deleted_later_still_ships() -> None:
    spec = good().adding(
        run("docker login", file("root/.docker/config.json",
                                 json.dumps({"auths": {"r": {"auth": DOCKER_AUTH}}}))),
        run("rm -rf /root/.docker", whiteout("root/.docker")),
    )
    (finding,) = check(spec, "IA1104").findings
    assert finding.evidence.endswith("deleted by a later layer but still shipped")


def test_the_bases_logins_are_shown_unscored() -> None:
    base = (*base_steps()[:-1], run("aws configure", file("root/.aws/credentials",
                                                          f"aws_secret_access_key={SECRET}")),
            base_steps()[-1])
    result = check(ImageSpec(base=base), "IA1104")
    assert result.status is Status.PASS and not result.findings
    assert len(result.base_findings) == 1


def test_a_file_too_large_to_read_is_flagged_at_the_rule_severity() -> None:
    spec = good().adding(copy("file:a in /root/.kube/", file("root/.kube/config",
                                                             size=300 * 1024)))
    (finding,) = check(spec, "IA1104").findings
    assert finding.severity is Severity.HIGH and "too large to read" in finding.message


def test_a_json_file_nested_past_the_parser_is_still_read() -> None:
    document = "[" * 5000 + json.dumps({"auths": {"r.example": {"auth": DOCKER_AUTH}}}) + "]" * 5000
    result = check(holding("root/.docker/config.json", document), "IA1104")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert f"auth={MASK}" in finding.evidence and DOCKER_AUTH not in finding.evidence


def test_only_a_few_key_names_are_shown_each_cut_short() -> None:
    keys = [f"//{'x' * 200}{n}.example/:_authToken" for n in range(30)]
    text = "".join(f"{key}={NPM}{n}\n" for n, key in enumerate(keys))
    result = check(holding("root/.npmrc", text), "IA1104")
    (finding,) = result.findings
    assert finding.evidence.count(MASK) == 10 and "and 20 more keys" in finding.evidence
    assert "x" * 100 not in finding.evidence and NPM not in finding.evidence
