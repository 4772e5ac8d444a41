"""A load as a whole: the warehouse, reloads, one id and time per load."""

from __future__ import annotations

import threading
import time

import pytest
from loader_support import query, write

from cible.loader import LoadError, load_landing
from cible.warehouse import connect


@pytest.mark.parametrize("name", ["raw", "Marts", "memory"])
def test_a_warehouse_named_like_a_schema_is_refused_before_anything_is_written(
    landing, tmp_path, contract, name
) -> None:
    write(landing / "customers.csv", b"customer_number\nC1\n")
    write(landing / "orders.csv", b"order_id,customer_number\nO1,C1\n")
    warehouse = tmp_path / "warehouse" / f"{name}.duckdb"

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract)

    assert f"cannot be named '{name}'" in str(error.value)
    assert "choose another name" in str(error.value)
    assert not warehouse.exists()


def test_reloading_one_source_keeps_the_other_sources_rejects(landing, warehouse, contract):
    write(landing / "customers.csv", b"customer_number,email\nC1,a\nC2,b,extra\n")
    write(landing / "orders.csv", b"order_id,customer_number\nO1,C1\nO2\n")
    first = load_landing(landing, warehouse, contract=contract)
    assert {row[0] for row in query(warehouse, "select source from raw._load_rejects")} == {
        "customers",
        "orders",
    }

    write(landing / "orders.csv", b"order_id,customer_number\nO1,C1\nO2,C2\nO3,C3\n")
    second = load_landing(landing, warehouse, contract=contract, sources=["orders"])

    assert query(warehouse, "select source, source_line, load_id from raw._load_rejects") == [
        ("customers", 3, first.load_id)
    ]
    assert query(warehouse, "select count(*), min(_load_id) from raw.orders") == [
        (3, second.load_id)
    ]
    assert query(warehouse, "select count(*), min(_load_id) from raw.customers") == [
        (1, first.load_id)
    ]
    assert query(
        warehouse, "select source, count(*) from raw._load_files group by 1 order by 1"
    ) == [("customers", 1), ("orders", 2)]
    assert [source.name for source in second.sources] == ["orders"]


def test_one_load_shares_its_id_and_time(landing, warehouse, contract) -> None:
    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse,
        "select distinct _load_id, _loaded_at from ("
        "select _load_id, _loaded_at from raw.customers "
        "union all select _load_id, _loaded_at from raw.orders)",
    ) == [(report.load_id, report.loaded_at)]


def test_a_load_waits_for_a_step_holding_the_warehouse(landing, warehouse, contract) -> None:
    """The loader takes the warehouse's lock like every Python step (segmentation, scoring)."""
    order: list[str] = []
    holding = threading.Event()

    def step() -> None:
        with connect(warehouse) as con:
            holding.set()
            time.sleep(0.5)
            con.execute("create table main.step_output as select 1 as x")
            order.append("step done")

    thread = threading.Thread(target=step)
    thread.start()
    holding.wait(10)
    load_landing(landing, warehouse, contract=contract)
    order.append("load done")
    thread.join()

    assert order == ["step done", "load done"]
    assert query(warehouse, "select count(*) from raw.customers") == [(1,)]
