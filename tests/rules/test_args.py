"""Practice 5: the user created from a build argument (IA501); secrets passed as build arguments
(IA502), which history keeps in clear text."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from tests.support.factory import (
    ImageSpec,
    Step,
    buildkit,
    check,
    directory,
    file,
    good,
    nop,
    own_steps,
    passwd,
    run,
)

TOKEN = "ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"


def creating(*steps: Step) -> ImageSpec:
    """The good image with its ARG and adduser steps replaced by `steps`."""
    rest = [s for s in own_steps() if "USER_NAME" not in s.created_by]
    return good().with_own(*steps, *rest)


def adduser(command: str, **args: str) -> Step:
    return run(command, passwd("myuser:x:1000:1000::/home/myuser:/bin/sh"),
               directory("home/myuser", uid=1000), args=args or None)


def test_a_user_created_from_a_build_argument_passes() -> None:
    result = check(good(), "IA501")
    assert result.status is Status.PASS
    assert result.note == ("history[7]: RUN adduser -D $USER_NAME creates the user from build "
                           "argument USER_NAME=myuser")


def test_buildkit_history_counts_the_same() -> None:
    spec = creating(
        buildkit("ARG USER_NAME=myuser"),
        buildkit("RUN |1 USER_NAME=myuser /bin/sh -c adduser -D ${USER_NAME} # buildkit",
                 passwd("myuser:x:1000:1000::/home/myuser:/bin/sh")),
    )
    result = check(spec, "IA501")
    assert result.status is Status.PASS and "USER_NAME=myuser" in result.note


def test_a_credential_shaped_argument_value_is_not_shown_in_the_credit() -> None:
    result = check(creating(adduser("adduser -D $USER_NAME", USER_NAME=TOKEN)), "IA501")
    assert result.status is Status.PASS
    assert TOKEN not in result.note
    assert result.note.endswith("from build argument USER_NAME")


def test_a_hard_coded_user_name() -> None:
    spec = creating(adduser("adduser -D myuser"))
    result = check(spec, "IA501")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.evidence == "history[6]: RUN adduser -D myuser"
    assert finding.layer == 3


def test_a_passwd_line_appended_by_hand_is_a_created_user() -> None:
    spec = creating(adduser("echo 'app:x:10001:10001::/app:/bin/sh' >> /etc/passwd"))
    assert check(spec, "IA501").status is Status.WARN


def test_a_variable_that_is_no_build_argument_is_hard_coded() -> None:
    spec = creating(nop("ENV APP_USER=app"), adduser("useradd $APP_USER"))
    assert check(spec, "IA501").status is Status.WARN


def test_no_user_created_is_not_applicable() -> None:
    result = check(creating(), "IA501")
    assert result.status is Status.SKIP
    assert result.note == "the image's own build creates no user"


def test_a_secret_build_argument_in_a_run_prefix() -> None:
    spec = creating(adduser("adduser -D $USER_NAME", USER_NAME="myuser", GITHUB_TOKEN=TOKEN))
    result = check(spec, "IA502")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.CRITICAL  # a recognisable credential
    assert finding.message == ("build argument GITHUB_TOKEN carries a GitHub token, persisted "
                               "in history")
    assert finding.evidence == "history[6]: GITHUB_TOKEN=********"
    assert TOKEN not in finding.message + finding.evidence


def test_a_secret_named_build_argument_with_a_default() -> None:
    spec = good().adding(nop("ARG DB_PASSWORD=hunter2-db"))
    result = check(spec, "IA502")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.HIGH
    assert "hunter2-db" not in finding.evidence


@pytest.mark.parametrize("line", [
    "ARG DB_PASSWORD", "ARG API_KEY=changeme", "ARG TOKEN=", "ARG GPG_KEY=ABCDEF0123",
    "ARG PASSWORD_FILE=/run/secrets/db", "ARG SECRET=${SECRET}",
])
def test_placeholders_and_benign_names_are_not_secrets(line: str) -> None:
    assert check(good().adding(nop(line)), "IA502").status is Status.PASS


def test_a_secret_repeated_in_every_run_prefix_is_one_finding_per_step() -> None:
    spec = good().adding(
        run("make", file("a"), args={"NPM_TOKEN": "npm_" + "a" * 36}),
        run("make", file("b"), args={"NPM_TOKEN": "npm_" + "a" * 36}),
    )
    result = check(spec, "IA502")
    assert len(result.findings) == 2
    assert {f.evidence for f in result.findings} == {
        "history[12]: NPM_TOKEN=********", "history[13]: NPM_TOKEN=********"}


def test_the_pass_note_lists_argument_names_only() -> None:
    result = check(good(), "IA502")
    assert result.status is Status.PASS
    assert result.note == "no build argument carries a secret (seen: USER_NAME)"
