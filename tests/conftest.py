"""Shared fixtures: small generated demo data, loaded and built with the real dbt project."""

from __future__ import annotations

import os

import pytest
from pipeline_support import Build, generate_and_build

from cible.dbt_cli import parse_project

# Session fixtures that take minutes to build: with pytest-xdist, their tests share a worker.
SHARED_FIXTURES = ("materialized_run", "demo_build")


def pytest_configure(config):
    """Write the dbt manifest before collection: the Dagster definitions read it on import.

    Under pytest-xdist the controller writes it once, before the workers start.
    """
    # The suppression list's HMAC key, as a user sets it (docs/privacy.md); the test of a missing
    # key removes it.
    os.environ.setdefault("CIBLE_PRIVACY_KEY", "cible-tests-privacy-key-0123456789")
    if not hasattr(config, "workerinput"):
        parse_project()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Schedule by file for pytest-xdist (`--dist loadgroup`), so module fixtures are built
    once; the files using a shared session fixture go to one worker together."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        shared = [name for name in SHARED_FIXTURES if name in item.fixturenames]
        group = shared[0] if shared else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory) -> Build:
    """The demo on 3,000 customers, every source present, built once for the session."""
    return generate_and_build(tmp_path_factory.mktemp("demo"))
