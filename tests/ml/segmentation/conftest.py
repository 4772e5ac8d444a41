"""Fixtures of the segmentation unit tests: the project's configuration and synthetic frames."""

import pytest

from ml.segmentation.config import load_config
from ml.segmentation.synthetic import synthetic_features


@pytest.fixture(scope="session")
def synthetic():
    """2,000 synthetic customers in six planted groups, with prospects and non-consenting ones."""
    return synthetic_features(2_000, seed=3)


@pytest.fixture(scope="session")
def config(synthetic):
    """config/segmentation.yml, validated against the synthetic frame's columns."""
    frame, _ = synthetic
    return load_config(columns=list(frame.columns))
