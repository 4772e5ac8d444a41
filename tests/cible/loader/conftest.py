"""Fixtures of the loader tests: the small contract, a landing folder and a warehouse path."""

from __future__ import annotations

from pathlib import Path

import pytest
from loader_support import DEMO_SOURCES, write

from cible.contract import SourceSpec, load_contract


@pytest.fixture
def contract(tmp_path: Path) -> dict[str, SourceSpec]:
    folder = tmp_path / "dbt" / "models" / "staging" / "demo"
    folder.mkdir(parents=True)
    (folder / "_demo__sources.yml").write_text(DEMO_SOURCES, encoding="utf-8")
    return load_contract(tmp_path / "dbt")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A landing folder with valid, tiny customers and orders files."""
    folder = tmp_path / "landing"
    folder.mkdir()
    write(folder / "customers.csv", b"customer_number,email\nC1,a@example.fr\n")
    write(folder / "orders.csv", b"order_id,customer_number,amount\nO1,C1,10.00\n")
    return folder


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "cible.duckdb"
