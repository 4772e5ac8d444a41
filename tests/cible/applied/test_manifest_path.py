"""Which dbt manifest the Python models applying the published models read the segment
vocabulary from: the running command's, else the project's (a command writing no JSON)."""

import sys

import pytest

from cible import settings
from cible.applied import _manifest_path
from cible.applied.vocabulary import manifest_vocabulary


def test_the_running_commands_manifest_when_dbt_wrote_one(tmp_path, monkeypatch):
    (tmp_path / "manifest.json").write_text("{}")
    monkeypatch.setattr(sys, "argv", ["dbt", "build", "--target-path", str(tmp_path)])
    assert _manifest_path() == tmp_path / "manifest.json"
    monkeypatch.setattr(sys, "argv", ["dbt", "build", f"--target-path={tmp_path}"])
    assert _manifest_path() == tmp_path / "manifest.json"


def test_the_projects_manifest_when_the_command_writes_no_json(tmp_path, monkeypatch):
    # `DBT_WRITE_JSON=false` (Cible's own commands, the tests'): nothing in the target folder.
    monkeypatch.setattr(sys, "argv", ["dbt", "build", "--target-path", str(tmp_path)])
    assert _manifest_path() == settings.dbt_target_dir() / "manifest.json"
    # The project's manifest (tests/conftest.py parses the project) names the segments.
    vocabulary = manifest_vocabulary(_manifest_path(), settings.DBT_PROJECT_DIR)
    assert vocabulary


def test_no_manifest_at_all_says_how_to_write_one(tmp_path):
    with pytest.raises(RuntimeError, match="dbt parse"):
        manifest_vocabulary(tmp_path / "manifest.json", settings.DBT_PROJECT_DIR)
