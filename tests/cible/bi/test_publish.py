"""The BI copy: which marts, what it holds, and the atomic swap a reader never notices."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cible.bi.publish import (
    RELATIONS_TABLE,
    PublishedModel,
    PublishError,
    publish,
    published_models,
    read_published_run,
)

MANIFEST = Path(__file__).resolve().parents[3] / "dbt_project" / "target" / "manifest.json"


def _warehouse(path: Path, scoring_run_id: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.fct_customer_scores as select 'C' || i as "
            f"customer_id, '{scoring_run_id}' as scoring_run_id from range(5) t(i)"
        )
        con.execute(
            "create or replace table marts.dim_segment_runs as "
            "select 'seg-1' as run_id, true as is_current"
        )


MODELS = [
    PublishedModel("fct_customer_scores", "marts", "fct_customer_scores"),
    PublishedModel("dim_segment_runs", "marts", "dim_segment_runs"),
]


def test_the_published_marts_are_the_models_tagged_in_dbt():
    models = {model.name: model for model in published_models(json.loads(MANIFEST.read_text()))}
    # What the dashboard reads is tagged; the customer master and raw payloads are not.
    for name in ("dim_segments", "fct_segment_migrations", "rpt_segment_priority",
                 "rpt_segment_quality", "fct_customer_scores", "rpt_score_drift"):  # fmt: skip
        assert name in models, name
    assert "dim_customers" not in models
    assert "fct_quarantined_rows" not in models
    assert models["rpt_data_quality"].relation == "quality.rpt_data_quality"


def test_publish_copies_the_marts_with_the_run_they_come_from(tmp_path):
    warehouse, target = tmp_path / "cible.duckdb", tmp_path / "published" / "cible_bi.duckdb"
    _warehouse(warehouse, "score-1")
    with duckdb.connect(str(warehouse)) as con:
        outcome = publish(con, MODELS, target, "dagster-run-1")
    assert outcome.rows == {"marts.fct_customer_scores": 5, "marts.dim_segment_runs": 1}
    run = read_published_run(target)
    assert (run["run_id"], run["scoring_run_id"], run["segment_run_id"]) == (
        "dagster-run-1",
        "score-1",
        "seg-1",
    )
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_customer_scores").fetchall() == [(5,)]
        assert con.execute(f"select count(*) from {RELATIONS_TABLE}").fetchall() == [(2,)]
    assert [path.name for path in target.parent.iterdir()] == ["cible_bi.duckdb"]


def test_a_missing_mart_leaves_the_published_copy_as_it_was(tmp_path):
    warehouse, target = tmp_path / "cible.duckdb", tmp_path / "cible_bi.duckdb"
    _warehouse(warehouse, "score-1")
    with duckdb.connect(str(warehouse)) as con:
        publish(con, MODELS, target, "run-1")
        _missing = PublishedModel("rpt_nowhere", "marts", "rpt_nowhere")
        with pytest.raises(PublishError, match=r"marts\.rpt_nowhere.*published: true"):
            publish(con, [*MODELS, _missing], target, "run-2")
    assert read_published_run(target)["run_id"] == "run-1"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cible.duckdb", "cible_bi.duckdb"]


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
query = "select scoring_run_id from _published_run"
print(con.execute(query).fetchall()[0][0], flush=True)
sys.stdin.readline()  # the swap happens meanwhile
print(con.execute(query).fetchall()[0][0], flush=True)
"""


def test_an_open_reader_keeps_its_run_and_a_new_connection_sees_the_new_one(tmp_path):
    warehouse, target = tmp_path / "cible.duckdb", tmp_path / "cible_bi.duckdb"
    _warehouse(warehouse, "score-1")
    with duckdb.connect(str(warehouse)) as con:
        publish(con, MODELS, target, "run-1")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "score-1"
    _warehouse(warehouse, "score-2")
    with duckdb.connect(str(warehouse)) as con:
        publish(con, MODELS, target, "run-2")
    reader.stdin.write("\n")
    reader.stdin.flush()
    # The open connection reads the file it opened, whole; it is not blocked nor torn.
    assert reader.stdout.readline().strip() == "score-1"
    assert reader.wait(timeout=30) == 0
    assert read_published_run(target)["scoring_run_id"] == "score-2"
