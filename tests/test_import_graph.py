"""The package's import graph, read from the source with `ast`: imports point one way (STYLE.md),
nouns import no verb, no source imports another, and no import hides in a function to dodge a
cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "auditor"

# Lowest first: a module imports only from lower layers, or from its own subpackage. A module
# belongs to the longest entry naming it or a package holding it ("auditor" is the package root
# alone).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("auditor.text", "auditor.units", "auditor.version"),
    ("auditor.errors",),
    ("auditor.model",),
    ("auditor.naming", "auditor.redact", "auditor.scoring", "auditor.shell"),
    ("auditor.baseline", "auditor.compare", "auditor.waivers"),
    ("auditor.dockerfile", "auditor.formats", "auditor.rules", "auditor.sources", "auditor.store"),
    ("auditor.assess", "auditor.config", "auditor.fix"),
    ("auditor.pipeline",),
    ("auditor", "auditor.sweep"),
    ("auditor.cli",),
)
# What the nouns may import: leaves that know nothing of images or reports.
LEAVES = frozenset({"auditor.errors", "auditor.text", "auditor.units", "auditor.version"})
# Imported inside a function for start-up speed: the transports (docker SDK, requests), the
# sweep and its database, the progress bar, a format picked by name.
HEAVY = ("auditor.sources", "auditor.sweep", "auditor.store", "auditor.cli.progress",
         "auditor.formats.")


@dataclass(frozen=True, slots=True)
class Arrow:
    source: str
    target: str
    line: int
    in_function: bool


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The auditor modules an import statement names (`from auditor import waivers` names the
    module auditor.waivers, `from auditor import audit` the package)."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == "auditor")
        return
    if node.level or not node.module or node.module.split(".")[0] != "auditor":
        return
    for alias in node.names:
        submodule = f"{node.module}.{alias.name}"
        yield submodule if submodule in modules() else node.module


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, in_function
        inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _walk(child, inner)


@cache
def arrows(module: str) -> tuple[Arrow, ...]:
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    return tuple(
        Arrow(module, target, node.lineno, in_function)
        for node, in_function in _walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for target in _imported(node)
        if target != module
    )


def layer(module: str) -> tuple[int, str]:
    """The module's layer and the entry that places it there."""
    placed = [(len(entry), rank, entry) for rank, entries in enumerate(LAYERS)
              for entry in entries
              if module == entry or (entry != "auditor" and module.startswith(entry + "."))]
    assert placed, f"{module} has no layer: add it to LAYERS in {Path(__file__).name}"
    _, rank, entry = max(placed)
    return rank, entry


def test_every_module_is_found() -> None:
    assert {"auditor", "auditor.model.image", "auditor.pipeline", "auditor.rules.user",
            "auditor.sources.registry.client", "auditor.cli"} <= set(modules())


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_one_way(module: str) -> None:
    rank, entry = layer(module)
    backwards = [
        f"line {a.line}: {a.target}" for a in arrows(module)
        if layer(a.target)[1] != entry and layer(a.target)[0] >= rank
    ]
    assert not backwards, f"{module} imports from its own layer or above: {backwards}"


def _model() -> frozenset[str]:
    return frozenset(m for m in modules() if m == "auditor.model" or m.startswith("auditor.model."))


@pytest.mark.parametrize(("noun", "allowed"), [
    ("auditor.model", LEAVES),
    ("auditor.store", LEAVES | _model()),
])
def test_nouns_import_no_verb(noun: str, allowed: frozenset[str]) -> None:
    """Every module of the noun (a module, or a package and its modules) imports only what is
    allowed, besides the noun's own modules."""
    own = {m for m in modules() if m == noun or m.startswith(noun + ".")}
    assert {a.target for m in own for a in arrows(m)} - own <= allowed


def _defines_a_source(module: str) -> bool:
    """Whether the module holds a concrete image source (a class named *Source in the sources
    package that is not a Protocol)."""
    if not module.startswith("auditor.sources."):
        return False
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ClassDef) and node.name.endswith("Source")
        and not any(ast.unparse(base).endswith("Protocol") for base in node.bases)
        for node in tree.body
    )


def test_sources_are_found() -> None:
    assert len([m for m in modules() if _defines_a_source(m)]) >= 3


def test_no_source_imports_another() -> None:
    sources = {m for m in modules() if _defines_a_source(m)}
    crossing = [f"{a.source} -> {a.target}" for m in sorted(sources) for a in arrows(m)
                if a.target in sources]
    assert not crossing


@pytest.mark.parametrize("module", sorted(m for m in modules() if not m.startswith("auditor.cli")))
def test_imports_inside_functions_are_only_for_start_up_speed(module: str) -> None:
    hidden = [f"line {a.line}: {a.target}" for a in arrows(module)
              if a.in_function and not a.target.startswith(HEAVY)]
    assert not hidden, f"{module} imports inside a function what is not heavy: {hidden}"
