"""The models a training snapshot rebuilds are exactly those that depend on the as-of date.

A snapshot (`dbt run --selector as_of`, the selector of `dbt_project/selectors.yml` that
`cible.dbt_cli.SNAPSHOT_SELECTOR` names) rebuilds the `models/intermediate/as_of`
folder and `fct_customer_features` into its own schemas, which `generate_schema_name` gives to
the models tagged `as_of`, and reads every other model from the current build. A model that
reads the as-of date outside the selection would be read as of today inside a snapshot:
leakage. A selected model that does not need the date would be rebuilt for nothing.
"""

from __future__ import annotations

import json

from pipeline_support import DBT_PROJECT_DIR, dbt_command

from cible.dbt_cli import SNAPSHOT_SELECTOR

WINDOW = "int_feature_window"
FEATURES = "fct_customer_features"
FOLDER = ("intermediate", "as_of")


def _models():
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    return {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
    }


def _closure(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for following in edges.get(todo.pop(), []):
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return seen


def _date_dependent(models: dict) -> set[str]:
    """The models between the window and the features: they read the as-of date."""
    by_name = {node["name"]: unique_id for unique_id, node in models.items()}
    parents = {uid: node["depends_on"]["nodes"] for uid, node in models.items()}
    children: dict[str, list[str]] = {}
    for uid, upstream in parents.items():
        for parent in upstream:
            children.setdefault(parent, []).append(uid)
    expected = _closure(by_name[WINDOW], children) & _closure(by_name[FEATURES], parents)
    return {models[uid]["name"] for uid in expected}


def test_the_snapshot_selector_is_the_models_between_the_window_and_the_features(tmp_path):
    models = _models()
    expected = _date_dependent(models)
    assert len(expected) >= 7, "the window and the feature models"
    listed = dbt_command(
        [
            "ls",
            "--selector",
            SNAPSHOT_SELECTOR,
            "--resource-type",
            "model",
            "--output",
            "name",
            "--quiet",
        ],
        tmp_path / "warehouse.duckdb",
    )
    assert set(listed.stdout.split()) == expected


def test_the_as_of_folder_and_the_features_mart_take_the_snapshot_schemas():
    """`generate_schema_name` prefixes the models tagged `as_of`: the folder gives the tag,
    and the features mart is the one model outside it."""
    models = _models()
    tagged = {node["name"] for node in models.values() if "as_of" in node["tags"]}
    in_folder = {node["name"] for node in models.values() if tuple(node["fqn"][1:3]) == FOLDER}
    assert tagged == _date_dependent(models)
    assert tagged - in_folder == {FEATURES}
