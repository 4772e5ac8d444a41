"""Segmentation end to end on the 3,000-customer demo: real DuckDB, real dbt, real Dagster.

The personas are measured on the clustered population: buyers with profiling consent.
Prospects (no order history) and customers without profiling consent are excluded segments
declared in config/segmentation.yml, so they are not part of the adjusted Rand index: among
customers who ordered, K-means on order features recovers the personas (the generator's author
measured 0.88); on everyone the prospects form a group of their own and the index drops.
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from cible.ml.segmentation import store
from cible.ml.segmentation.config import DEFAULT_CONFIG_PATH, load_segmentation_config
from cible.orchestration.dbt import cible_dbt_project
from cible.orchestration.definitions import build_definitions
from cible.orchestration.segmentation import build_segmentation_definitions, segment_models
from dagster import DagsterInstance, materialize
from dagster_dbt import get_asset_key_for_model
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)

from cible import warehouse
from cible.settings import SEEDS_DIR

DROPPED_SHARE = 0.03


def copy_warehouse(source: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "cible.duckdb"
    shutil.copy(source, target)
    return target


def query(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


def write_config(path: Path, **changes) -> Path:
    """config/segmentation.yml with some algorithm or quality settings changed."""
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def materialize_segmentation(run_config: dict):
    """Materialize the segmentation step and the segment marts, as the code location would."""
    segmentation = build_segmentation_definitions(cible_dbt_project())
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            list(segmentation.assets),
            resources=build_definitions(False).resources,
            run_config={"ops": {"customer_segments": {"config": run_config}}},
            instance=instance,
            raise_on_error=False,
        )


MARTS = ("dim_segments", "fct_segment_memberships", "rpt_segment_priority")


@pytest.fixture(scope="module")
def environment(demo_build, tmp_path_factory):
    """A copy of the demo warehouse, pointed at by the settings, with its own model folder."""
    root = tmp_path_factory.mktemp("segmentation")
    warehouse_path = copy_warehouse(demo_build.warehouse, root / "warehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIBLE_WAREHOUSE", str(warehouse_path))
        patch.setenv("CIBLE_MODELS_DIR", str(root / "models"))
        yield {"warehouse": warehouse_path, "root": root}


@pytest.fixture(scope="module")
def personas(demo_build) -> pd.Series:
    """The planted persona of each warehouse customer, from the generator's truth files."""
    identities = demo_build.query(
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved"
    )
    records = demo_build.truth_table("records").drop_duplicates("customer_number")
    persons = demo_build.truth_table("persons")
    joined = identities.merge(records[["customer_number", "person_id"]], on="customer_number")
    joined = joined.drop_duplicates("customer_id").merge(persons, on="person_id")
    return joined.set_index("customer_id")["persona"]


@pytest.fixture(scope="module")
def first_run(environment):
    """The first segmentation of the demo, fitted and published by the ml package itself."""
    return store.run_and_publish(warehouse_path=environment["warehouse"], refit=True)


@pytest.fixture(scope="module")
def second_run(environment, first_run):
    """A real Dagster materialization after a small change: 3 % of the customers gone and
    another random seed; the segment marts are built by dbt from both runs."""
    warehouse_path = environment["warehouse"]
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            "delete from marts.fct_customer_features "
            f"where hash(customer_id) % 1000 < {int(DROPPED_SHARE * 1000)}"
        )
    config_path = write_config(environment["root"] / "reseeded.yml", algorithm__random_state=7)
    result = materialize_segmentation({"refit": True, "config_path": str(config_path)})
    assert result.success
    return result


def test_kmeans_recovers_the_planted_personas_among_clustered_buyers(first_run, personas):
    assignments = first_run.tables["segment_assignments"].set_index("customer_id")
    clustered = assignments[assignments["segment_kind"] == "cluster"]
    truth = personas.loc[clustered.index]
    ari = adjusted_rand_score(truth, clustered["segment_id"])
    assert first_run.summary["algorithm"] == "kmeans"
    assert ari >= 0.8, f"ARI {ari:.3f} with k = {first_run.summary['k']}"
    # Prospects are a rule segment: never ordered (among customers with profiling consent).
    excluded = assignments[assignments["segment_id"] == "prospects"]
    assert len(excluded) > 100
    assert first_run.tables["segment_runs"]["is_published"].item()


