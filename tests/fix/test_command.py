"""A shell-form CMD or ENTRYPOINT of plain words becomes exec form; anything else is advice."""

from __future__ import annotations

import pytest

from tests.support.fix_images import audited, found


@pytest.mark.parametrize(("line", "expected"), [
    ("CMD sh /app/serve.sh", 'CMD ["sh", "/app/serve.sh"]'),
    ("cmd python3 main.py", 'cmd ["python3", "main.py"]'),
    ("CMD gunicorn -b '0.0.0.0:80' app:app", 'CMD ["gunicorn", "-b", "0.0.0.0:80", "app:app"]'),
    ("ENTRYPOINT /usr/bin/app --serve", 'ENTRYPOINT ["/usr/bin/app", "--serve"]'),
])
def test_plain_words_become_exec_form(line: str, expected: str) -> None:
    audit = audited(f"FROM base:1\nEXPOSE 80\n{line}\n", findings=[found("IA1002")])
    assert audit.fixed() == f"FROM base:1\nEXPOSE 80\n{expected}\n"
    assert not audit.plan().advice


@pytest.mark.parametrize(("dockerfile", "why"), [
    ("FROM base:1\nCMD python app.py --port $PORT\n", "shell syntax"),
    ("FROM base:1\nCMD migrate && serve\n", "shell syntax"),
    ("FROM base:1\nSHELL [\"/bin/bash\", \"-c\"]\nCMD serve\n", "SHELL instruction"),
    ("FROM base:1\nENTRYPOINT serve\nCMD --port 80\n", "CMD would become its arguments"),
    ('FROM base:1\nCMD ["/bin/sh", "-c", "serve"]\n', "exec form itself starts a shell"),
])
def test_anything_else_is_advice(dockerfile: str, why: str) -> None:
    audit = audited(dockerfile, findings=[found("IA1002")])
    assert audit.fixed() == dockerfile
    assert why in audit.advice()["IA1002"]


def test_an_inherited_command_is_left_to_generic_advice() -> None:
    audit = audited("FROM base:1\nRUN true\n", findings=[found("IA1002")])
    assert audit.fixed() == "FROM base:1\nRUN true\n"
    assert audit.advice()["IA1002"] == "Dockerfile:1: a finding: the fix of IA1002"
