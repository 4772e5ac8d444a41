"""`dbt build` alone, from the command line with no Dagster, applies the published models: on a
copy of the whole Dagster run (`materialized_run`), the dbt Python models segment and score
today's customers with the published fitted pipelines (no refit), and the marts a marketer
reads then equal what Dagster's steps published for the same day. A deliberately drifted
scoring run applied by dbt publishes nothing: the score mart keeps the last passing run and the
audit trail shows the blocked one.
"""

import re
import shutil

import duckdb
import pandas as pd
import pytest
from pipeline_support import PROJECT_ROOT, SMALL_DATA_SCORING_CONFIG, dbt_command

pytestmark = pytest.mark.timeout(600)

APPLIED = ["int_segmentation_applied+", "int_scoring_applied+"]


def _query(warehouse, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def applied(materialized_run, tmp_path_factory):
    """On a copy of the run: `dbt build` of the applying models and all they feed, then the
    same after the features were made to drift."""
    root = tmp_path_factory.mktemp("dbt_applies")
    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(materialized_run["warehouse"], warehouse)
    # The models stay where the run wrote them: the registry and segment runs name those files.
    environment = {
        "CIBLE_MODELS_DIR": str(materialized_run["models"]),
        "CIBLE_SCORING_CONFIG": str(SMALL_DATA_SCORING_CONFIG),
    }
    dagster_run = _latest_published_segmentation(warehouse)
    before = {
        "segment_run": dagster_run,
        "memberships": _query(
            warehouse,
            "select customer_id, segment_id, segment_kind from marts.fct_segment_memberships "
            f"where is_exclusive and run_id = '{dagster_run['run_id']}'",
        ),
        "names": _segment_names(warehouse, dagster_run["run_id"]),
        "scores": _query(warehouse, "select * from marts.fct_customer_scores"),
        "versions": _query(warehouse, "select count(*) as n from ml.model_registry")["n"][0],
    }
    dbt_command(["build", "--select", *APPLIED], warehouse, extra_env=environment)
    history = _histories(warehouse)
    after = {
        "segmentation": _query(warehouse, "select * from intermediate.int_segmentation_applied"),
        "scoring": _query(warehouse, "select * from intermediate.int_scoring_applied"),
        "segment_run": _latest_published_segmentation(warehouse),
        "current_run": _query(
            warehouse, "select run_id from marts.dim_segment_runs where is_current"
        )["run_id"].tolist(),
        "scores": _query(warehouse, "select * from marts.fct_customer_scores"),
        "versions": _query(warehouse, "select count(*) as n from ml.model_registry")["n"][0],
    }
    after["memberships"] = _query(
        warehouse,
        "select customer_id, segment_id, segment_kind from marts.fct_segment_memberships "
        f"where is_exclusive and run_id = '{after['segment_run']['run_id']}'",
    )
    after["names"] = _segment_names(warehouse, after["segment_run"]["run_id"])
    # The same build again, no new data: each run replaces the one it repeats.
    dbt_command(["build", "--select", *APPLIED], warehouse, extra_env=environment)
    again = {
        "segmentation": _query(warehouse, "select * from intermediate.int_segmentation_applied"),
        "scoring": _query(warehouse, "select * from intermediate.int_scoring_applied"),
        **_histories(warehouse),
        "current_run": _query(
            warehouse, "select run_id from marts.dim_segment_runs where is_current"
        )["run_id"].tolist(),
    }
    after["history"] = history

    # Every customer's features as no scoring model was trained on: a blocking drift.
    with duckdb.connect(str(warehouse)) as con:
        numeric = con.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'fct_customer_features' and data_type in ('DOUBLE', 'BIGINT', "
            "'INTEGER') and column_name not like '%_id'"
        ).df()["column_name"]
        assignments = ", ".join(f'"{c}" = "{c}" * 1000 + 1000' for c in numeric)
        con.execute(f"update marts.fct_customer_features set {assignments}")
    result = dbt_command(["build", "--select", *APPLIED], warehouse, extra_env=environment)
    drifted = {
        "stdout": result.stdout,
        "scoring": _query(warehouse, "select * from intermediate.int_scoring_applied"),
        "mart_runs": sorted(
            _query(warehouse, "select distinct scoring_run_id from marts.fct_customer_scores")[
                "scoring_run_id"
            ]
        ),
        "published_runs": set(
            _query(warehouse, "select scoring_run_id from ml.customer_scores")["scoring_run_id"]
        ),
        "drift": _query(warehouse, "select scoring_run_id, status from ml.feature_drift"),
    }
    return {"before": before, "after": after, "again": again, "drifted": drifted}


def _histories(warehouse) -> dict[str, pd.Series]:
    """The ids of the segmentation runs and of the scoring runs (scored or blocked) kept."""
    return {
        "segment_runs": _query(warehouse, "select run_id from ml.segment_runs")["run_id"],
        "scoring_runs": _query(
            warehouse,
            "select distinct scoring_run_id from ml.customer_scores union "
            "select distinct scoring_run_id from ml.feature_drift",
        )["scoring_run_id"],
    }


def _segment_names(warehouse, run_id: str) -> pd.DataFrame:
    return (
        _query(
            warehouse,
            "select segment_id, name_en, name_fr from ml.segment_profiles "
            f"where run_id = '{run_id}'",
        )
        .sort_values("segment_id")
        .reset_index(drop=True)
    )


def _latest_published_segmentation(warehouse) -> pd.Series:
    return _query(
        warehouse,
        "select * from ml.segment_runs where is_published order by started_at desc limit 1",
    ).iloc[0]


def test_dagster_runs_record_their_own_application(materialized_run):
    warehouse = materialized_run["warehouse"]
    [segmentation] = _query(warehouse, "select * from intermediate.int_segmentation_applied")[
        ["status", "run_id"]
    ].itertuples(index=False)
    assert segmentation.status == "applied_by_dagster"
    # The run Dagster's step made, not a second application of the models.
    assert segmentation.run_id == _latest_published_segmentation(warehouse)["run_id"]
    scoring = _query(warehouse, "select * from intermediate.int_scoring_applied")
    assert list(scoring["status"]) == ["applied_by_dagster"]
    assert scoring["scoring_run_id"][0] in set(
        _query(warehouse, "select scoring_run_id from marts.fct_customer_scores")["scoring_run_id"]
    )


def test_dbt_build_alone_applies_the_published_models_as_dagster_did(applied):
    before, after = applied["before"], applied["after"]
    [segmentation] = after["segmentation"].to_dict("records")
    assert segmentation["status"] == "applied", segmentation["message"]
    assert segmentation["run_id"] != before["segment_run"]["run_id"]
    assert segmentation["model_version"] == before["segment_run"]["model_version"]
    # The marts now show the run dbt made: applied, not refitted, with the memberships and
    # names Dagster's step published for the same day.
    assert after["segment_run"]["run_id"] == segmentation["run_id"]
    assert not after["segment_run"]["is_refit"]
    assert after["current_run"] == [segmentation["run_id"]]
    key = ["customer_id"]
    pd.testing.assert_frame_equal(
        after["memberships"].sort_values(key).reset_index(drop=True),
        before["memberships"].sort_values(key).reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(after["names"], before["names"])

    scoring = after["scoring"]
    scored = scoring[scoring["status"] == "scored"]
    assert len(scored) >= 1, scoring.to_string()
    assert set(scoring["status"]) <= {"scored", "not_scored"}, scoring.to_string()
    assert set(after["scores"]["scoring_run_id"]) == set(scored["scoring_run_id"])
    assert set(after["scores"]["scoring_run_id"]).isdisjoint(before["scores"]["scoring_run_id"])
    columns = [
        c for c in after["scores"].columns if c.endswith(("_score", "_decile", "_model_version"))
    ]
    columns += ["expected_purchases", "probability_alive", "lifetime_value_eur"]
    pd.testing.assert_frame_equal(
        after["scores"].set_index("customer_id").sort_index()[columns],
        before["scores"].set_index("customer_id").sort_index()[columns],
    )
    assert after["versions"] == before["versions"], "dbt applies the promoted versions only"


def test_dbt_build_twice_on_the_same_data_keeps_one_run(applied):
    """The second build reads the same data with the same models: its segmentation and scoring
    runs replace the first build's, and the histories (and the marts over them) do not grow."""
    after, again = applied["after"], applied["again"]
    history = after["history"]
    [first] = after["segmentation"].to_dict("records")
    [second] = again["segmentation"].to_dict("records")
    assert f"replacing run {first['run_id']}" in second["message"], second["message"]
    assert len(again["segment_runs"]) == len(history["segment_runs"])
    assert set(again["segment_runs"]) == set(history["segment_runs"]) - {first["run_id"]} | {
        second["run_id"]
    }
    assert again["current_run"] == [second["run_id"]]
    scored = again["scoring"][again["scoring"]["status"] == "scored"]
    [previous] = set(after["scoring"]["scoring_run_id"])
    assert all(f"replacing run {previous}" in m for m in scored["message"]), scored.to_string()
    assert len(again["scoring_runs"]) == len(history["scoring_runs"])
    assert set(scored["scoring_run_id"]) <= set(again["scoring_runs"])


def test_a_drifted_run_applied_by_dbt_publishes_nothing(applied):
    drifted = applied["drifted"]
    scoring = drifted["scoring"]
    assert "blocked_by_drift" in set(scoring["status"]), scoring.to_string()
    blocked_run = scoring["scoring_run_id"].iloc[0]
    # The mart keeps the last passing run (the one the previous build applied, which replaced
    # the build before: a blocked run replaces nothing); the audit trail shows the blocked one,
    # with the drift that blocked it.
    again = applied["again"]["scoring"]
    passing = sorted(set(again.loc[again["status"] == "scored", "scoring_run_id"]))
    assert drifted["mart_runs"] == passing
    assert blocked_run not in drifted["published_runs"]
    drift = drifted["drift"]
    assert "block" in set(drift.loc[drift["scoring_run_id"] == blocked_run, "status"])
    # `dbt build` says so: the warning test on the audit fails, the build succeeds.
    assert "scoring_applied_by_dbt_not_blocked_by_drift" in drifted["stdout"]
    assert "WARN=0" not in drifted["stdout"]


def test_a_setting_to_fix_shows_as_its_message_not_a_traceback(materialized_run, tmp_path):
    """A broken setting stops the applying Python models with the paragraph that says what to
    fix, as Dagster's steps and `cible run` show it; dbt-duckdb would print a traceback."""
    warehouse = tmp_path / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(materialized_run["warehouse"], warehouse)
    segmentation = (PROJECT_ROOT / "config" / "segmentation.yml").read_text(encoding="utf-8")
    broken_segmentation = tmp_path / "segmentation.yml"
    broken_segmentation.write_text(
        re.sub(r"(?m)^(\s*)k_min:.*$", r"\1k_min: lots", segmentation, count=1), encoding="utf-8"
    )
    broken_scoring = tmp_path / "scoring.yml"
    broken_scoring.write_text(
        SMALL_DATA_SCORING_CONFIG.read_text(encoding="utf-8") + "\nno_such_setting: 1\n",
        encoding="utf-8",
    )
    result = dbt_command(
        ["run", "--select", "int_segmentation_applied", "int_scoring_applied"],
        warehouse,
        extra_env={
            "CIBLE_MODELS_DIR": str(materialized_run["models"]),
            "CIBLE_SEGMENTATION_CONFIG": str(broken_segmentation),
            "CIBLE_SCORING_CONFIG": str(broken_scoring),
        },
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "algorithm.k_min: must be a whole number, found 'lots'" in output, output[-3000:]
    assert "no_such_setting" in output, output[-3000:]
    assert "Traceback" not in output and 'File "' not in output, output[-3000:]
