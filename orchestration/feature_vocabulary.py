"""The vocabulary of segment names for Dagster's segmentation step: the project's manifest read
by :mod:`cible.applied.vocabulary` (the dbt Python model applying the published segmentation
reads it the same way)."""

from __future__ import annotations

from pathlib import Path

from cible.ml.segmentation.vocabulary import Vocabulary
from dagster_dbt import DbtProject

from cible.applied.vocabulary import FEATURES_MODEL, manifest_vocabulary

__all__ = ["FEATURES_MODEL", "feature_vocabulary"]


def feature_vocabulary(project: DbtProject) -> Vocabulary:
    """The documented features of `fct_customer_features`, from the project's manifest.

    Raises:
        VocabularyError: a column's `meta.trait` is missing or malformed (the message names it).
    """
    return manifest_vocabulary(Path(project.manifest_path), Path(project.project_dir))
