"""Practice 3: how many layers the image's own build adds (IA301) and RUN steps that could have
been one (IA302)."""

from __future__ import annotations

from auditor.model.findings import Severity, Status
from auditor.model.policy import Limits, Policy
from tests.support.factory import ImageSpec, Step, base_steps, check, file, good, nop, run

# Ends the good image's own `RUN pip install` streak, so that what a test adds stands alone.
SEPARATOR = Step("/bin/sh -c #(nop) COPY file:5e6d in /myapp/settings.py",
                 (file("myapp/settings.py"),))


def more(*steps: Step) -> ImageSpec:
    return good().adding(SEPARATOR, *steps)


def test_the_good_image_passes() -> None:
    layers = check(good(), "IA301")
    assert layers.status is Status.PASS
    assert layers.note == ("4 non-empty layers added by the image's own build, 6 in all "
                           "(limit 10 own)")
    assert check(good(), "IA302").status is Status.PASS


def test_too_many_own_layers() -> None:
    steps = []
    for n in range(8):
        steps += [run(f"step {n}", file(f"app/{n}", "x")), nop(f"LABEL n={n}"),
                  Step(f"/bin/sh -c #(nop) COPY file:{n} in /app/c{n}", (file(f"app/c{n}"),))]
    result = check(good().adding(*steps), "IA301")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.message == "the image's own build adds 20 layers"
    assert finding.layer == 22  # the last own layer


def test_the_limit_comes_from_the_policy() -> None:
    policy = Policy(limits=Limits(max_own_layers=3))
    assert check(good(), "IA301", policy).status is Status.WARN
    assert check(good(), "IA301", Policy(limits=Limits(max_own_layers=4))).status is Status.PASS


def test_empty_layers_do_not_count() -> None:
    empty = [Step(f"/bin/sh -c #(nop) WORKDIR /myapp/{n}", ()) for n in range(12)]
    result = check(good().adding(*empty), "IA301")
    assert result.status is Status.PASS
    assert result.note.startswith("4 non-empty layers")


def test_base_layers_do_not_count() -> None:
    heavy_base = (*[run(f"base {n}", file(f"usr/{n}")) for n in range(15)], *base_steps())
    assert check(ImageSpec(base=heavy_base), "IA301").status is Status.PASS


def test_consecutive_run_steps() -> None:
    spec = more(run("apt-get update", file("var/x")),
                         run("apt-get install -y curl", file("usr/bin/curl")))
    result = check(spec, "IA302")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.message == "2 consecutive RUN steps could be one"
    assert finding.evidence == ("history[13..14]: RUN apt-get update | "
                                "RUN apt-get install -y curl")
    assert finding.layer == 8


def test_metadata_steps_between_runs_do_not_separate_them() -> None:
    spec = more(run("a", file("a")), nop("ENV A=1"), nop("ARG B"), nop("LABEL c=d"),
                         nop("EXPOSE 9000"), run("b", file("b")))
    result = check(spec, "IA302")
    assert result.status is Status.WARN
    assert result.findings[0].evidence.startswith("history[13..18]:")


def test_a_copy_between_runs_separates_them() -> None:
    spec = more(run("a", file("a")),
                         Step("/bin/sh -c #(nop) COPY file:x in /b", (file("b"),)),
                         run("c", file("c")))
    assert check(spec, "IA302").status is Status.PASS


def test_each_streak_is_one_finding() -> None:
    spec = more(run("a", file("a")), run("b", file("b")), nop("USER root"),
                         run("c", file("c")), run("d", file("d")), run("e", file("e")))
    result = check(spec, "IA302")
    assert [f.message for f in result.findings] == [
        "2 consecutive RUN steps could be one", "3 consecutive RUN steps could be one"]


def test_the_streak_limit_comes_from_the_policy() -> None:
    spec = more(run("a", file("a")), run("b", file("b")))
    assert check(spec, "IA302", Policy(limits=Limits(max_consecutive_runs=2))).status is (
        Status.PASS)


def test_the_base_image_runs_are_its_own_business() -> None:
    base = (run("base a", file("x")), run("base b", file("y")), *base_steps())
    assert check(ImageSpec(base=base), "IA302").status is Status.PASS


def test_untrusted_history_is_skipped() -> None:
    result = check(ImageSpec(history=[]), "IA302")
    assert result.status is Status.SKIP and "no history" in result.note
    assert check(ImageSpec(history=[]), "IA301").status is Status.PASS  # layers still count
