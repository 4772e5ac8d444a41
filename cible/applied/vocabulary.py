"""The vocabulary of segment names, read from the dbt manifest as plain data.

Each column of `fct_customer_features` documents how it reads in a segment name (its
`meta.trait`, docs/segmentation.md); seeds named by `values_from` give the labels of a text
column's values. `ml/` parses and uses them (`cible.ml.segmentation.vocabulary`) without dbt;
Dagster's segmentation step and the dbt Python model applying the published segmentation
(`int_segmentation_applied`) both read them here, so both name segments alike.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cible.ml.segmentation.vocabulary import Vocabulary, read_vocabulary

FEATURES_MODEL = "fct_customer_features"


def manifest_vocabulary(manifest_path: Path, project_dir: Path) -> Vocabulary:
    """The documented features of `fct_customer_features`, from a dbt manifest.

    Raises:
        VocabularyError: a column's `meta.trait` is missing or malformed (the message names it).
        RuntimeError: there is no manifest (the message says how to write one).
    """
    if not Path(manifest_path).exists():
        raise RuntimeError(
            f"no dbt manifest at {manifest_path}: the segment names are read from it; parse "
            "the project first (`dbt parse` in dbt_project/, or any `cible` command)"
        )
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    model = _node(manifest, "model", FEATURES_MODEL)
    traits = {
        name: (column.get("meta") or {}).get("trait") for name, column in model["columns"].items()
    }
    wanted = {
        trait["values_from"].get("seed")
        for trait in traits.values()
        if isinstance(trait, dict) and isinstance(trait.get("values_from"), dict)
    }
    seeds = {}
    for name in sorted(n for n in wanted if isinstance(n, str)):
        seed = _node(manifest, "seed", name)
        path = Path(project_dir) / seed["original_file_path"]
        with path.open(encoding="utf-8", newline="") as handle:
            seeds[name] = list(csv.DictReader(handle))
    documented_in = model.get("patch_path", "").split("://")[-1] or "its dbt yml"
    return read_vocabulary(traits, seeds, where=f"{FEATURES_MODEL} in dbt_project/{documented_in}")


def _node(manifest: dict, resource_type: str, name: str) -> dict:
    for node in manifest["nodes"].values():
        if node["resource_type"] == resource_type and node["name"] == name:
            return node
    raise RuntimeError(
        f"the dbt manifest has no {resource_type} {name!r}: parse the project again "
        "(`cible.dbt_cli.parse_project`)"
    )
