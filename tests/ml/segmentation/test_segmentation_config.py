"""The configuration is validated before any work, and every problem says what to fix."""

import copy

import pytest
import segmentation_data
import yaml
from cible.ml.segmentation.config import (
    DEFAULT_CONFIG_PATH,
    check_columns,
    load_segmentation_config,
    parse_segmentation_config,
)

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
def raw():
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def problems_of(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_segmentation_config(data)
    return caught.value.problems


def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_configuration_is_valid(config):
    assert config.algorithm.name == "kmeans"
    assert config.algorithm.k_min <= config.algorithm.k_max
    assert [s.id for s in config.excluded_segments] == ["not_profiled", "prospects"]
    assert config.quality.bootstrap_resamples >= 5


def test_an_empty_k_range_says_which_bound_to_move(raw):
    raw["algorithm"]["k_min"], raw["algorithm"]["k_max"] = 9, 4
    (problem,) = problems_of(raw)
    assert "algorithm.k_min" in problem
    assert "k_min (9) is above k_max (4)" in problem


def test_a_k_below_two_is_refused(raw):
    raw["algorithm"]["k_min"] = 1
    assert any("algorithm.k_min: must be at least 2" in p for p in problems_of(raw))


def test_an_unknown_algorithm_lists_the_known_ones(raw):
    raw["algorithm"]["name"] = "kmedoids"
    (problem,) = problems_of(raw)
    assert "algorithm.name: unknown value 'kmedoids'" in problem
    assert "kmeans, dbscan, hdbscan, agglomerative" in problem


def test_a_misspelt_setting_is_not_silently_ignored(raw):
    raw["algorithm"]["k_mx"] = 8
    (problem,) = problems_of(raw)
    assert "algorithm.k_mx: unknown setting" in problem
    assert "(did you mean k_max?)" in problem


def test_an_unknown_section_or_value_type_is_refused_with_the_expected_keys(raw):
    raw["algoritm"] = raw.pop("algorithm")
    raw["quality"]["min_segment_size"] = "50"
    raw["rule_segments"][0]["exclusive"] = "yes"
    problems = problems_of(raw)
    assert len(problems) == 3
    assert problems[0].startswith("quality.min_segment_size: must be a whole number, found '50'")
    assert problems[1] == "rule_segments[0].exclusive: must be true or false, found 'yes'"
    assert problems[2].startswith("algoritm: unknown setting; expected one of version, population")
    assert problems[2].endswith("(did you mean algorithm?)")


def test_every_problem_is_reported_at_once(raw):
    raw["algorithm"]["name"] = "nope"
    raw["quality"]["bootstrap_resamples"] = 2
    raw["sampling"]["hierarchical_sample_size"] = 50_000
    raw["preprocessing"]["scaler"] = "zscore"
    problems = problems_of(raw)
    assert len(problems) == 4
    message = str(ConfigError(problems))
    assert "4 problem(s), nothing was run" in message
    assert "quality.bootstrap_resamples: must be at least 5" in message


def test_rule_conditions_are_checked(raw):
    segment = raw["rule_segments"][0]["segments"][0]
    segment["when"] = {"all": [{"column": "recency_score", "op": "~=", "value": 4}]}
    raw["rule_segments"][1]["segments"][0]["when"] = {
        "column": "age",
        "op": "between",
        "value": [9],
    }
    problems = problems_of(raw)
    assert any("unknown operator '~='" in p for p in problems)
    assert any("between needs [low, high]" in p for p in problems)


def test_segment_ids_must_be_unique_and_not_reserved(raw):
    raw["rule_segments"][2]["segments"][0]["id"] = "prospects"
    raw["rule_segments"][2]["segments"][1]["id"] = "cluster_07"
    raw["rule_segments"][1]["group"] = "rfm_tier"
    problems = problems_of(raw)
    assert (
        "rule_segments[2].segments[0].id: 'prospects' is already the id of "
        "population.excluded_segments[0]; segment ids must be unique"
    ) in problems
    assert any(
        p.startswith("rule_segments[2].segments[1].id: 'cluster_07' is reserved") for p in problems
    )
    assert any(
        p.startswith("rule_segments[1].group: 'rfm_tier' is already the name") for p in problems
    )
    assert len(problems) == 3


def test_names_and_descriptions_need_both_languages(raw):
    raw["rule_segments"][0]["segments"][0]["name"] = {"en": "Champions"}
    raw["rule_segments"][0]["segments"][1]["description"] = "Loyal"
    raw["rule_segments"][0]["segments"][2]["name"]["fr"] = "  "
    assert problems_of(raw) == [
        "rule_segments[0].segments[0].name.fr: is required",
        "rule_segments[0].segments[1].description: must be a mapping of en, fr; found 'Loyal'",
        "rule_segments[0].segments[2].name.fr: must not be empty",
    ]


def test_settings_across_sections_are_checked_with_the_others(raw):
    """Flags named like features and strategic-fit rules on unprofiled features are refused
    even when another section is invalid too."""
    raw["profiles"]["derived_flags"]["orders_count"] = {"column": "age", "op": ">=", "value": 60}
    raw["priority"]["strategic_fit_rules"][0]["feature"] = "vip_share"
    raw["sampling"]["fit_sample_size"] = 10
    assert problems_of(raw) == [
        "sampling.fit_sample_size: must be at least 100, found 10",
        "profiles.derived_flags.orders_count: is a feature column; give the flag another name",
        "priority.strategic_fit_rules[0].feature: 'vip_share' is not a profile feature; add it "
        "to profiles.features",
    ]


def test_an_almost_empty_file_takes_every_default(tmp_path):
    path = write(tmp_path / "segmentation.yml", {"features": {"log": ["orders_count"]}})
    path.write_text(path.read_text() + "population:\nquality:\n")  # empty sections
    config = load_segmentation_config(path)
    assert config.features.input_columns() == ["orders_count"]
    assert (config.algorithm.name, config.algorithm.k_min, config.algorithm.k_max) == (
        "kmeans",
        2,
        10,
    )
    assert config.algorithm.n_init == 20 and config.algorithm.dbscan_eps is None
    assert config.quality.bootstrap_resamples == 5
    assert [s.id for s in config.excluded_segments] == ["not_profiled"]  # built in
    assert config.rule_groups == ()
    assert config.source == str(path)


def test_one_invalid_file_lists_every_problem_with_its_key_path(tmp_path, raw, synthetic):
    frame, _ = synthetic
    raw["algorithm"]["k_min"] = 1
    raw["features"]["shares"][1]["columns"].append("campaign_open_rate")
    raw["profiles"]["descriptors"]["lives_on_riviera"]["high"] = {"en": "from the Riviera"}
    raw["rule_segments"][2]["segments"][0]["when"]["all"][0]["op"] = "=>"
    path = write(tmp_path / "segmentation.yml", raw)
    with pytest.raises(ConfigError) as caught:
        load_segmentation_config(
            path, columns=[c for c in frame.columns if c != "summer_order_share"]
        )
    message = str(caught.value)
    assert message.startswith(f"{path}: 5 problem(s), nothing was run. Fix:\n")
    for line in (
        "algorithm.k_min: must be at least 2, found 1",
        "features.shares[1].columns: lists campaign_open_rate more than once",
        "profiles.descriptors.lives_on_riviera.high.fr: is required",
        "rule_segments[2].segments[0].when: all[0]: unknown operator '=>'",
        "features.shares[0].columns[15], rule_segments[2].segments[1].when, profiles.features[19]: "
        "column 'summer_order_share' does not exist in the features table; fix its name",
    ):
        assert f"\n  - {line}" in message, line


def test_a_column_missing_from_the_features_table_is_named_with_a_hint(config, synthetic):
    frame, _ = synthetic
    columns = [c for c in frame.columns if c != "revenue_eur"]
    problems = check_columns(config, columns)
    assert len(problems) == 1
    assert problems[0].startswith("features.log[1]: column 'revenue_eur' does not exist")
    assert "did you mean" in problems[0]


def test_a_text_column_cannot_be_a_numeric_feature(config, synthetic):
    frame, _ = synthetic
    kinds = dict.fromkeys(frame.columns, "numeric") | {"revenue_eur": "text"}
    (problem,) = check_columns(config, kinds)
    assert "'revenue_eur' is text, not a number" in problem


def test_load_checks_columns_and_settings_together(tmp_path, raw, synthetic):
    frame, _ = synthetic
    raw["algorithm"]["name"] = "kmedoids"
    path = write(tmp_path / "segmentation.yml", raw)
    with pytest.raises(ConfigError) as caught:
        load_segmentation_config(path, columns=[c for c in frame.columns if c != "age"])
    message = str(caught.value)
    assert "profiles.features[24]: column 'age' does not exist" in message
    assert "algorithm.name: unknown value 'kmedoids'" in message


def test_a_missing_or_invalid_yaml_file_is_reported(tmp_path):
    path = tmp_path / "segmentation.yml"
    with pytest.raises(ConfigError, match="file not found; set CIBLE_SEGMENTATION_CONFIG"):
        load_segmentation_config(path)
    path.write_text("algorithm: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_segmentation_config(path)


def test_fingerprints_follow_the_settings_that_shape_the_model(raw, tmp_path):
    base = parse_segmentation_config(raw)
    renamed = copy.deepcopy(raw)
    renamed["rule_segments"][0]["segments"][0]["name"]["en"] = "Top customers"
    refeatured = copy.deepcopy(raw)
    refeatured["features"]["log"] = refeatured["features"]["log"][:-1]
    assert parse_segmentation_config(renamed).model_fingerprint() == base.model_fingerprint()
    assert parse_segmentation_config(renamed).fingerprint() != base.fingerprint()
    assert parse_segmentation_config(refeatured).model_fingerprint() != base.model_fingerprint()


def test_the_config_file_documents_every_setting():
    """Each setting of the shipped file sits under a comment (the file is the user's manual)."""
    lines = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines()
    top = [i for i, line in enumerate(lines) if line and line[0].isalpha() and line.endswith(":")]
    for index in top:
        assert lines[index - 1].startswith("#"), f"undocumented section: {lines[index]}"


def test_a_rule_across_fields_is_reported_beside_an_invalid_field_of_its_section(raw):
    raw["algorithm"]["name"] = "kmedoids"
    raw["algorithm"]["k_min"] = 12
    problems = problems_of(raw)
    assert problems[0].startswith("algorithm.name: unknown value 'kmedoids'")
    assert problems[1].startswith("algorithm.k_min: the k range is empty: k_min (12) is above")
    assert len(problems) == 2


def test_not_profiled_is_built_in_and_consent_flags_are_not_features(raw):
    raw["population"]["excluded_segments"].insert(
        0,
        {
            "id": "not_profiled",
            "name": {"en": "Everyone", "fr": "Tout le monde"},
            "description": {"en": "Profile them all.", "fr": "Tous."},
            "when": {"column": "has_profiling_consent", "op": "is_null"},
        },
    )
    raw["features"]["numeric"] = [*raw["features"].get("numeric", []), "has_email_consent"]
    problems = problems_of(raw)
    assert any(
        p.startswith("population.excluded_segments[0].id: 'not_profiled' is built in")
        for p in problems
    )
    assert any("'has_email_consent' is a consent flag, never a model input" in p for p in problems)


def test_the_built_in_segment_comes_first_with_its_names(config):
    first = config.excluded_segments[0]
    assert first.id == "not_profiled" and first.skip_rule_segments
    assert first.when == {"column": "is_profiling_allowed", "op": "is_not_true"}
    assert config.segment_texts()["not_profiled"][0].fr == "Non profilés (sans consentement)"
