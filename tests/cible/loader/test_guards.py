"""A failed upstream export (an empty, header-only or much shorter file of a required source)
is refused, the warehouse left as it was, unless accepted; one load is one transaction
(#16, points 3 and 7)."""

from __future__ import annotations

import pytest
from loader_support import query, write

from cible.loader import LoadError, load_landing

ORDERS_HEADER = b"order_id,customer_number,amount\n"


def _orders(count: int) -> bytes:
    return ORDERS_HEADER + b"".join(f"O{n},C1,{n}\n".encode() for n in range(count))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no row in orders.csv (an empty or header-only file: a failed export?), 60 rows"),
        (ORDERS_HEADER, "no row in orders.csv (an empty or header-only file"),
        (
            _orders(12),
            "12 rows in orders.csv, down from 60 at the last load (-80%, more than "
            "guards.max_shrink_share 50% in config/sources.yml)",
        ),
    ],
    ids=["empty", "header_only", "shrinking"],
)
def test_a_failed_export_of_a_required_source_is_refused_until_accepted(
    landing, warehouse, contract, content, reason
) -> None:
    write(landing / "orders.csv", _orders(60))
    load_landing(landing, warehouse, contract=contract)
    write(landing / "customers.csv", b"customer_number,email\nC1,new@example.fr\n")
    write(landing / "orders.csv", content)

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract)

    message = str(error.value)
    assert f"  - orders: {reason}" in message
    assert "run again with --accept-shrink (or CIBLE_ACCEPT_SHRINK=1)" in message
    assert message.endswith("Nothing was loaded: the warehouse is as it was.")
    # Every source stays as it was, customers (loaded before orders) included.
    assert query(warehouse, "select count(*) from raw.orders") == [(60,)]
    assert query(warehouse, "select email from raw.customers") == [("a@example.fr",)]

    report = load_landing(landing, warehouse, contract=contract, accept_shrink=True)

    assert report.source("orders").warnings[-1].startswith("accepted with --accept-shrink: ")
    logged = query(
        warehouse, "select warnings from raw._load_files where source = 'orders' order by loaded_at"
    )
    assert f"accepted with --accept-shrink: {reason}" in logged[-1][0]


def test_a_refused_file_leaves_every_source_as_it_was(landing, warehouse, contract) -> None:
    load_landing(landing, warehouse, contract=contract)
    write(landing / "customers.csv", b"customer_number,email\nC1,new@example.fr\n")
    write(landing / "orders.csv", b"order_id,amount\nO1,1\n")  # a required column missing

    with pytest.raises(LoadError, match=r"orders\.csv: missing required column"):
        load_landing(landing, warehouse, contract=contract)

    assert query(warehouse, "select email from raw.customers") == [("a@example.fr",)]
    assert query(warehouse, "select count(distinct load_id) from raw._load_files") == [(1,)]
