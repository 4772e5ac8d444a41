"""Matching a file's columns to the contract's."""

from __future__ import annotations

import pytest
from loader_support import query, write

from cible.loader import LoadError, load_landing


def test_missing_required_column_fails_and_keeps_the_previous_table(
    landing, warehouse, contract
) -> None:
    write(landing / "customers.csv", b"customer_number,email\nC1,a@example.fr\nC2,b,c\n")
    first = load_landing(landing, warehouse, contract=contract)
    write(landing / "customers.csv", b"Email,city\na@example.fr,Paris\n")

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract, sources=["customers"])

    message = str(error.value)
    assert message.startswith("customers.csv: missing required column(s) customer_number.")
    assert "customer_number, email, city, created_at" in message
    assert "found: Email, city" in message
    assert "map them under sources.customers.columns in config/sources.yml" in message
    assert query(warehouse, "select customer_number from raw.customers") == [("C1",)]
    assert query(warehouse, "select source_line, load_id from raw._load_rejects") == [
        (3, first.load_id)
    ]
    assert query(warehouse, "select distinct load_id from raw._load_files") == [(first.load_id,)]


def test_a_column_matching_twice_is_refused(landing, warehouse, contract) -> None:
    write(landing / "customers.csv", b"customer_number,Email,email \nC1,a,b\n")

    with pytest.raises(LoadError, match="several columns match one contract column"):
        load_landing(landing, warehouse, contract=contract)
