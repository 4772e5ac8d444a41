"""Shared fixtures: small generated demo data, loaded and built with the real dbt project."""

from __future__ import annotations

import pytest
from pipeline_support import Build, generate_and_build


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory) -> Build:
    """The demo on 3,000 customers, every source present, built once for the session."""
    return generate_and_build(tmp_path_factory.mktemp("demo"))
