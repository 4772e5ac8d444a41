"""Publishing runs to a temporary DuckDB warehouse and reading them back."""

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import segmentation_data
import yaml
from cible.ml.segmentation import store
from cible.ml.segmentation.config import DEFAULT_CONFIG_PATH
from cible.ml.segmentation.runner import input_fingerprint
from cible.orchestration.dbt import cible_dbt_project
from cible.orchestration.feature_vocabulary import feature_vocabulary

from cible import warehouse
from cible.contract import ContractError
from cible.privacy.consent import ConsentStateError
from cible.yaml_config import ConfigError


@pytest.fixture(scope="module")
def synthetic():
    """Shared synthetic customers and their planted groups (read-only)."""
    return segmentation_data.synthetic()


@pytest.fixture(scope="module")
def config():
    """The shipped configuration, validated against the synthetic columns."""
    return segmentation_data.config()


@pytest.fixture
def warehouse_path(tmp_path, synthetic, monkeypatch):
    """A warehouse holding only a features table and the consent state (synthetic)."""
    frame, _ = synthetic
    path = tmp_path / "warehouse.duckdb"
    features = frame.drop(columns="is_profiling_allowed")
    warehouse.write_table(features, "marts.fct_customer_features", path)
    warehouse.write_table(
        segmentation_data.consent_state(frame), "marts.fct_customer_consents", path
    )
    monkeypatch.setenv("CIBLE_MODELS_DIR", str(tmp_path / "models"))
    return path


def _previous_run(warehouse_path):
    with warehouse.connect(warehouse_path, read_only=True) as con:
        return store.read_previous_run(con)


def _latest_model_path(warehouse_path):
    with warehouse.connect(warehouse_path, read_only=True) as con:
        return store.latest_model_path(con)


def test_runs_are_appended_and_the_latest_published_one_is_previous(warehouse_path):
    assert _previous_run(warehouse_path) is None
    first = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    second = store.run_and_publish(warehouse_path=warehouse_path, run_id="r2")
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        runs = con.execute(
            "select run_id, is_refit, model_version, model_path from ml.segment_runs "
            "order by run_id"
        ).fetchall()
        assignments = con.execute(
            "select run_id, count(*) from ml.segment_assignments group by run_id order by run_id"
        ).fetchall()
    assert [run[:3] for run in runs] == [
        ("r1", True, "segmentation-r1"),
        ("r2", False, "segmentation-r1"),
    ]
    assert Path(runs[0][3]).exists() and runs[1][3] is None
    customers = len(first.tables["segment_assignments"])
    assert assignments == [("r1", customers), ("r2", customers)]
    previous = _previous_run(warehouse_path)
    assert previous.run_id == "r2"
    assert previous.highest_cluster_number == first.summary["k"]
    assert second.tables["segment_quality"]["temporal_keep_share"].iloc[0] == 1.0


def _runs(warehouse_path):
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        runs = con.execute(
            "select run_id, is_refit, model_version, previous_run_id from ml.segment_runs "
            "order by started_at, run_id"
        ).fetchall()
        per_table = {
            table: sorted(
                row[0] for row in con.execute(f"select distinct run_id from ml.{table}").fetchall()
            )
            for table in store.declared_tables()
        }
    return runs, per_table


def test_a_run_that_repeats_the_latest_one_replaces_it(warehouse_path):
    """A rerun on the same data with the same decision (a daily run killed after its
    segmentation step, `dbt build` twice on one day) leaves the history of one run; new data,
    or another decision, appends."""
    first = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    applied = store.run_and_publish(warehouse_path=warehouse_path, refit=False, run_id="r2")
    again = store.run_and_publish(warehouse_path=warehouse_path, refit=False, run_id="r3")
    assert applied.summary["replaced_run_id"] is None  # an apply after a refit is a new run
    assert again.summary["replaced_run_id"] == "r2"
    runs, per_table = _runs(warehouse_path)
    assert runs == [
        ("r1", True, "segmentation-r1", None),
        ("r3", False, "segmentation-r1", "r1"),  # r2's previous run, not r2
    ]
    # Every table of the run, not only the run's row (profiles, assignments, quality...).
    assert all(
        ids == ["r1", "r3"] for table, ids in per_table.items() if table != "segment_k_scores"
    )
    pd.testing.assert_frame_equal(
        applied.tables["segment_assignments"].drop(columns="run_id"),
        again.tables["segment_assignments"].drop(columns="run_id"),
    )
    # Other data, even as of the same date (one customer's figures corrected), is a new run;
    # rewriting equal values is not.
    first_customer = "(select min(customer_id) from marts.fct_customer_features)"
    with warehouse.connect(warehouse_path) as con:
        config = store.prepare(con)
        con.execute(
            "update marts.fct_customer_features set as_of_at = as_of_at "
            f"where customer_id = {first_customer}"
        )
        assert store.same_input(
            store.latest_run(con),
            input_fingerprint(store.read_features(con, config)),
            config,
        )
        column = next(
            name
            for name, kind in store.feature_columns(con).items()
            if kind == "numeric" and name in config.required_columns() and name != "as_of_at"
        )
        con.execute(
            f'update marts.fct_customer_features set "{column}" = coalesce("{column}", 0) + 1 '
            f"where customer_id = {first_customer}"
        )
    corrected = store.run_and_publish(warehouse_path=warehouse_path, refit=False, run_id="r4")
    assert corrected.summary["replaced_run_id"] is None
    assert [run[0] for run in _runs(warehouse_path)[0]] == ["r1", "r3", "r4"]
    assert len(first.tables["segment_assignments"]) == len(corrected.tables["segment_assignments"])


