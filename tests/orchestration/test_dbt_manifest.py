"""Under `dagster dev` the manifest is parsed again, atomically, only when the dbt project
changed after it; elsewhere the definitions read the manifest written beforehand."""

import os

import pytest
from cible.orchestration.dbt import prepare_manifest
from dagster_dbt import DbtProject
from pipeline_support import manifest_models, tiny_dbt_project


@pytest.fixture
def stale_project(tmp_path):
    """A parseable project whose manifest (an empty one) is older than its model."""
    manifest = tiny_dbt_project(tmp_path)
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"nodes": {}}')
    stamp = manifest.stat().st_mtime - 60
    os.utime(manifest, (stamp, stamp))
    return DbtProject(project_dir=tmp_path, profiles_dir=tmp_path)


def test_under_dagster_dev_a_stale_manifest_is_replaced_in_one_rename(stale_project, monkeypatch):
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    manifest = stale_project.manifest_path
    previous_inode = manifest.stat().st_ino

    prepare_manifest(stale_project)

    assert manifest.stat().st_ino != previous_inode, "rewritten in place, not renamed"
    assert manifest_models(manifest) == {"stg_a"}
    parsed_inode = manifest.stat().st_ino
    prepare_manifest(stale_project)
    assert manifest.stat().st_ino == parsed_inode, "a current manifest is parsed again"


def test_outside_dagster_dev_the_manifest_is_left_as_written(stale_project, monkeypatch):
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    prepare_manifest(stale_project)
    assert manifest_models(stale_project.manifest_path) == set()