def test_quality_figures_equal_scikit_learns_on_the_same_data(first_run, environment):
    config = load_segmentation_config()
    with warehouse.connect(environment["warehouse"], read_only=True) as con:
        features = store.read_features(con, config)
    assignments = first_run.tables["segment_assignments"]
    clustered = features[
        features["customer_id"].isin(
            assignments.loc[assignments["segment_kind"] == "cluster", "customer_id"]
        )
    ]
    X = first_run.model.embed(clustered)
    labels = first_run.model.clusterer.predict(X)
    sample = config.sampling.silhouette_sample_size
    recorded = query(
        environment["warehouse"],
        f"select * from ml.segment_quality where run_id = '{first_run.run_id}'",
    ).iloc[0]
    assert recorded["silhouette"] == pytest.approx(
        silhouette_score(
            X,
            labels,
            sample_size=sample if len(X) > sample else None,
            random_state=config.algorithm.random_state,
        ),
        rel=1e-12,
    )
    assert recorded["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, labels), rel=1e-12)
    assert recorded["calinski_harabasz"] == pytest.approx(
        calinski_harabasz_score(X, labels), rel=1e-12
    )
    assert recorded["bootstrap_resamples"] >= 5
    assert recorded["smallest_segment_customers"] == np.bincount(labels).min()


def test_after_a_small_change_95_percent_keep_their_segment_id(second_run, environment):
    memberships = query(
        environment["warehouse"],
        "select run_number, customer_id, segment_id from marts.fct_segment_memberships "
        "where segment_kind = 'cluster'",
    )
    first = memberships[memberships["run_number"] == 1].set_index("customer_id")["segment_id"]
    second = memberships[memberships["run_number"] == 2].set_index("customer_id")["segment_id"]
    shared = first.index.intersection(second.index)
    kept = (first.loc[shared] == second.loc[shared]).mean()
    assert len(shared) > 0.9 * len(first)
    assert kept >= 0.95, kept
    quality = query(
        environment["warehouse"], "select * from marts.rpt_segment_quality where is_current"
    ).iloc[0]
    assert quality["temporal_keep_share"] == pytest.approx(kept)
    assert quality["is_published"] and quality["shared_customers"] == len(shared)


def test_history_and_migrations_cover_both_runs(second_run, environment):
    runs = query(
        environment["warehouse"], "select * from marts.dim_segment_runs order by run_number"
    )
    assert runs["run_number"].tolist() == [1, 2]
    assert runs["is_current"].tolist() == [False, True]
    assert runs["previous_published_run_id"].iloc[1] == runs["run_id"].iloc[0]
    migrations = query(environment["warehouse"], "select * from marts.fct_segment_migrations")
    by_movement = migrations.groupby("movement")["customers"].sum()
    customers_before = runs["customers"].iloc[0]
    customers_after = runs["customers"].iloc[1]
    assert by_movement["left"] == customers_before - customers_after > 0
    assert "entered" not in by_movement
    assert by_movement.sum() == customers_before
    assert by_movement["stayed"] / customers_after >= 0.95
    shares = migrations.groupby(migrations["from_segment_id"].fillna("-"))["share_of_from_segment"]
    assert np.allclose(shares.sum(), 1.0)


def test_the_segment_tables_are_staged_back_as_declared(second_run, demo_build, environment):
    """The staging views over the written tables have the `segmentation` source's types."""
    built = replace(demo_build, warehouse=environment["warehouse"])
    for name, spec in store.declared_tables().items():
        assert built.staged_columns("segmentation", name) == list(spec.data_types.items()), name


def test_every_segment_has_a_profile_a_name_and_a_description(second_run, environment):
    segments = query(environment["warehouse"], "select * from marts.dim_segments where is_active")
    clusters = segments[segments["segment_kind"] == "cluster"]
    assert 5 <= len(clusters) <= 10
    for column in ("name_en", "name_fr", "description_en", "description_fr"):
        assert segments[column].notna().all() and segments[column].str.len().gt(5).all()
    assert clusters["name_fr"].str.startswith("Clients ").all()
    assert clusters["name_en"].str.startswith("Customers ").all()
    assert clusters["name_fr"].is_unique
    assert clusters["description_fr"].str.contains("% de la base").all()
    assert clusters["top_features"].str.len().gt(0).all()
    profiles = query(environment["warehouse"], "select * from marts.rpt_segment_profiles")
    assert set(profiles["segment_id"]) == set(segments["segment_id"])
    assert profiles.groupby("segment_id")["importance_rank"].min().eq(1).all()
    expected_kinds = {"cluster", "excluded", "rule"}
    assert set(segments["segment_kind"]) == expected_kinds


def test_the_priority_grid_matches_an_independent_computation(second_run, environment):
    segments = query(
        environment["warehouse"],
        "select * from marts.dim_segments where is_active and segment_kind <> 'noise'",
    ).set_index("segment_id")
    weights = pd.read_csv(SEEDS_DIR / "priority_grid_weights.csv").set_index("criterion")
    thresholds = pd.read_csv(SEEDS_DIR / "priority_grid_thresholds.csv").set_index("criterion")
    values = pd.DataFrame(
        {
            "size": segments["customer_share"],
            "expected_conversion": segments["campaign_conversion_rate"].fillna(0),
            "profitability": segments["revenue_per_customer_eur"],
            "data_accessibility": (
                segments["profile_completeness"] + segments["marketing_consent_rate"]
            )
            / 2,
            "strategic_fit": segments["strategic_fit"].astype(float),
        }
    )
    scores = pd.DataFrame(index=values.index)
    for criterion in values:
        bounds = thresholds.loc[
            criterion, ["threshold_1", "threshold_2", "threshold_3", "threshold_4"]
        ]
        scores[criterion] = 1 + sum((values[criterion] >= bound).astype(int) for bound in bounds)
    weight = weights["weight"].reindex(values.columns)
    expected = (scores * weight).sum(axis=1) / weight.sum()
    grid = query(environment["warehouse"], "select * from marts.rpt_segment_priority").set_index(
        "segment_id"
    )
    assert set(grid.index) == set(segments.index)
    pd.testing.assert_series_equal(
        grid["priority_score"].sort_index(), expected.sort_index(), check_names=False
    )
    for criterion in values:
        assert (grid[f"{criterion}_score"].sort_index() == scores[criterion].sort_index()).all()
    ranked = expected.sort_values(ascending=False, kind="stable")
    assert grid.loc[ranked.index[0], "priority_rank"] == 1
    assert sorted(grid["priority_rank"]) == list(range(1, len(grid) + 1))
    minimum = segments["min_segment_size"].iloc[0]
    assert (grid["is_below_minimum_size"] == (grid["customers"] < minimum)).all()


def test_campaign_performance_is_measured_against_the_base(second_run, environment):
    performance = query(
        environment["warehouse"], "select * from marts.rpt_segment_campaign_performance"
    ).set_index("segment_id")
    assert performance["base_open_rate"].nunique() == 1
    clusters = performance[performance["segment_kind"] == "cluster"]
    assert (clusters["messages_received"] > 0).all()
    lift = clusters["open_rate"] / clusters["base_open_rate"]
    assert np.allclose(clusters["open_rate_lift"], lift)
    # The marketers' segment of exclusive-offer clickers clicks far more than the base.
    assert performance.loc["exclusive_offer_responders", "click_rate_lift"] > 2


def test_each_materialization_shows_k_quality_sizes_and_a_plot(second_run):
    events = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in second_run.get_asset_materialization_events()
    }
    metadata = events["ml/segmentation/segment_assignments"]
    assert 5 <= metadata["k"].value <= 10
    assert metadata["algorithm"].value == "kmeans"
    assert 0 < metadata["silhouette"].value < 1
    sizes = metadata["segment_sizes"].value
    assert len(sizes) == metadata["k"].value
    plot = metadata["segments_plot"].value
    prefix = "![segments](data:image/png;base64,"
    assert plot.startswith(prefix)
    assert base64.b64decode(plot[len(prefix) : -1]).startswith(b"\x89PNG")
    marts = segment_models(cible_dbt_project())
    assert get_asset_key_for_model([marts], "dim_segments").to_user_string() in events


