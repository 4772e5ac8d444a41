"""The one parse of the dbt project: when a manifest is current, and its atomic replacement."""

import os

from pipeline_support import manifest_models, tiny_dbt_project

from cible.dbt_cli import dbt_environment, manifest_is_current, parse_project


def _age(path, seconds):
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


def test_a_missing_manifest_is_not_current(tmp_path):
    assert not manifest_is_current(tmp_path, tiny_dbt_project(tmp_path))


def test_current_until_a_model_seed_or_config_is_edited(tmp_path):
    manifest = tiny_dbt_project(tmp_path)
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    _age(manifest, 60)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != manifest:
            _age(path, 120)
    assert manifest_is_current(tmp_path, manifest)
    for edited in ("models/staging/stg_a.sql", "reference/codes.csv", "dbt_project.yml"):
        os.utime(tmp_path / edited)
        assert not manifest_is_current(tmp_path, manifest), edited
        _age(tmp_path / edited, 120)


def test_the_manifest_is_replaced_in_one_rename_not_rewritten_in_place(tmp_path):
    manifest = tiny_dbt_project(tmp_path)
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    previous_inode = manifest.stat().st_ino

    assert parse_project(tmp_path, manifest.parent) == manifest

    # A rewrite in place keeps the inode a concurrent reader has open; a rename does not.
    assert manifest.stat().st_ino != previous_inode
    assert manifest_models(manifest) == {"stg_a"}
    target = manifest.parent
    assert (target / "partial_parse.msgpack").exists()
    assert not [path for path in target.iterdir() if path.name.startswith(".parse-")]

    (tmp_path / "models" / "staging" / "stg_b.sql").write_text("select 2 as b\n")
    parse_project(tmp_path, manifest.parent)
    assert manifest_models(manifest) == {"stg_a", "stg_b"}
    assert manifest_is_current(tmp_path, manifest)


def test_dbt_gets_the_absolute_warehouse_path_and_the_rest_of_the_environment(tmp_path):
    env = dbt_environment(tmp_path / "w.duckdb", base={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "CIBLE_WAREHOUSE": str(tmp_path / "w.duckdb")}
