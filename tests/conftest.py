"""Shared fixtures: small generated demo data, loaded and built with the real dbt project."""

from __future__ import annotations

import pytest
from pipeline_support import Build, dbt_parse, generate_and_build


def pytest_configure(config):
    """Write the dbt manifest before collection: the Dagster definitions read it on import."""
    dbt_parse()


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory) -> Build:
    """The demo on 3,000 customers, every source present, built once for the session."""
    return generate_and_build(tmp_path_factory.mktemp("demo"))
