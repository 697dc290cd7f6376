"""Practice 10: a CMD or ENTRYPOINT of the image's own (IA1001), in exec form (IA1002)."""

from __future__ import annotations

import pytest

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from tests.support.factory import DELETE, ImageSpec, base_steps, check, good, nop


def commanded(cmd: list[str] | None, entrypoint: list[str] | None = None,
              line: str | None = None) -> ImageSpec:
    """The good image with config Cmd/Entrypoint set and the own CMD step replaced by `line`."""
    tail = [nop("EXPOSE 8000")] + ([nop(line)] if line else [])
    spec = good().with_tail(*tail)
    return spec.configured(Cmd=cmd if cmd is not None else DELETE,
                           Entrypoint=entrypoint if entrypoint is not None else DELETE)


def test_an_own_exec_form_cmd_passes() -> None:
    result = check(good(), "IA1001")
    assert result.status is Status.PASS
    assert result.note == ('config.Cmd=["python", "main.py"] '
                           '(history[13]: CMD ["python" "main.py"])')
    assert check(good(), "IA1002").note == 'config.Cmd=["python", "main.py"] is in exec form'


@pytest.mark.parametrize("cmd", [None, []], ids=["null", "empty"])
def test_no_command_at_all(cmd: list[str] | None) -> None:
    spec = commanded(cmd)
    result = check(spec, "IA1001")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.HIGH
    assert finding.evidence == "config.Cmd and config.Entrypoint are empty"
    assert check(spec, "IA1002").status is Status.SKIP


def test_a_cmd_inherited_from_the_base() -> None:
    result = check(commanded(["python3"]), "IA1001")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == 'Cmd ["python3"] is inherited from the base image'


def test_an_entrypoint_of_the_image_own_counts() -> None:
    spec = commanded(["--port", "8000"], ["python", "main.py"],
                     line='ENTRYPOINT ["python" "main.py"]')
    result = check(spec, "IA1001")
    assert result.status is Status.PASS
    assert result.note.startswith('config.Entrypoint=["python", "main.py"]')
    assert check(spec, "IA1002").status is Status.PASS


def test_without_trusted_history_a_command_passes() -> None:
    result = check(ImageSpec(history=[]).configured(Cmd=["python3"]), "IA1001")
    assert result.status is Status.PASS
    assert "history cannot say which build set it" in result.note


@pytest.mark.parametrize("shell", ["/bin/sh", "sh", "/bin/bash", "ash"])
def test_a_shell_form_cmd(shell: str) -> None:
    spec = commanded([shell, "-c", "python main.py"],
                     line=f'CMD ["{shell}" "-c" "python main.py"]')
    result = check(spec, "IA1002")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == f"Cmd runs under {shell} -c: signals do not reach the app"
    assert finding.evidence == f'config.Cmd=["{shell}", "-c", "python main.py"]'
    assert finding.origin is Origin.OWN
    assert check(spec, "IA1001").status is Status.PASS  # there is a command; its form is IA1002


def test_a_shell_that_execs_the_app_passes() -> None:
    spec = commanded(["/bin/sh", "-c", "exec python main.py"],
                     line='CMD ["/bin/sh" "-c" "exec python main.py"]')
    result = check(spec, "IA1002")
    assert result.status is Status.PASS and "execs the app" in result.note


def test_a_shell_form_entrypoint_wins_over_an_exec_cmd() -> None:
    spec = commanded(["--debug"], ["/bin/sh", "-c", "python main.py"],
                     line='ENTRYPOINT ["/bin/sh" "-c" "python main.py"]')
    (finding,) = check(spec, "IA1002").findings
    assert finding.message.startswith("Entrypoint runs under /bin/sh -c")


def test_a_shell_form_cmd_of_the_base_is_shown_not_scored() -> None:
    base = (*base_steps()[:-1], nop('CMD ["/bin/sh" "-c" "python3"]'))
    spec = ImageSpec(base=base).with_tail(nop("EXPOSE 8000")).configured(
        Cmd=["/bin/sh", "-c", "python3"])
    result = check(spec, "IA1002")
    assert result.status is Status.PASS
    assert result.base_findings and result.base_findings[0].origin is Origin.BASE


def test_a_secret_on_the_command_line_is_masked() -> None:
    spec = commanded(["app", "--password", "hunter2-cmd", "--token=s3cr3t-cmd-token"],
                     line='CMD ["app" "--password" "hunter2-cmd" "--token=s3cr3t-cmd-token"]')
    for rule in ("IA1001", "IA1002"):
        result = check(spec, rule)
        text = result.note + "".join(f.evidence + f.message for f in result.findings)
        assert "hunter2-cmd" not in text and "s3cr3t-cmd-token" not in text
        assert "********" in text


@pytest.mark.parametrize(("argv", "shown"), [
    (["mysql", "-psecret1", "db"], '["mysql", "-p********", "db"]'),
    (["app", "--token=abc123", "db"], '["app", "--token=********", "db"]'),
    (["app", "--password", "x y", "db"], '["app", "--password", "********", "db"]'),
])
def test_a_masked_argument_keeps_the_list_readable(argv: list[str], shown: str) -> None:
    # A mask must not run into the next argument (its quote and comma).
    result = check(commanded(argv, line="CMD " + " ".join(f'"{a}"' for a in argv)), "IA1001")
    assert shown in result.note
