"""Line edits keep the user's indentation, comments, keyword case and escape character, and
touch only the instruction they edit; applied edits keep line endings; diffs are unified."""

from __future__ import annotations

import re

import pytest

from auditor.fix import Edit, Target, apply_edits, unified_diff
from auditor.fix.draft import Draft
from auditor.fix.lines import (
    add_option,
    append_commands,
    exec_form,
    merge_runs,
    pattern_words,
    shell_text,
)

PIP = re.compile(pattern_words("pip", "install", escape="\\"))
NO_CACHE = re.compile(r"--no-cache-dir")


def test_shell_text_joins_continuations_and_drops_comment_lines() -> None:
    lines = ("RUN --mount=type=cache,target=/x apt-get update && \\",
             "# a comment inside",
             "    apt-get install -y curl")
    assert shell_text(lines, "\\") == "apt-get update &&     apt-get install -y curl"


def test_shell_text_with_another_escape_character() -> None:
    assert shell_text(("RUN echo a `", "  && echo b"), "`") == "echo a   && echo b"


def test_a_short_command_goes_on_the_same_line() -> None:
    assert append_commands(("RUN make",), ["rm -rf /tmp/x"], "\\") == (
        "RUN make && rm -rf /tmp/x",)


def test_commands_go_on_continuation_lines_with_the_instructions_indent() -> None:
    lines = ("RUN apt-get update && \\", "  apt-get install -y curl")
    assert append_commands(lines, ["apt-get clean", "rm -rf /var/lib/apt/lists/*"], "\\") == (
        "RUN apt-get update && \\",
        "  apt-get install -y curl && \\",
        "  apt-get clean && \\",
        "  rm -rf /var/lib/apt/lists/*",
    )


def test_a_long_line_gets_a_continuation_line_with_the_escape_character() -> None:
    line = "RUN " + "x" * 75
    assert append_commands((line,), ["rm -rf /y"], "`") == (f"{line} && `", "    rm -rf /y")


def test_merge_keeps_comments_and_drops_blank_lines() -> None:
    merged = merge_runs(("RUN mkdir /a",), ("", "# then b", ""),
                        ("run touch /a/b && \\", "      chmod 600 /a/b"), "\\")
    assert merged == ("RUN mkdir /a && \\", "# then b", "    touch /a/b && \\",
                      "      chmod 600 /a/b")


def test_merge_wraps_a_run_with_its_own_operators() -> None:
    assert merge_runs(("RUN a",), (), ("RUN b || c",), "\\", wrap=True) == (
        "RUN a && \\", "    ( b || c )")
    assert merge_runs(("RUN a",), (), ("RUN b \\", "  || c"), "\\", wrap=True) == (
        "RUN a && \\", "    ( b \\", "  || c )")


def test_an_option_after_the_command_across_a_continuation() -> None:
    lines = ("RUN pip \\", "      install -r requirements.txt && pip install --no-cache-dir x")
    new, changed = add_option(lines, PIP, "--no-cache-dir", NO_CACHE)
    assert changed == 1
    assert new == ("RUN pip \\", "      install --no-cache-dir -r requirements.txt && "
                   "pip install --no-cache-dir x")


def test_an_option_is_not_added_on_a_comment_line() -> None:
    lines = ("RUN echo \\", "# pip install x", "  && true")
    assert add_option(lines, PIP, "--no-cache-dir", NO_CACHE) == (lines, 0)


@pytest.mark.parametrize(("lines", "words", "expected"), [
    (("CMD sh /app/serve.sh",), ("sh", "/app/serve.sh"), 'CMD ["sh", "/app/serve.sh"]'),
    (("  cmd python \\", "    main.py"), ("python", "main.py"), '  cmd ["python", "main.py"]'),
    (("ENTRYPOINT app 'é x'",), ("app", "é x"), 'ENTRYPOINT ["app", "é x"]'),
])
def test_exec_form_keeps_keyword_case_and_indentation(
        lines: tuple[str, ...], words: tuple[str, ...], expected: str) -> None:
    assert exec_form(lines, words) == (expected,)


def test_edits_keep_crlf_and_a_missing_final_newline() -> None:
    text = "FROM a\r\nRUN b\r\nCMD c"
    edits = [Edit(Target.DOCKERFILE, 2, 2, ("RUN b && c",), ("IA302",), ("merged",)),
             Edit(Target.DOCKERFILE, 3, 2, ("USER app",), ("IA201",), ("user",))]
    assert apply_edits(text, edits) == "FROM a\r\nRUN b && c\r\nUSER app\r\nCMD c"


def test_an_insertion_after_the_last_line_and_into_an_empty_file() -> None:
    assert apply_edits("a\n", [Edit(Target.DOCKERIGNORE, 2, 1, ("b",), (), ())]) == "a\nb\n"
    assert apply_edits("", [Edit(Target.DOCKERIGNORE, 1, 0, ("b",), (), ())]) == "b\n"


def test_overlapping_edits_are_refused() -> None:
    edits = [Edit(Target.DOCKERFILE, 1, 2, ("x",), (), ()),
             Edit(Target.DOCKERFILE, 2, 2, ("y",), (), ())]
    with pytest.raises(ValueError, match="overlaps"):
        apply_edits("a\nb\nc\n", edits)


def test_unified_diff_paths() -> None:
    assert unified_diff("a\n", "a\n", "Dockerfile") == ""
    diff = unified_diff("a\nb\n", "a\nc\n", "app/Dockerfile")
    assert diff.splitlines()[:2] == ["--- a/app/Dockerfile", "+++ b/app/Dockerfile"]
    assert "-b\n+c\n" in diff
    new = unified_diff(None, ".git\n", ".dockerignore")
    assert new.splitlines()[:3] == ["--- /dev/null", "+++ b/.dockerignore", "@@ -0,0 +1 @@"]


def test_a_draft_absorbs_the_edits_inside_a_replaced_range() -> None:
    draft = Draft(("FROM a", "RUN b", "RUN c", "CMD d"))
    draft = draft.replace(2, 2, ("RUN b --x",), "IA901", "flag")
    draft = draft.insert(4, ("USER app",), "IA201", "user")
    draft = draft.replace(2, 3, ("RUN b --x && \\", "    c"), "IA302", "merged")
    edits = draft.edits()
    assert [(e.start, e.end, e.lines, e.rules) for e in edits] == [
        (2, 3, ("RUN b --x && \\", "    c"), ("IA901", "IA302")),
        (4, 3, ("USER app",), ("IA201",)),
    ]
    with pytest.raises(ValueError, match="cut"):
        draft.replace(3, 3, ("x",), "IA1", "cuts the merged block")
    with pytest.raises(ValueError, match="insertion"):
        draft.replace(2, 4, ("x",), "IA1", "the insertion before line 4 is inside")
    assert draft.replace(4, 4, ("CMD e",), "IA1", "after the insertion").edits()[-1].start == 4