def test_the_gates_block_a_deliberately_bad_model(demo_build, tmp_path, monkeypatch):
    """Twenty-five segments of 3,000 customers: small, unstable, badly separated. The step
    records the run as rejected, the blocking checks fail and dbt never builds the marts."""
    warehouse_path = copy_warehouse(demo_build.warehouse, tmp_path / "warehouse")
    monkeypatch.setenv("CIBLE_WAREHOUSE", str(warehouse_path))
    monkeypatch.setenv("CIBLE_MODELS_DIR", str(tmp_path / "models"))
    bad = write_config(
        tmp_path / "bad.yml",
        algorithm__k_min=25,
        algorithm__k_max=25,
        quality__silhouette_floor=0.4,
    )
    result = materialize_segmentation({"refit": True, "config_path": str(bad)})

    assert not result.success
    checks = {
        event.event_specific_data.check_name: event.event_specific_data.passed
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["silhouette_above_floor"] is False
    assert checks["no_segment_below_minimum_size"] is False
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert any(key.path[:2] == ["ml", "segmentation"] for key in materialized)
    marts = {get_asset_key_for_model([segment_models(cible_dbt_project())], name) for name in MARTS}
    assert not marts & materialized, "the segment marts must not be built"
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"customer_segments"}, "dbt never ran"
    runs = query(warehouse_path, "select is_published, failed_gates from ml.segment_runs")
    assert runs["is_published"].tolist() == [False]
    assert "segment_size" in runs["failed_gates"].iloc[0]
    assert query(warehouse_path, "select count(*) as n from marts.dim_segment_runs")["n"][0] == 0


