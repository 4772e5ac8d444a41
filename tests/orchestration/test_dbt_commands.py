"""Each dbt command of a Dagster step runs in a target folder of its own: a command that
succeeded leaves nothing there but its parse state for the next one; a failed one keeps its
compiled SQL, the newest few only. A command starts from the parse state of the nearest
earlier one, so that a new day's as-of date or event window never makes dbt parse the whole
project again."""

import os

import pytest
from cible.orchestration.dbt import FAILED_COMMANDS_KEPT, finish_command, run_dbt
from cible.orchestration.resources import WarehouseResource
from dagster_dbt import DbtCliResource
from pipeline_support import tiny_dbt_project

from cible.dbt_cli import dbt_executable

FULL_PARSE = "Unable to do partial parsing"


@pytest.fixture
def project(tmp_path, monkeypatch):
    tiny_dbt_project(tmp_path)
    monkeypatch.setenv("DBT_TARGET_PATH", "target")
    return tmp_path


def _dbt(project) -> DbtCliResource:
    return DbtCliResource(
        project_dir=str(project), profiles_dir=str(project), dbt_executable=dbt_executable()
    )


def _command_folders(project):
    return sorted(path.name for path in (project / "target").iterdir() if path.is_dir())


def test_a_command_that_succeeded_leaves_only_its_parse_state(project, tmp_path):
    dbt = _dbt(project)
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))

    for _ in range(3):
        invocation = run_dbt(dbt, warehouse, ["build"]).wait()
        assert invocation.is_successful()
        assert (project / "target" / invocation.target_path.name).is_dir()
        finish_command(invocation)

    # The parse states are kept (per warehouse and vars, and the project's own).
    assert _command_folders(project) == ["parse_states"]
    assert (project / "target" / "partial_parse.msgpack").exists()
    assert len(list((project / "target" / "parse_states").glob("*.msgpack"))) == 1


def test_a_failed_command_keeps_its_folder_and_only_the_newest_are_kept(project, tmp_path):
    (project / "models" / "staging" / "stg_broken.sql").write_text("select * from nowhere\n")
    dbt = _dbt(project)
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    # Folders of earlier failed commands, older than the ones below.
    for number in range(FAILED_COMMANDS_KEPT + 5):
        old = project / "target" / f"warehouse_models-{number:012x}"
        (old / "run").mkdir(parents=True)
        os.utime(old, (1_000_000 + number, 1_000_000 + number))

    failed = run_dbt(dbt, warehouse, ["build"], raise_on_error=False).wait()
    assert not failed.is_successful()
    compiled = list((project / "target" / failed.target_path.name).rglob("stg_a.sql"))
    assert compiled, "the failed command's compiled SQL is kept"

    succeeded = run_dbt(dbt, warehouse, ["build", "--select", "stg_a"]).wait()
    finish_command(succeeded)

    folders = [name for name in _command_folders(project) if name != "parse_states"]
    assert len(folders) == FAILED_COMMANDS_KEPT
    assert failed.target_path.name in folders
    assert succeeded.target_path.name not in folders
    # The oldest went first.
    assert "warehouse_models-000000000000" not in folders
    assert f"warehouse_models-{FAILED_COMMANDS_KEPT + 4:012x}" in folders


def _messages(invocation) -> list[str]:
    """What dbt logged, to the end of the command."""
    return [event.raw_event["info"]["msg"] for event in invocation.stream_raw_events()]


def test_a_new_as_of_date_or_window_starts_from_the_state_without_them(project, tmp_path):
    # A model reading the as-of date as the project's int_feature_window does.
    (project / "models" / "staging" / "stg_as_of.sql").write_text(
        "select '{{ env_var('CIBLE_AS_OF', '') }}' as as_of\n"
    )
    dbt = _dbt(project)
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))

    def command(environment=None, args=("build",)):
        invocation = run_dbt(dbt, warehouse, list(args), environment=environment)
        messages = _messages(invocation)
        assert invocation.is_successful(), messages[-5:]
        finish_command(invocation)
        return " ".join(messages)

    assert FULL_PARSE in command()  # the first command of all
    assert FULL_PARSE not in command({"CIBLE_AS_OF": "2026-10-01"})
    window = {
        "CIBLE_EVENT_WINDOW_START": "2026-10-01 00:00:00",
        "CIBLE_EVENT_WINDOW_END": "2026-10-02 00:00:00",
    }
    assert FULL_PARSE not in command(window)
    # Without them again: the plain state is still the plain one.
    assert FULL_PARSE not in command()
    # New vars do need a whole parse (what the window and the date avoid); a training
    # snapshot (a schema prefix as a var, its date in the environment) a week later does not.
    snapshot = ("build", "--vars", '{"schema_prefix": "x_"}')
    assert FULL_PARSE in command({"CIBLE_AS_OF": "2026-10-01"}, args=snapshot)
    assert FULL_PARSE not in command({"CIBLE_AS_OF": "2026-10-08"}, args=snapshot)
