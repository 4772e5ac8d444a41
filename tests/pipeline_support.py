"""Helpers shared by the tests: generate small demo data, load it and build it with real dbt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SMALL_CUSTOMERS = 3_000
SMALL_SEED = 7
# Light scoring settings for tests running the whole graph on small data (CIBLE_SCORING_CONFIG).
SMALL_DATA_SCORING_CONFIG = PROJECT_ROOT / "tests" / "config" / "scoring_small_data.yml"


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
    args: list[str], warehouse: Path, extra_env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the dbt CLI of this environment on the project, against `warehouse`."""
    env = dict(os.environ, CIBLE_WAREHOUSE=str(warehouse), **(extra_env or {}))
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [
            str(dbt),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(warehouse.parent / "dbt_target"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


def dbt_parse() -> None:
    """Parse the dbt project into dbt_project/target/manifest.json (what `make dev` does)."""
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [
            str(dbt),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        cwd=DBT_PROJECT_DIR,
        check=True,
    )


def generate_and_build(
    root: Path,
    customers: int = SMALL_CUSTOMERS,
    seed: int = SMALL_SEED,
    keep_sources: set[str] | None = None,
    file_format: str = "mixed",
) -> Build:
    """Generate demo files, optionally keep only some sources, load them and run `dbt build`.

    ``file_format`` is the generator's: ``mixed`` (CSV, JSON lines and Parquet, as real exports
    come) or ``parquet`` (every source typed Parquet, as at scale).
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
    result = dbt_command(["build"], warehouse)
    return Build(landing=landing, truth=truth, warehouse=warehouse, dbt_output=result.stdout)
