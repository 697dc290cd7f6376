"""A non-root user, created with the tool the image holds, and USER before the command; a USER
that names a missing account gets it."""

from __future__ import annotations

import pytest

from tests.support.fix_images import (
    ALPINE,
    DEBIAN,
    PASSWD,
    SCRATCH,
    STATIC_BUSYBOX,
    audited,
    file,
    folder,
    found,
)

ROOT = """\
FROM base:1
WORKDIR /srv/app
COPY app.sh ./
EXPOSE 8080
CMD ["sh", "/srv/app/app.sh"]
"""


def with_user(*lines: str) -> str:
    return ROOT.replace("EXPOSE", "\n".join(lines) + "\nEXPOSE")


@pytest.mark.parametrize(("base", "create"), [
    (ALPINE, 'RUN adduser -D -H -u 10001 "$USER_NAME"'),
    (DEBIAN, 'RUN useradd --no-log-init -r -u 10001 "$USER_NAME"'),
    (STATIC_BUSYBOX,
     'RUN echo "$USER_NAME:x:10001:10001::/home/$USER_NAME:/bin/sh" >> /etc/passwd && \\\n'
     '    echo "$USER_NAME:x:10001:" >> /etc/group && \\\n'
     '    mkdir -p "/home/$USER_NAME" && chown 10001:10001 "/home/$USER_NAME"'),
])
def test_the_user_is_created_with_the_images_own_tool(base: tuple[object, ...],
                                                       create: str) -> None:
    audit = audited(ROOT, base=base, findings=[found("IA201")])  # type: ignore[arg-type]
    assert audit.fixed() == with_user("ARG USER_NAME=app", create, "USER $USER_NAME")
    assert not audit.plan().advice


def test_a_nologin_shell_is_used_for_passwd_lines_when_there_is_one() -> None:
    base = (*STATIC_BUSYBOX, file("sbin/nologin"))
    fixed = audited(ROOT, base=base, findings=[found("IA201")]).fixed()
    assert '::/home/$USER_NAME:/sbin/nologin" >> /etc/passwd' in fixed


def test_an_image_without_a_shell_gets_a_numeric_user() -> None:
    dockerfile = "FROM base:1\nCOPY app /app\nCMD [\"/app\"]\n"
    audit = audited(dockerfile, base=SCRATCH, findings=[found("IA201")])
    assert audit.fixed() == dockerfile.replace("CMD", "USER 10001:10001\nCMD")


def test_a_free_id_and_name_are_chosen() -> None:
    passwd = PASSWD + b"app:x:0:0::/root:/bin/sh\nsvc:x:10001:10001::/:/bin/false\n"
    group = b"root:x:0:\nsvc:x:10001:\n"
    audit = audited(ROOT, base=ALPINE, passwd=passwd, group=group, findings=[found("IA201")])
    assert audit.fixed() == with_user("ARG USER_NAME=appuser",
                                      'RUN adduser -D -H -u 10002 "$USER_NAME"',
                                      "USER $USER_NAME")


def test_an_existing_account_is_used() -> None:
    passwd = PASSWD + b"app:x:1000:1000::/home/app:/bin/sh\n"
    audit = audited(ROOT, base=ALPINE, passwd=passwd, findings=[found("IA201")])
    assert audit.fixed() == with_user("USER app")


def test_the_user_ends_the_last_run_and_gets_the_folders_the_app_writes() -> None:
    dockerfile = """\
FROM base:1
ARG USER_NAME=x
COPY . /app
RUN mkdir -p /root/.cache/x /var/log/app /app/data && touch /var/log/app/app.log
CMD ["sh", "/app/serve.sh"]
"""
    layers = {3: [folder("app")],
              4: [folder("root/.cache/x"), folder("var/log/app"), folder("app/data")]}
    audit = audited(dockerfile, base=ALPINE, layers=layers, findings=[found("IA201")])
    assert audit.fixed() == """\
FROM base:1
ARG USER_NAME=x
COPY . /app
ARG APP_USER=app
RUN mkdir -p /root/.cache/x /var/log/app /app/data && touch /var/log/app/app.log && \\
    adduser -D -H -u 10001 "$APP_USER" && \\
    chown -R 10001 /app/data /var/log/app
USER $APP_USER
CMD ["sh", "/app/serve.sh"]
"""


def test_user_root_at_the_end_is_followed_by_the_new_user() -> None:
    dockerfile = ROOT.replace("EXPOSE", "USER root\nEXPOSE")
    audit = audited(dockerfile, base=ALPINE, findings=[found("IA201")])
    assert audit.fixed() == with_user("USER root", "ARG USER_NAME=app",
                                      'RUN adduser -D -H -u 10001 "$USER_NAME"',
                                      "USER $USER_NAME")


def test_a_user_that_is_root_by_another_name_is_advice() -> None:
    dockerfile = ROOT.replace("EXPOSE", "USER toor\nEXPOSE")
    audit = audited(dockerfile, base=ALPINE, findings=[found("IA201")])
    assert audit.fixed() == dockerfile
    assert "runs as UID 0" in audit.advice()["IA201"]


def test_a_missing_account_is_created_before_the_user_line() -> None:
    dockerfile = ROOT.replace("EXPOSE", "USER ghost\nEXPOSE")
    audit = audited(dockerfile, base=ALPINE, findings=[found("IA202")])
    assert audit.fixed() == with_user("ARG USER_NAME=ghost",
                                      'RUN adduser -D -H -u 10001 "$USER_NAME"',
                                      "USER $USER_NAME")


def test_a_missing_account_named_by_a_build_argument() -> None:
    dockerfile = ROOT.replace("WORKDIR", "ARG APP_USER=ghost\nWORKDIR").replace(
        "EXPOSE", "USER ${APP_USER}:${APP_USER}\nEXPOSE")
    audit = audited(dockerfile, base=DEBIAN, findings=[found("IA202")])
    assert audit.fixed() == dockerfile.replace(
        "USER ${", 'RUN useradd --no-log-init -r -u 10001 "${APP_USER}"\nUSER ${')


@pytest.mark.parametrize(("user", "why"), [
    ("ghost:staff", "its group staff differs"),
])
def test_a_missing_account_that_cannot_be_made_is_advice(user: str, why: str) -> None:
    dockerfile = ROOT.replace("EXPOSE", f"USER {user}\nEXPOSE")
    audit = audited(dockerfile, base=ALPINE, findings=[found("IA202")])
    assert audit.fixed() == dockerfile
    assert why in audit.advice()["IA202"]


def test_no_shell_no_account() -> None:
    dockerfile = "FROM base:1\nCOPY app /app\nUSER ghost\nCMD [\"/app\"]\n"
    audit = audited(dockerfile, base=SCRATCH, findings=[found("IA202")])
    assert audit.fixed() == dockerfile
    assert "no shell to create it" in audit.advice()["IA202"]
