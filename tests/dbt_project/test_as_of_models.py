"""The models a training snapshot rebuilds are exactly those that depend on the as-of date.

A snapshot (`ml.scoring.training.SNAPSHOT_SELECTOR`) rebuilds the models tagged `as_of` into
its own schemas and reads every other model from the current build. A model that reads the
as-of date without the tag would be read as of today inside a snapshot: leakage. A tagged
model that does not need the date would be rebuilt for nothing.
"""

from __future__ import annotations

import json

from cible.ml.scoring.training import SNAPSHOT_SELECTOR
from pipeline_support import DBT_PROJECT_DIR

WINDOW = "int_feature_window"
FEATURES = "fct_customer_features"


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


def test_the_as_of_tag_marks_the_models_between_the_window_and_the_features():
    models = _models()
    by_name = {node["name"]: unique_id for unique_id, node in models.items()}
    parents = {uid: node["depends_on"]["nodes"] for uid, node in models.items()}
    children: dict[str, list[str]] = {}
    for uid, upstream in parents.items():
        for parent in upstream:
            children.setdefault(parent, []).append(uid)

    depend_on_date = _closure(by_name[WINDOW], children)
    feed_features = _closure(by_name[FEATURES], parents)
    assert SNAPSHOT_SELECTOR.startswith("tag:")
    tag = SNAPSHOT_SELECTOR.removeprefix("tag:")
    tagged = {uid for uid, node in models.items() if tag in node["tags"]}

    expected = depend_on_date & feed_features
    assert len(expected) >= 7, "the window and the feature models"
    assert {models[uid]["name"] for uid in tagged} == {models[uid]["name"] for uid in expected}
