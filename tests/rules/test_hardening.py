"""Practice 12, hardened files: setuid/setgid files (IA1201) and sudo (IA1204), on in-memory
images: the base's files shown and not scored, the image's own scored."""

from __future__ import annotations

from auditor.model.findings import Severity, Status
from auditor.model.image import Origin
from tests.support.factory import (
    ImageSpec,
    Step,
    base_steps,
    buildkit,
    check,
    copy,
    directory,
    file,
    good,
    report,
    run,
)


def base_with(*extra: Step) -> ImageSpec:
    """The good image on a base that also adds `extra` (and still ends with CMD)."""
    steps = base_steps()
    return ImageSpec(base=(*steps[:-1], *extra, steps[-1]))


def test_no_setuid_file_passes() -> None:
    result = check(good(), "IA1201")
    assert result.status is Status.PASS
    assert result.note == "the image's own layers add no setuid or setgid file"


def test_setuid_files_of_the_base_are_shown_and_not_scored() -> None:
    spec = base_with(run("apk add shadow", file("bin/su", b"\x7fELF", mode=0o4755),
                         file("usr/bin/passwd", b"\x7fELF", mode=0o4755),
                         file("usr/bin/wall", b"\x7fELF", mode=0o2755)))
    item = report(spec)
    result = next(r for r in item.results if r.rule.id == "IA1201")
    assert result.status is Status.PASS and result.findings == ()
    (base,) = result.base_findings
    assert base.origin is Origin.BASE and base.severity is Severity.INFO
    assert base.paths == ("bin/su", "usr/bin/passwd", "usr/bin/wall")
    assert "/bin/su (setuid, 4755)" in base.evidence and "(setgid, 2755)" in base.evidence
    assert base.evidence.startswith("layer 3 (history[5]: RUN apk add shadow)")
    assert "not scored" in result.note
    assert not [s for s in item.findings if s.rule.id == "IA1201" and s.points]


def test_a_setuid_file_of_the_own_layers_is_scored_with_its_layer() -> None:
    spec = good().adding(run("chmod u+s /usr/local/bin/tool",
                             file("usr/local/bin/tool", b"\x7fELF", mode=0o4750, uid=0)))
    result = check(spec, "IA1201")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM and finding.origin is Origin.OWN
    assert finding.path == "usr/local/bin/tool" and finding.layer == 7
    assert finding.message == "setuid file: /usr/local/bin/tool"
    assert "mode 4750, owner UID 0" in finding.evidence
    assert "RUN chmod u+s /usr/local/bin/tool" in finding.evidence


def test_a_setuid_bit_removed_by_a_later_layer_or_on_a_directory_is_not_flagged() -> None:
    spec = good().adding(
        run("install tool", file("usr/local/bin/tool", b"x", mode=0o6755)),
        run("chmod ug-s tool", file("usr/local/bin/tool", b"x", mode=0o755)),
        copy("dir:abc in /srv/shared", file("srv/shared/readme", b"x")),
        run("chmod g+s /srv/shared", directory("srv/shared", mode=0o2775)),
    )
    assert check(spec, "IA1201").status is Status.PASS


def test_setuid_needs_layer_contents() -> None:
    assert check(good(), "IA1201", content=False).status is Status.SKIP


def test_sudo_absent_passes_and_says_what_was_read() -> None:
    assert check(good(), "IA1204").note == (
        "no own build step runs sudo; no sudo binary or sudoers file")
    assert check(good(), "IA1204", content=False).note.endswith("only the history was")


def test_sudo_run_in_an_own_step_either_builder() -> None:
    for step in (run("apk add curl && sudo -u app make install", file("x")),
                 buildkit("RUN /bin/sh -c sudo apt-get install -y curl # buildkit", file("y"))):
        result = check(good().adding(step), "IA1204", content=False)
        assert result.status is Status.WARN
        (finding,) = result.findings
        assert finding.message.startswith("a build step runs sudo: RUN ")
        assert finding.step is not None and finding.severity is Severity.MEDIUM


def test_installing_the_sudo_package_is_seen_in_the_files_not_the_words() -> None:
    spec = good().adding(run("apk add sudo", file("usr/bin/sudo", b"\x7fELF", mode=0o4755),
                             file("etc/sudoers", "root ALL=(ALL) ALL\n", mode=0o440)))
    result = check(spec, "IA1204")
    assert sorted(f.message for f in result.findings) == [
        "sudo is shipped: /etc/sudoers", "sudo is shipped: /usr/bin/sudo"]
    assert {f.layer for f in result.findings} == {7}
    assert check(spec, "IA1204", content=False).status is Status.PASS  # the words are no call


def test_sudo_of_the_base_is_shown_not_scored() -> None:
    spec = base_with(run("apk add sudo", file("usr/bin/sudo", b"\x7fELF", mode=0o4755)))
    result = check(spec, "IA1204")
    assert result.status is Status.PASS
    assert [f.origin for f in result.base_findings] == [Origin.BASE]
