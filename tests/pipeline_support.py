"""Helpers shared by the tests: generate small demo data, load it and build it with real dbt."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from cible import settings
from cible.dbt_cli import (
    MODEL_ENV,
    PARTIAL_PARSE,
    dbt_environment,
    dbt_executable,
    save_parse_state,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SMALL_CUSTOMERS = 3_000
SMALL_SEED = 7
# Light scoring settings for tests running the whole graph on small data (CIBLE_SCORING_CONFIG).
SMALL_DATA_SCORING_CONFIG = PROJECT_ROOT / "tests" / "config" / "scoring_small_data.yml"
# Defects the pipeline reports by reason: (source, reason) found in quality.rpt_data_quality
# ->  (source, key) in truth/defects.json.
ROW_AND_FIELD_DEFECTS = {
    ("customers", "malformed_line"): ("customers", "malformed_line"),
    ("customers", "negative_age"): ("customers", "negative_age"),
    ("customers", "implausible_age"): ("customers", "implausible_age"),
    ("orders", "malformed_line"): ("orders", "malformed_line"),
    ("orders", "future_timestamp"): ("orders", "future_timestamp"),
    ("orders", "unknown_customer"): ("orders", "unknown_customer"),
    ("order_lines", "orphan_line"): ("order_lines", "lines_of_defective_orders"),
    ("events", "unknown_event_type"): ("events", "unknown_event_type"),
    ("events", "future_timestamp"): ("events", "future_timestamp"),
    ("events", "unknown_customer"): ("events", "unknown_customer"),
    ("events", "late_event"): ("events", "late_event"),
    ("campaign_events", "unknown_customer"): ("campaign_events", "unknown_customer"),
    ("campaign_events", "malformed_line"): ("campaign_events", "malformed_line"),
    ("survey_answers", "malformed_json"): ("survey_answers", "malformed_line"),
    ("survey_answers", "out_of_range"): ("survey_answers", "out_of_range"),
    ("consents", "malformed_line"): ("consents", "malformed_line"),
}


@dataclass(frozen=True)
class Build:
    """A warehouse built by the real loader and `dbt build` from generated files."""

    landing: Path
    truth: Path
    warehouse: Path
    dbt_output: str

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).df()

    def defects(self) -> dict:
        return json.loads((self.truth / "defects.json").read_text())

    def manifest(self) -> dict:
        return json.loads((self.truth / "manifest.json").read_text())

    def truth_table(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.truth / f"{name}.parquet")

    def staged_columns(self, source_name: str, table_name: str) -> list[tuple[str, str]]:
        """(name, lowercase type) of the staging view of a source table, in order."""
        columns = self.query(
            "select column_name, lower(data_type) as data_type from information_schema.columns "
            f"where table_schema = 'staging' and table_name = 'stg_{source_name}__{table_name}' "
            "order by ordinal_position"
        )
        return list(columns.itertuples(index=False, name=None))


def dbt_command(
    args: list[str],
    warehouse: Path,
    extra_env: dict[str, str] | None = None,
    check: bool = True,
    json_artifacts: bool = False,
    unit_tests: bool = False,
) -> subprocess.CompletedProcess:
    """Run the dbt CLI of this environment on the project, against `warehouse`.

    dbt writes its JSON artifacts (manifest.json, run_results.json) into `dbt_target` beside
    the warehouse only if `json_artifacts`: as Dagster's steps (orchestration/dbt.py), the tests
    read dbt's output, and writing the manifest cost 1 to 1.5 s of CPU a command. A `build`
    runs dbt's unit tests (16, on fixed rows: about 8 s) only if `unit_tests`: the session's
    demo build and the Spark build run them; the other builds test their data.
    """
    env = {**dbt_environment(warehouse), **(extra_env or {})}
    cwd = DBT_PROJECT_DIR
    if env[settings.WAREHOUSE_ENV] == str(warehouse):
        # The warehouse by its name, from its folder: dbt hashes the profile with the path, and
        # a new path made every test's first command parse the whole project (about 5 s of
        # CPU more than reading a parse state; 2026-12-06).
        env[settings.WAREHOUSE_ENV], cwd = Path(warehouse).name, Path(warehouse).parent
    if not json_artifacts:
        env.setdefault("DBT_WRITE_JSON", "false")
    if args[:1] == ["build"] and not unit_tests:
        args = [*args, "--exclude-resource-type", "unit_test"]
    target = Path(warehouse).parent / "dbt_target"
    state = _parse_state(args, env)
    # Without a state of its own (a new as-of date or event window), the state of the same
    # vars and profile without them: dbt re-parses only the models reading them.
    nearest = _parse_state(args, env, model_env=False)
    start_from = next((p for p in (state, nearest) if p.exists()), None)
    if start_from is not None:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(start_from, target / PARTIAL_PARSE)
    result = subprocess.run(
        [
            dbt_executable(),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode == 0 and (target / PARTIAL_PARSE).exists():
        # Also the latest state of these vars and profile, whatever the date or window.
        for destination in dict.fromkeys([state, nearest]):
            save_parse_state(target / PARTIAL_PARSE, destination)
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


# dbt's parse states of the tests' commands, shared by every test and session of this checkout.
# dbt checks a state before it uses it (files, vars, profile, environment): one kept under the
# wrong key costs a full parse, never a wrong result.
PARSE_STATES = Path(tempfile.gettempdir()) / "cible-test-parse-states"
PROFILE_ENV_PREFIXES = ("CIBLE_WAREHOUSE", "CIBLE_DBT_", "CIBLE_DUCKDB_", "CIBLE_SPARK_")


def _parse_state(args: list[str], env: dict[str, str], model_env: bool = True) -> Path:
    """Where the parse state of a test's dbt command with these vars, profile and (if
    `model_env`) values of the models' own environment variables is kept."""
    vars_given = args[args.index("--vars") + 1] if "--vars" in args else ""
    # What profiles.yml reads, and what the models read (CIBLE_AS_OF, the event window).
    profile = {name: env[name] for name in env if name.startswith(PROFILE_ENV_PREFIXES)}
    models = {name: env[name] for name in MODEL_ENV if env.get(name) and model_env}
    key = json.dumps([str(DBT_PROJECT_DIR), vars_given, profile, models], sort_keys=True)
    return PARSE_STATES / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.msgpack"


