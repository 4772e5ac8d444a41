"""The warehouse helper: tables round-trip, appends match by name, writers wait their turn,
and a file named like a schema is refused."""

import subprocess
import sys
import threading
import time

import duckdb
import pandas as pd
import pytest

from cible import warehouse


def test_write_replace_append_and_read_back(tmp_path):
    path = tmp_path / "w.duckdb"
    first = pd.DataFrame({"customer_id": ["a", "b"], "score": [0.1, 0.9]})
    assert warehouse.write_table(first, "ml.scores", path) == 2
    warehouse.write_table(first[["score", "customer_id"]].iloc[:1], "ml.scores", path, "append")
    back = warehouse.read_table("ml.scores", path)
    assert back["customer_id"].tolist() == ["a", "b", "a"]
    warehouse.write_table(first.iloc[1:], "ml.scores", path)
    assert warehouse.read_table("ml.scores", path)["customer_id"].tolist() == ["b"]
    with pytest.raises(ValueError, match="mode must be"):
        warehouse.write_table(first, "ml.scores", path, "upsert")


def test_a_second_writer_waits_for_the_first(tmp_path):
    path = tmp_path / "w.duckdb"
    order: list[str] = []

    def slow_writer():
        with warehouse.connect(path) as con:
            order.append("first in")
            time.sleep(0.5)
            con.execute("create table t as select 1 as x")
            order.append("first out")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    time.sleep(0.1)
    with warehouse.connect(path, read_only=True) as con:
        order.append("second in")
        assert con.execute("select x from t").fetchall() == [(1,)]
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_a_file_held_by_another_process_is_waited_for(tmp_path):
    """A dbt process holding the file (no sidecar lock) is waited for, not failed on."""
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
            "c.execute('create table t as select 1 as x'); print('ready', flush=True); "
            "time.sleep(2); c.close()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    started = time.monotonic()
    with warehouse.connect(path, read_only=True, wait_seconds=30) as con:
        assert con.execute("select x from t").fetchall() == [(1,)]
    assert time.monotonic() - started >= 1.0
    holder.wait()


@pytest.mark.parametrize("name", ["raw", "Marts", "temp"])
def test_a_warehouse_named_like_a_schema_is_refused_before_anything_is_created(tmp_path, name):
    path = tmp_path / "warehouse" / f"{name}.duckdb"

    refused = pytest.raises(warehouse.WarehouseNameError, match=f"cannot be named '{name}'")
    with refused, warehouse.connect(path):
        pass

    assert not path.parent.exists()


def test_a_memory_limit_is_set_on_request(tmp_path):
    path = tmp_path / "w.duckdb"
    setting = "select current_setting('memory_limit')"
    with duckdb.connect() as reference:
        reference.execute("set memory_limit = '512MB'")
        (expected,) = reference.execute(setting).fetchall()[0]

    with warehouse.connect(path, memory_limit="512MB") as con:
        assert con.execute(setting).fetchall() == [(expected,)]
    with warehouse.connect(path) as con:
        assert con.execute(setting).fetchall() != [(expected,)]
