"""The shell reader: which texts are plain words (exec form says them the same way), which can be
followed by `&& more`, and which leave state a merged command would inherit."""

from __future__ import annotations

import pytest

from auditor.shell import read_script, word_list


@pytest.mark.parametrize(("text", "words"), [
    ("sh /app/serve.sh", ("sh", "/app/serve.sh")),
    ("python3 main.py --port 8000", ("python3", "main.py", "--port", "8000")),
    ("python -c 'print(1)'", ("python", "-c", "print(1)")),
    ('echo "a b"', ("echo", "a b")),
    ("  gunicorn app:app  ", ("gunicorn", "app:app")),
])
def test_plain_words_become_a_word_list(text: str, words: tuple[str, ...]) -> None:
    assert word_list(text) == words


@pytest.mark.parametrize("text", [
    "python app.py --port $PORT",  # expansion
    'echo "$HOME"',
    "ls *.py",  # glob
    "~/bin/app",  # tilde
    "app > /var/log/app.log",  # redirection
    "app 2>&1",
    "migrate && serve",  # operator
    "serve; echo done",
    "serve &",
    "serve # comment",
    "PORT=80 serve",  # assignment
    "echo \\$x",  # an escape
    "echo 'unclosed",
    "( serve )",
    "",
])
def test_shell_syntax_is_no_word_list(text: str) -> None:
    assert word_list(text) is None


def test_commands_and_what_runs() -> None:
    script = read_script("apt-get update && apt-get install -y curl | tee log; "
                         "for f in a b; do pip install $f; done")
    assert [command.name for command in script.commands] == [
        "apt-get", "apt-get", "tee", "for", "pip", "done"]
    assert [command.separator for command in script.commands] == ["&&", "|", ";", ";", ";", ""]
    assert script.runs("pip") and script.runs("tee") and not script.runs("npm")
    assert read_script("/usr/local/bin/pip install x").runs("pip")


def test_a_redirections_file_descriptor_and_target_are_no_words() -> None:
    command = read_script("dd if=/dev/zero of=x bs=1k 2>/dev/null").commands[0]
    assert [word.text for word in command.words] == ["dd", "if=/dev/zero", "of=x", "bs=1k"]
    assert command.redirected


@pytest.mark.parametrize(("text", "appendable", "contained"), [
    ("mkdir -p /app && touch /app/x", True, True),
    ("cd /src && make", True, False),
    ("export PATH=/x:$PATH", True, False),
    ("set -e; make", True, False),
    ("FOO=1", True, False),  # a bare assignment stays set
    ("FOO=1 make", True, True),  # only for make
    ("make || exit 1", False, False),
    ("exec app", False, False),
    ("make &&", False, False),
    ("make;", False, False),
    ("make &", False, False),
    ("make # and test", False, False),
    ("{ cd /x; make; }", True, False),
    ("echo $(cd /x && pwd)", True, True),  # inside a command substitution
    ("cat <<EOF", False, False),
    ("a && ( b || c )", True, False),  # a merged RUN can take more
    ("( a || b ) &&", False, False),
])
def test_what_can_follow(text: str, appendable: bool, contained: bool) -> None:
    script = read_script(text)
    assert script.appendable is appendable
    assert script.self_contained is contained


def test_continuation_lines_inside_a_command() -> None:
    script = read_script("apt-get install \\\n    -y curl")
    assert [word.text for word in script.commands[0].words] == [
        "apt-get", "install", "-y", "curl"]
