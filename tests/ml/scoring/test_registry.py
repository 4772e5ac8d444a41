"""The registry round-trips versions, promotes only through gates, and rolls back."""

import json
import shutil

import pandas as pd
import pytest
from cible.ml.scoring.registry import ModelRegistry, RegistryError, code_version, fingerprint
from cible.ml.scoring.store import ScoringStore
from sklearn.linear_model import LogisticRegression


@pytest.fixture
def registry(tmp_path):
    with ScoringStore.open(tmp_path / "warehouse.duckdb") as store:
        yield ModelRegistry(tmp_path / "models", store)


def _fitted(c: float):
    return LogisticRegression(C=c).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def _register(registry, c=1.0, target="purchase_30d"):
    return registry.register(
        target,
        "purchase",
        "logistic_regression",
        _fitted(c),
        {
            "training_cutoff_at": pd.Timestamp("2026-10-02"),
            "horizon_days": 30,
            "metrics": {"auc_roc": 0.8},
        },
        tables={"evaluation": pd.DataFrame({"customer_id": ["a"], "label": [1], "score": [0.9]})},
        extra_artefacts={"online": {"weights": [1, 2]}},
    )


def test_a_version_round_trips_whole(registry, tmp_path):
    version = _register(registry, c=0.5)
    assert version.model_version == "purchase_30d-v0001" and version.status == "candidate"
    estimator, metadata = registry.load(version.model_version)
    assert estimator.C == 0.5 and estimator.predict([[3.0]])[0] == 1
    assert metadata["metrics"]["auc_roc"] == 0.8
    assert metadata["training_cutoff_at"].startswith("2026-10-02")
    assert registry.table(version.model_version, "evaluation")["score"].iloc[0] == 0.9
    assert registry.load_extra(version.model_version, "online") == {"weights": [1, 2]}
    on_disk = json.loads((version.artefact_path / "metadata.json").read_text())
    assert on_disk["model_version"] == version.model_version
    assert version.artefact_path.parent == tmp_path / "models" / "scoring" / "purchase_30d"
    row = registry.versions().iloc[0]
    assert row["training_cutoff_at"] == pd.Timestamp("2026-10-02") and not row["is_current"]


def test_only_a_version_passing_its_gates_is_promoted(registry):
    good = registry.decide(_register(registry).model_version, [])
    assert good.status == "promoted" and good.is_current
    bad = registry.decide(
        _register(registry, c=0.01).model_version, ["AUC 0.51 below the floor 0.65"]
    )
    assert bad.status == "rejected" and not bad.is_current
    assert registry.current("purchase_30d").model_version == good.model_version
    row = registry.versions().set_index("model_version").loc[bad.model_version]
    assert row["gate_failures"] == "AUC 0.51 below the floor 0.65" and not row["gates_passed"]
    with pytest.raises(RegistryError, match="not a candidate"):
        registry.decide(bad.model_version, [])


def test_promotion_replaces_and_rollback_restores(registry):
    first = registry.decide(_register(registry, c=1.0).model_version, [])
    second = registry.decide(_register(registry, c=2.0).model_version, [])
    assert registry.current("purchase_30d") == second
    assert registry.get(first.model_version).status == "retired"

    restored = registry.rollback("purchase_30d")
    assert restored.model_version == first.model_version and restored.is_current
    assert registry.get(second.model_version).status == "retired"
    estimator, _ = registry.load(registry.current("purchase_30d").model_version)
    assert estimator.C == 1.0

    # Forward again to a named version, then nothing earlier than the first.
    registry.rollback("purchase_30d", to_version=second.model_version)
    assert registry.current("purchase_30d").model_version == second.model_version
    registry.rollback("purchase_30d", to_version=first.model_version)
    with pytest.raises(RegistryError, match="no version was promoted before"):
        registry.rollback("purchase_30d")


def test_a_rejected_version_cannot_be_rolled_back_to(registry):
    registry.decide(_register(registry).model_version, [])
    rejected = registry.decide(_register(registry).model_version, ["calibration error 0.2"])
    with pytest.raises(RegistryError, match="never passed its gates"):
        registry.rollback("purchase_30d", to_version=rejected.model_version)
    with pytest.raises(RegistryError, match="no current version"):
        registry.rollback("churn_risk")


def test_the_index_is_the_declared_table(registry, tmp_path):
    assert registry.versions().empty, "read before the first version: nothing, and no table"
    _register(registry)
    spec = registry.store.tables["model_registry"]
    created = registry.store.con.execute(
        "select column_name, lower(data_type) from information_schema.columns "
        "where table_schema = 'ml' and table_name = 'model_registry' order by ordinal_position"
    ).fetchall()
    assert created == list(spec.data_types.items())
    with pytest.raises(ValueError, match="no column"):
        registry.store.update_registry_row("purchase_30d-v0001", colour="red")


def test_versions_are_numbered_per_target(registry):
    _register(registry)
    assert _register(registry, target="churn_risk").model_version == "churn_risk-v0001"
    assert _register(registry).model_version == "purchase_30d-v0002"


def test_fingerprint_changes_with_the_data():
    frame = pd.DataFrame({"a": [1, 2, 3]}, index=["x", "y", "z"])
    labels = pd.Series([0, 1, 0], index=frame.index)
    assert fingerprint(frame, labels) == fingerprint(frame.copy(), labels.copy())
    assert fingerprint(frame, labels) != fingerprint(frame, labels.replace({0: 1}))
    assert fingerprint(frame) != fingerprint(frame.assign(a=[1, 2, 4]))


def test_code_version_is_the_git_commit():
    version = code_version()
    assert version == "unknown" or len(version.removesuffix("-dirty")) == 40


def test_a_copied_home_reads_and_updates_its_own_files(tmp_path):
    """The index keeps the path a version was registered at; a home copied elsewhere (a
    restored backup, a staging copy) must use its own copy, and never write into the
    original's (an online update saves into the published version's folder)."""
    original = tmp_path / "original"
    with ScoringStore.open(original / "warehouse.duckdb") as store:
        version = _register(ModelRegistry(original / "models", store))
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    with ScoringStore.open(copy / "warehouse.duckdb") as store:
        registry = ModelRegistry(copy / "models", store)
        assert registry.versions().iloc[0]["artefact_path"] == str(version.artefact_path)
        here = registry.get(version.model_version)
        folder = copy / "models" / "scoring" / "purchase_30d"
        assert here.artefact_path == folder / version.model_version
        registry.save_extra(here.model_version, "online", {"weights": [3]})
        assert registry.load_extra(here.model_version, "online") == {"weights": [3]}
    with ScoringStore.open(original / "warehouse.duckdb") as store:
        registry = ModelRegistry(original / "models", store)
        assert registry.load_extra(version.model_version, "online") == {"weights": [1, 2]}
    # A home whose models folder lacks the version still finds it where it was registered.
    shutil.rmtree(copy / "models")
    with ScoringStore.open(copy / "warehouse.duckdb") as store:
        found = ModelRegistry(copy / "models", store).get(version.model_version)
        assert found.artefact_path == version.artefact_path
