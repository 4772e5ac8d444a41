"""Fixtures of the scoring unit tests (the data itself is in `scoring_data`)."""

from __future__ import annotations

import pytest
from cible.ml.scoring.config import parse_scoring_config
from scoring_data import LIGHT_CONFIG, make_features


@pytest.fixture
def light_config():
    return parse_scoring_config(LIGHT_CONFIG)


@pytest.fixture
def features_and_labels():
    return make_features()