def test_a_bad_configuration_stops_the_step_before_any_work(demo_build, tmp_path, monkeypatch):
    warehouse_path = copy_warehouse(demo_build.warehouse, tmp_path / "warehouse")
    monkeypatch.setenv("CIBLE_WAREHOUSE", str(warehouse_path))
    bad = write_config(tmp_path / "bad.yml", algorithm__name="kmedoids", algorithm__k_min=12)
    result = materialize_segmentation({"config_path": str(bad)})
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "unknown value 'kmedoids'" in message
    assert "k_min (12) is above k_max (10)" in message
    assert result.get_asset_materialization_events() == []
    schemas = query(warehouse_path, "select schema_name from information_schema.schemata")
    assert "ml" not in set(schemas["schema_name"])


def test_not_profiled_is_exactly_the_consent_states_refusals(second_run, environment):
    """Memberships of every kind (clusters, rule segments) leave out every customer the
    consent state refuses, and dim_segments counts them in not_profiled."""
    refused = set(
        query(
            environment["warehouse"],
            "select customer_id from marts.fct_customer_consents "
            "where purpose = 'profiling' and not is_allowed "
            "and customer_id in (select customer_id from marts.fct_customer_features)",
        )["customer_id"]
    )
    assert len(refused) > 300
    memberships = query(
        environment["warehouse"],
        "select customer_id, segment_id, segment_kind from marts.fct_segment_memberships "
        "where run_number = 2",
    )
    not_profiled = memberships[memberships["segment_id"] == "not_profiled"]
    assert set(not_profiled["customer_id"]) == refused
    others = memberships[memberships["segment_id"] != "not_profiled"]
    assert {"cluster", "rule"} <= set(others["segment_kind"])
    assert not set(others["customer_id"]) & refused
    counted = query(
        environment["warehouse"],
        "select customers from marts.dim_segments where segment_id = 'not_profiled'",
    )
    assert counted["customers"].tolist() == [len(refused)]


def test_a_withdrawal_after_the_current_run_leaves_its_segments_at_the_next_build(
    second_run, environment, tmp_path
):
    """A run that failed its gates leaves the previous one current: customers who withdrew
    their profiling consent since must not stay in its clusters and rule segments."""
    from pipeline_support import dbt_command

    warehouse_path = copy_warehouse(environment["warehouse"], tmp_path / "warehouse")
    current = "is_current_run and segment_kind = 'cluster'"
    withdrawn = query(
        warehouse_path,
        "select customer_id from marts.fct_segment_memberships "
        f"where {current} and customer_id in (select customer_id from "
        "marts.fct_segment_memberships where is_current_run and segment_kind = 'rule') "
        "order by customer_id limit 5",
    )["customer_id"].tolist()
    assert len(withdrawn) == 5
    listed = ", ".join(f"'{c}'" for c in withdrawn)
    before = query(warehouse_path, "select count(*) as n from marts.fct_segment_memberships")
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            "update marts.fct_customer_consents set is_allowed = false "
            f"where purpose = 'profiling' and customer_id in ({listed})"
        )
    dbt_command(["build", "--select", "fct_segment_memberships"], warehouse_path)
    rows = query(
        warehouse_path,
        "select customer_id, segment_id, segment_kind, is_exclusive, is_current_run "
        f"from marts.fct_segment_memberships where customer_id in ({listed})",
    )
    now = rows[rows["is_current_run"]]
    assert sorted(now["customer_id"]) == sorted(withdrawn)
    assert set(now["segment_id"]) == {"not_profiled"} and now["is_exclusive"].all()
    # The earlier run's rows are history, kept as they were.
    assert set(rows.loc[~rows["is_current_run"], "segment_kind"]) >= {"cluster", "rule"}
    after = query(warehouse_path, "select count(*) as n from marts.fct_segment_memberships")
    rules_dropped = int(before["n"][0] - after["n"][0])
    assert rules_dropped >= 5
