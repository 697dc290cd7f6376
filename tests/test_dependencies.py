"""Every third-party module the package imports is declared in pyproject.toml's
[project.dependencies]: an install from the wheel alone must not lean on what happens to be
installed beside it."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

from tests.support.paths import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE = ROOT / "auditor"


def imported_roots() -> dict[str, str]:
    """Top-level module -> a file importing it, for every absolute import in the package."""
    roots: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                roots.setdefault(name.partition(".")[0], str(path.relative_to(ROOT)))
    return roots


def declared() -> set[str]:
    document = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = (re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]
             for spec in document["project"]["dependencies"])
    return {name.lower().replace("_", "-") for name in names}


def test_every_third_party_import_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    third_party = {
        module: where for module, where in imported_roots().items()
        if module not in sys.stdlib_module_names and module != "auditor"
    }
    assert third_party, "the package imports no third-party module: the scan is broken"
    wanted = declared()
    undeclared = {
        module: where for module, where in third_party.items()
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        & wanted
    }
    assert not undeclared, f"imported but not in [project.dependencies]: {undeclared}"
