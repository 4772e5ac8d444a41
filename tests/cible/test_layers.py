"""The base package sits below the others: `cible/` never imports the orchestration layer,
the ML package or Dagster (the command line runs Dagster as a program)."""

import ast
from pathlib import Path

import pytest

BASE = Path(__file__).resolve().parents[2] / "cible"
ABOVE = ("cible.orchestration", "cible.ml", "dagster", "dagster_dbt")


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
    wrong = sorted(
        name
        for name in _imports(path)
        if any(name == top or name.startswith(f"{top}.") for top in ABOVE)
    )
    assert not wrong, f"{path.relative_to(BASE.parent)} imports {wrong}"


def test_the_rule_sees_a_nested_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from cible import orchestration\n")
    assert "cible.orchestration" in _imports(module)
