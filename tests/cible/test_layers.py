"""The base package sits below the others: `cible/` never imports the orchestration layer or
Dagster (the command line runs Dagster as a program), and its base modules (settings,
warehouse, contract, loader, demo, CLI) not the ML package either. Services built on the
fitted models (the live path) or on their output (the audience exports, which read the
segmentation config's segment ids and its rule conditions, and the published models applied
inside `dbt build`) are rooms of `cible/` that may use `cible.ml`."""

import ast
from pathlib import Path

import pytest

BASE = Path(__file__).resolve().parents[2] / "cible"
ABOVE = ("cible.orchestration", "dagster", "dagster_dbt")
# Rooms of the package that serve the fitted models or their output through `cible.ml`.
MODEL_SERVICES = ("live", "activation", "applied")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(BASE.rglob("*.py")), ids=lambda p: p.name)
def test_the_base_package_imports_nothing_above_it(path):
    above = ABOVE
    if path.relative_to(BASE).parts[0] not in MODEL_SERVICES:
        above = (*ABOVE, "cible.ml")
    wrong = sorted(
        name
        for name in _imports(path)
        if any(name == top or name.startswith(f"{top}.") for top in above)
    )
    assert not wrong, f"{path.relative_to(BASE.parent)} imports {wrong}"


def test_the_rule_sees_a_nested_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from cible import orchestration\n")
    assert "cible.orchestration" in _imports(module)