def generate_and_build(
    root: Path,
    customers: int = SMALL_CUSTOMERS,
    seed: int = SMALL_SEED,
    keep_sources: set[str] | None = None,
    file_format: str = "mixed",
    json_artifacts: bool = False,
    unit_tests: bool = False,
) -> Build:
    """Generate demo files, optionally keep only some sources, load them and run `dbt build`.

    ``file_format`` is the generator's: ``mixed`` (CSV, JSON lines and Parquet, as real exports
    come) or ``parquet`` (every source typed Parquet, as at scale). ``json_artifacts``: keep
    dbt's manifest.json and run_results.json in ``dbt_target`` beside the warehouse;
    ``unit_tests``: run dbt's unit tests in the build too.
    """
    from cible.demo import generate
    from cible.loader import load_landing

    landing, truth, warehouse = root / "landing", root / "truth", root / "warehouse.duckdb"
    generate(
        landing_dir=landing,
        truth_dir=truth,
        n_customers=customers,
        seed=seed,
        file_format=file_format,
    )
    if keep_sources is not None:
        for entry in landing.iterdir():
            name = entry.name.split(".")[0]
            if name and name not in keep_sources:
                if entry.is_dir():
                    for part in entry.iterdir():
                        part.unlink()
                    entry.rmdir()
                else:
                    entry.unlink()
    load_landing(landing_dir=landing, warehouse=warehouse)
    result = dbt_command(["build"], warehouse, json_artifacts=json_artifacts, unit_tests=unit_tests)
    return Build(landing=landing, truth=truth, warehouse=warehouse, dbt_output=result.stdout)


def tiny_dbt_project(root: Path) -> Path:
    """A one-model, one-seed dbt project on an in-memory DuckDB; returns where its manifest
    goes (`target/manifest.json`, not written)."""
    (root / "models" / "staging").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: p\nprofile: p\nseed-paths: [reference]\nflags: {send_anonymous_usage_stats: false}\n"
    )
    (root / "profiles.yml").write_text(
        "p:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: ':memory:'}\n"
    )
    (root / "models" / "staging" / "stg_a.sql").write_text("select 1 as a\n")
    (root / "reference" / "codes.csv").write_text("code\n1\n")
    return root / "target" / "manifest.json"


def manifest_models(manifest: Path) -> set[str]:
    """The names of the models a dbt manifest holds."""
    nodes = json.loads(manifest.read_text())["nodes"]
    return {node["name"] for node in nodes.values() if node["resource_type"] == "model"}
