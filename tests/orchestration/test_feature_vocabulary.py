"""The vocabulary of segment names, read from the documentation of fct_customer_features."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from cible.ml.segmentation.vocabulary import VocabularyError
from cible.orchestration.dbt import cible_dbt_project
from cible.orchestration.feature_vocabulary import FEATURES_MODEL, feature_vocabulary

from cible.settings import SEEDS_DIR


@pytest.fixture(scope="module")
def documented():
    project = cible_dbt_project()
    manifest = json.loads(Path(project.manifest_path).read_text(encoding="utf-8"))
    node = next(
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["name"] == FEATURES_MODEL
    )
    return node["columns"], feature_vocabulary(project)


def test_every_column_gets_a_phrase_or_says_why_not(documented):
    columns, vocabulary = documented
    named = {trait.column for trait in vocabulary.values()}
    excluded = {name for name, c in columns.items() if "exclude" in c["meta"]["trait"]}
    assert named | excluded == set(columns) and not named & excluded
    # No behaviour: ids, consent and completeness flags are excluded by their documentation.
    for column in ("customer_id", "has_profiling_consent", "has_email_consent", "has_email"):
        assert column in excluded, column
    assert "profile_completeness" in excluded
    # Behaviour the hand-written list of before could not name.
    for feature in (
        "tablet_session_share",
        "call_centre_order_share",
        "average_items_per_order",
        "weekend_session_share",
    ):
        assert vocabulary[feature].high.en and vocabulary[feature].high.fr, feature


def test_each_region_of_the_seed_is_a_trait_with_its_name(documented):
    _, vocabulary = documented
    with (SEEDS_DIR / "geo_departements.csv").open(encoding="utf-8") as handle:
        regions = {row["region_code"]: row["region_name"] for row in csv.DictReader(handle)}
    traits = {t.value: t for t in vocabulary.values() if t.column == "region_code"}
    assert set(traits) == set(regions)
    assert traits["OCC"].high.en == "from the Occitanie region"
    assert traits["HDF"].high.fr == "de la région Hauts-de-France"


def test_families_never_share_a_phrase(documented):
    """Two families reading alike would give two segments the same name for different reasons."""
    _, vocabulary = documented
    families: dict[tuple[str, str], set[str]] = {}
    for trait in vocabulary.values():
        for direction in ("high", "low"):
            texts = getattr(trait, direction)
            if texts is not None:
                for language in ("en", "fr"):
                    key = (language, getattr(texts, language))
                    families.setdefault(key, set()).add(trait.family)
    shared = {phrase: f for phrase, f in families.items() if len(f) > 1}
    assert not shared


def test_an_undocumented_column_stops_the_run_naming_the_yml(tmp_path):
    project = cible_dbt_project()
    manifest = json.loads(Path(project.manifest_path).read_text(encoding="utf-8"))
    node = manifest["nodes"][f"model.cible.{FEATURES_MODEL}"]
    del node["columns"]["tablet_session_share"]["meta"]["trait"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    edited = SimpleNamespace(
        manifest_path=tmp_path / "manifest.json", project_dir=project.project_dir
    )
    with pytest.raises(VocabularyError) as caught:
        feature_vocabulary(edited)
    assert str(caught.value).startswith(
        "fct_customer_features in dbt_project/models/marts/core/_core__models.yml, column "
        "tablet_session_share: no meta.trait; give it phrases"
    )