def test_a_history_written_before_the_input_fingerprint_gets_the_column(warehouse_path):
    """A warehouse an earlier Cible wrote (no `input_fingerprint`): the column is added, its
    runs keep a null, and a new run never replaces them (nothing says their data was the
    same)."""
    store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    with warehouse.connect(warehouse_path) as con:
        con.execute("alter table ml.segment_runs drop column input_fingerprint")
    again = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r2")
    assert again.summary["replaced_run_id"] is None
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select run_id, input_fingerprint from ml.segment_runs order by run_id"
        ).fetchall()
    assert rows[0] == ("r1", None) and rows[1][0] == "r2" and len(rows[1][1]) == 32


def test_a_refit_that_repeats_the_latest_refit_replaces_it_and_its_model(warehouse_path):
    """The weekly refit run again on the same data: one refit in the history, the segment ids
    those of a single refit (the replaced run's ids are not counted as used), one model file."""
    first = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    first_file = _latest_model_path(warehouse_path)
    again = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r2")
    assert again.summary["replaced_run_id"] == "r1"
    runs, _ = _runs(warehouse_path)
    assert runs == [("r2", True, "segmentation-r2", None)]
    assert not first_file.exists()
    assert _latest_model_path(warehouse_path).name == "r2.joblib"
    ids = {
        result.run_id: sorted(set(result.tables["segment_profiles"]["segment_id"]))
        for result in (first, again)
    }
    assert ids["r1"] == ids["r2"]


def test_a_rejected_run_is_recorded_but_never_previous(warehouse_path, tmp_path):
    store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    bad = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    bad["algorithm"].update(k_min=25, k_max=25)
    bad_path = tmp_path / "bad.yml"
    bad_path.write_text(yaml.safe_dump(bad))
    rejected = store.run_and_publish(bad_path, warehouse_path, refit=True, run_id="r2")
    assert not rejected.is_published
    assert _previous_run(warehouse_path).run_id == "r1"
    assert _latest_model_path(warehouse_path).name == "r1.joblib"


def test_a_copied_home_reads_its_own_model_file(warehouse_path, tmp_path, monkeypatch):
    """`segment_runs` keeps the absolute path a model was saved to; a copy of the home (a
    restored backup in another folder) reads its own copy of the file."""
    store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    saved = _latest_model_path(warehouse_path)
    assert saved.parent == tmp_path / "models" / "segmentation"
    copied = tmp_path / "copy"
    shutil.copytree(tmp_path / "models", copied / "models")
    monkeypatch.setenv("CIBLE_MODELS_DIR", str(copied / "models"))
    assert _latest_model_path(warehouse_path) == copied / "models" / "segmentation" / saved.name
    saved.unlink()
    result = store.run_and_publish(warehouse_path=warehouse_path, run_id="r2")
    assert result.tables["segment_runs"]["model_version"].iloc[0] == "segmentation-r1"


