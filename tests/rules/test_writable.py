"""IA1205 (world-writable files in own layers) and IA1206 (code writable by the runtime user),
judged from tar modes and owners, on in-memory images."""

from __future__ import annotations

from auditor.model.findings import Severity, Status
from tests.support.factory import (
    ImageSpec,
    base_steps,
    check,
    copy,
    directory,
    file,
    good,
    group,
    passwd,
    run,
    symlink,
)


def test_the_good_image_passes() -> None:
    assert check(good(), "IA1205").status is Status.PASS
    assert check(good(), "IA1206").status is Status.PASS


def test_a_chmod_777_tree_is_one_finding_rolled_up_under_its_folder() -> None:
    files = [file(f"myapp/lib/m{i}.py", mode=0o666) for i in range(30)]
    spec = good().adding(run("chmod -R 777 /myapp", directory("myapp", mode=0o777),
                             directory("myapp/lib", mode=0o777), *files))
    result = check(spec, "IA1205")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.MEDIUM
    assert finding.paths == ("myapp",)
    assert finding.message == "32 paths writable by any user, from an own layer"
    assert finding.evidence == ("layer 7 (history[12]: RUN chmod -R 777 /myapp): /myapp/ "
                                "(31 paths below them)")


def test_many_roots_are_bounded() -> None:
    files = [file(f"myapp/f{i:02}.txt", mode=0o646) for i in range(40)]
    (finding,) = check(good().adding(copy("multi:abc in ./", *files)), "IA1205").findings
    assert len(finding.paths) == 20 and finding.paths[0] == "myapp/f00.txt"
    assert finding.evidence.endswith("/myapp/f00.txt, /myapp/f01.txt, /myapp/f02.txt and 37 more")


def test_sticky_directories_symlinks_and_the_base_are_not_flagged() -> None:
    spec = good().adding(run("mkdir -m 1777 /myapp/spool && ln -s /tmp /myapp/t",
                             directory("myapp/spool", mode=0o1777), symlink("myapp/t", "/tmp")))
    assert check(spec, "IA1205").status is Status.PASS
    base = (*base_steps()[:-1], run("chmod 777 /srv", directory("srv", mode=0o777)),
            base_steps()[-1])
    assert check(ImageSpec(base=base), "IA1205").status is Status.PASS


def test_a_base_directory_an_own_layer_only_re_emits_stays_the_bases() -> None:
    base = (*base_steps()[:-1], run("mkdir -m 777 /srv", directory("srv", mode=0o777)),
            base_steps()[-1])
    spec = ImageSpec(base=base).adding(copy("file:a in /srv/", directory("srv", mode=0o777),
                                            file("srv/app.py")))
    assert check(spec, "IA1205").status is Status.PASS
    changed = ImageSpec(base=base).adding(copy("file:a in /srv/", directory("srv", mode=0o757),
                                               file("srv/app.py")))
    assert check(changed, "IA1205").findings[0].paths == ("srv",)


def test_a_file_later_made_safe_is_not_flagged() -> None:
    spec = good().adding(copy("multi:abc in ./", file("myapp/run.sh", mode=0o777)),
                         run("chmod 755 run.sh", file("myapp/run.sh", mode=0o755)))
    assert check(spec, "IA1205").status is Status.PASS


def owned(*members: object) -> ImageSpec:
    return good().adding(copy("--chown=myuser multi:abc in ./", *members))  # type: ignore[arg-type]


def test_code_the_runtime_user_owns_is_a_low_hint() -> None:
    spec = owned(file("myapp/app.py", uid=1000, gid=1000), file("myapp/util.py"))
    result = check(spec, "IA1206")
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity is Severity.LOW
    assert finding.paths == ("myapp/app.py",)
    assert "runtime user myuser (UID 1000)" in finding.message


def test_a_directory_the_user_may_write_lets_it_replace_root_owned_code() -> None:
    spec = owned(directory("myapp/pkg", uid=1000), file("myapp/pkg/core.py"))
    assert check(spec, "IA1206").findings[0].paths == ("myapp/pkg",)


def test_group_write_counts_through_primary_and_listed_groups() -> None:
    primary = owned(file("myapp/app.py", gid=1000, mode=0o664))
    assert check(primary, "IA1206").status is Status.WARN
    listed = good().adding(
        run("addgroup", group("myuser:x:1000:", "deploy:x:2000:web,myuser")),
        copy("multi:abc in ./", file("myapp/app.py", gid=2000, mode=0o664)),
    )
    assert check(listed, "IA1206").status is Status.WARN
    read_only = owned(file("myapp/app.py", gid=1000, mode=0o644))
    assert check(read_only, "IA1206").status is Status.PASS


def test_places_the_app_is_expected_to_write_are_left_out() -> None:
    spec = owned(
        directory("myapp/data", uid=1000), file("myapp/data/app.db", uid=1000),
        directory("myapp/logs", uid=1000), file("myapp/app.log", uid=1000),
        directory("var/cache/myapp", uid=1000), file("var/cache/myapp/x", uid=1000),
        directory("home/myuser/.cache", uid=1000), file("home/myuser/.cache/x", uid=1000),
        directory("srv/uploads", uid=1000),  # empty: a folder to write into
        directory("srv/empty", uid=1000),
    )
    assert check(spec, "IA1206").status is Status.PASS


def test_code_in_the_home_outside_dot_folders_is_judged() -> None:
    spec = owned(file("home/myuser/app/main.py", uid=1000))
    assert check(spec, "IA1206").findings[0].paths == ("home/myuser/app/main.py",)


def test_world_writable_code_is_ia1205s_not_counted_twice() -> None:
    spec = owned(file("myapp/app.py", uid=1000, mode=0o666))
    assert check(spec, "IA1206").status is Status.PASS
    assert check(spec, "IA1205").status is Status.WARN


def test_root_and_unknown_users_are_not_judged() -> None:
    spec = owned(file("myapp/app.py", uid=0))
    assert check(spec.configured(User=""), "IA1206").status is Status.SKIP
    assert check(spec.configured(User="root"), "IA1206").status is Status.SKIP
    assert check(spec.configured(User="ghost"), "IA1206").status is Status.SKIP


def test_a_numeric_user_without_an_account_is_judged_by_uid() -> None:
    spec = owned(file("myapp/app.py", uid=4242)).configured(User="4242")
    assert "UID 4242" in check(spec, "IA1206").findings[0].message



def test_the_home_is_the_one_etc_passwd_names() -> None:
    spec = good().adding(
        run("adduser web", passwd("web:x:1001:1001::/srv/web:/bin/sh")),
        copy("--chown=web multi:abc in /srv/web/", file("srv/web/.npm/x", uid=1001),
             file("srv/web/app.py", uid=1001)),
    ).configured(User="web")
    assert check(spec, "IA1206").findings[0].paths == ("srv/web/app.py",)


def test_a_virtualenv_the_user_owns_is_practice_8s_advice() -> None:
    spec = owned(directory("opt/venv", uid=1000), file("opt/venv/pyvenv.cfg", uid=1000),
                 file("opt/venv/lib/python3.9/site-packages/flask/app.py", uid=1000),
                 file("opt/venvx/app.py", uid=1000))
    assert check(spec, "IA1206").findings[0].paths == ("opt/venvx/app.py",)
