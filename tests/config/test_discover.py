"""Finding the policy file: from the working directory upward to the repository root,
.imgaudit.toml before a pyproject.toml with a [tool.imgaudit] table, --config and --no-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import DEFAULT, find_policy_file
from auditor.errors import ConfigError, UsageError
from auditor.model.findings import Severity
from auditor.model.policy import Policy
from tests.support.policy_files import load, write


def test_a_policy_file_is_found_from_a_nested_folder(repo: Path) -> None:
    policy_file = write(repo / ".imgaudit.toml", "fail-under = 70\n")
    nested = repo / "services" / "api"
    nested.mkdir(parents=True)
    found, searched = find_policy_file(nested)
    assert found is not None and found.path == policy_file and not found.in_pyproject
    assert searched == (nested, nested.parent, repo)
    effective = load(nested)
    assert effective.policy.fail_under == 70
    assert effective.sources["fail-under"] == str(policy_file)
    assert effective.sources["fail-on"] == DEFAULT


def test_a_nearer_pyproject_with_the_table_wins_and_one_without_is_skipped(repo: Path) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    write(repo / "a" / "pyproject.toml", '[project]\nname = "a"\n')
    deeper = repo / "a" / "b"
    write(deeper / "pyproject.toml",
          '[project]\nname = "b"\n\n[tool.imgaudit]\nfail-under = 55\n'
          '[tool.imgaudit.severity]\nIA703 = "low"\n')
    start = deeper / "src"
    start.mkdir()
    effective = load(start)
    assert effective.file is not None and effective.file.in_pyproject
    assert effective.policy.fail_under == 55
    assert effective.policy.severities == {"IA703": Severity.LOW}
    assert effective.sources["fail-under"] == f"{deeper / 'pyproject.toml'} [tool.imgaudit]"
    # Without the table, that pyproject.toml is passed over and the walk goes on upward.
    write(deeper / "pyproject.toml", '[project]\nname = "b"\n')
    assert load(start).policy.fail_under == 70
    assert load(start).file.path == repo / ".imgaudit.toml"  # type: ignore[union-attr]


def test_imgaudit_toml_comes_before_pyproject_in_one_folder(repo: Path) -> None:
    write(repo / "pyproject.toml", "[tool.imgaudit]\nfail-under = 55\n")
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    assert load(repo).policy.fail_under == 70


def test_the_search_stops_at_the_repository_root(repo: Path) -> None:
    write(repo.parent / ".imgaudit.toml", "fail-under = 99\n")  # above the repository
    nested = repo / "x"
    nested.mkdir()
    effective = load(nested)
    assert effective.file is None and effective.policy == Policy()
    assert effective.searched == (nested, repo)
    assert set(effective.sources.values()) == {DEFAULT}
    # Outside any repository the walk goes on to the filesystem root, so that file is found.
    outside = repo.parent / "scratch"
    outside.mkdir()
    assert load(outside).policy.fail_under == 99


def test_a_broken_pyproject_that_never_mentions_imgaudit_is_passed_over(repo: Path) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    write(repo / "sub" / "pyproject.toml", "[project\nname = 'x'\n")
    assert load(repo / "sub").policy.fail_under == 70
    write(repo / "sub" / "pyproject.toml", "[tool.imgaudit]\nfail-under = = 3\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: not valid TOML: .*line 2"):
        load(repo / "sub")


def test_config_names_the_file_and_no_config_reads_none(repo: Path, tmp_path: Path) -> None:
    write(repo / ".imgaudit.toml", "fail-under = 70\n")
    elsewhere = write(tmp_path / "policies" / "strict.toml", "fail-under = 90\n")
    named = load(repo, config=elsewhere)
    assert named.policy.fail_under == 90 and named.sources["fail-under"] == str(elsewhere)
    assert named.searched == ()
    relative = load(tmp_path, config=Path("policies/strict.toml"))
    assert relative.policy.fail_under == 90
    pyproject = write(tmp_path / "other" / "pyproject.toml", "[tool.imgaudit]\nfail-on = 'low'\n")
    assert load(repo, config=pyproject).policy.fail_on is Severity.LOW
    none = load(repo, no_config=True)
    assert none.file is None and none.policy == Policy() and none.searched == ()


@pytest.mark.parametrize(("setup", "words"), [
    ({"config": "missing.toml"}, ("missing.toml", "does not exist")),
    ({"config": "other/pyproject.toml"}, ("pyproject.toml", "no [tool.imgaudit] table")),
    ({"config": "p.toml", "no_config": True}, ("--config and --no-config",)),
])
def test_config_option_errors(repo: Path, setup: dict[str, object], words: tuple[str, ...]
                              ) -> None:
    write(repo / "other" / "pyproject.toml", "[project]\nname = 'x'\n")
    write(repo / "p.toml", "")
    config = Path(str(setup["config"]))
    with pytest.raises(ConfigError) as caught:
        load(repo, config=config, no_config=bool(setup.get("no_config")))
    assert isinstance(caught.value, UsageError) and caught.value.hint
    for word in words:
        assert word in caught.value.message