def test_a_bad_configuration_stops_before_reading_or_writing(warehouse_path, tmp_path):
    bad = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    bad["algorithm"]["name"] = "kmedoids"
    bad["features"]["log"].append("lifetime_value")
    bad_path = tmp_path / "bad.yml"
    bad_path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as caught:
        store.run_and_publish(bad_path, warehouse_path)
    message = str(caught.value)
    assert "algorithm.name: unknown value 'kmedoids'" in message
    assert "column 'lifetime_value' does not exist" in message
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        schemas = {
            row[0]
            for row in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert "ml" not in schemas


def test_applying_without_a_published_model_is_refused(warehouse_path):
    with pytest.raises(RuntimeError, match="no published segmentation model"):
        store.run_and_publish(warehouse_path=warehouse_path, refit=False)


def test_a_model_is_refitted_when_old_or_when_its_settings_change(warehouse_path, config):
    result = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    model = result.model
    assert store.refit_reason(config, None) == "no published model"
    assert store.refit_reason(config, model) is None
    later = model.created_at + timedelta(days=config.model.refit_after_days)
    assert "days old" in store.refit_reason(config, model, now=later)
    model.metadata["model_fingerprint"] = "something else"
    assert "changed" in store.refit_reason(config, model)


def test_a_missing_warehouse_or_features_table_is_explained(tmp_path):
    missing = tmp_path / "none.duckdb"
    with pytest.raises(RuntimeError, match=r"no warehouse at .* build the warehouse first"):
        store.run_and_publish(warehouse_path=missing)
    assert not missing.exists(), "the check creates no empty warehouse"
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(RuntimeError, match="fct_customer_features does not exist"):
        store.run_and_publish(warehouse_path=empty)


def test_every_table_is_created_as_declared_and_checked_against_it(warehouse_path):
    """The `segmentation` source is the tables' one declaration: the tables a run creates
    have its columns, order and types, and a frame that strays from it is refused."""
    result = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    declared = store.declared_tables()
    assert set(declared) == set(result.tables)
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        for name, spec in declared.items():
            created = con.execute(
                "select column_name, lower(data_type) from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [spec.schema, name],
            ).fetchall()
            assert created == list(spec.data_types.items()), name
    stray = {**result.tables}
    stray["segment_quality"] = stray["segment_quality"].assign(unexpected=1.0)
    with (
        warehouse.connect(warehouse_path) as con,
        pytest.raises(ContractError, match=r"ml.segment_quality: columns \['unexpected'\]"),
    ):
        store.publish(con, replace(result, run_id="r2", tables=stray))
    short = {**result.tables}
    short["segment_assignments"] = short["segment_assignments"].drop(columns="segment_id")
    with (
        warehouse.connect(warehouse_path) as con,
        pytest.raises(ContractError, match=r"required columns \['segment_id'\] are missing"),
    ):
        store.publish(con, replace(result, run_id="r3", tables=short))
    # Refused in its transaction: nothing of either run was written.
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        runs = con.execute("select run_id from ml.segment_runs").fetchall()
    assert runs == [("r1",)]


def test_the_consent_state_decides_who_is_profiled_not_the_features_flag(warehouse_path, synthetic):
    frame, _ = synthetic
    withdrawn = frame.loc[frame["is_profiling_allowed"], "customer_id"].iloc[:100].tolist()
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            "update marts.fct_customer_consents set is_allowed = false, "
            "rule_applied = 'latest_event_withdrawn' where list_contains(?, customer_id)",
            [withdrawn],
        )
    result = store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    assignments = result.tables["segment_assignments"].set_index("customer_id")
    assert (assignments.loc[withdrawn, "segment_id"] == "not_profiled").all()
    refused = set(frame.loc[~frame["is_profiling_allowed"], "customer_id"]) | set(withdrawn)
    assert set(assignments.index[assignments["segment_id"] == "not_profiled"]) == refused
    members = result.tables["rule_segment_memberships"]["customer_id"]
    assert refused.isdisjoint(members)


def test_no_consent_state_no_segmentation(warehouse_path):
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("drop table marts.fct_customer_consents")
    with pytest.raises(ConsentStateError, match="profiles no one without a consent state"):
        store.run_and_publish(warehouse_path=warehouse_path, refit=True, run_id="r1")
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        assert not warehouse.table_exists(con, "ml.segment_runs"), "nothing was written"


def test_documented_columns_are_read_and_absent_ones_skipped(warehouse_path, config):
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            "alter table marts.fct_customer_features add column weekend_session_share double"
        )
        con.execute("update marts.fct_customer_features set weekend_session_share = random()")
    assert "weekend_session_share" not in config.required_columns()
    vocabulary = feature_vocabulary(cible_dbt_project())
    store.run_and_publish(warehouse_path=warehouse_path, refit=True, vocabulary=vocabulary)
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute("select distinct feature from ml.segment_profile_features").fetchall()
    profiled = {feature for (feature,) in rows}
    # Documented, read although the configuration does not name it.
    assert {"weekend_session_share", "lifecycle_stage=lapsed"} <= profiled
    # Documented but not in this warehouse's features table: skipped.
    assert "tablet_session_share" not in profiled
