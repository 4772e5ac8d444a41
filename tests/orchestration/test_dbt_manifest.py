"""Under `dagster dev` the manifest is re-parsed only when the dbt project changed after it."""

import json
import os

from cible.orchestration.dbt import manifest_is_current, parse_manifest
from dagster_dbt import DbtProject


def _project(root):
    (root / "models" / "staging").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "dbt_project.yml").write_text("name: p\nseed-paths: [reference]\n")
    (root / "profiles.yml").write_text("p: {}\n")
    (root / "models" / "staging" / "stg_a.sql").write_text("select 1 as a\n")
    (root / "reference" / "codes.csv").write_text("code\n1\n")
    return DbtProject(project_dir=root, profiles_dir=root)


def _age(path, seconds):
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


def test_a_missing_manifest_is_not_current(tmp_path):
    assert not manifest_is_current(_project(tmp_path))


def test_current_until_a_model_seed_or_config_is_edited(tmp_path):
    project = _project(tmp_path)
    project.manifest_path.parent.mkdir(parents=True)
    project.manifest_path.write_text("{}")
    _age(project.manifest_path, 60)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != project.manifest_path:
            _age(path, 120)
    assert manifest_is_current(project)
    for edited in ("models/staging/stg_a.sql", "reference/codes.csv", "dbt_project.yml"):
        os.utime(tmp_path / edited)
        assert not manifest_is_current(project), edited
        _age(tmp_path / edited, 120)


def _parseable_project(root):
    project = _project(root)
    (root / "profiles.yml").write_text(
        "p:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: ':memory:'}\n"
    )
    (root / "dbt_project.yml").write_text(
        "name: p\nprofile: p\nseed-paths: [reference]\nflags: {send_anonymous_usage_stats: false}\n"
    )
    return project


def _model_names(manifest_path):
    nodes = json.loads(manifest_path.read_text())["nodes"]
    return {node["name"] for node in nodes.values() if node["resource_type"] == "model"}


def test_the_manifest_is_replaced_in_one_rename_not_rewritten_in_place(tmp_path):
    project = _parseable_project(tmp_path)
    project.manifest_path.parent.mkdir(parents=True)
    project.manifest_path.write_text("{}")
    previous_inode = project.manifest_path.stat().st_ino

    parse_manifest(project)

    # A rewrite in place keeps the inode a concurrent reader has open; a rename does not.
    assert project.manifest_path.stat().st_ino != previous_inode
    assert _model_names(project.manifest_path) == {"stg_a"}
    target = project.manifest_path.parent
    assert (target / "partial_parse.msgpack").exists()
    assert not [path for path in target.iterdir() if path.name.startswith(".parse-")]

    (tmp_path / "models" / "staging" / "stg_b.sql").write_text("select 2 as b\n")
    parse_manifest(project)
    assert _model_names(project.manifest_path) == {"stg_a", "stg_b"}
    assert manifest_is_current(project)
