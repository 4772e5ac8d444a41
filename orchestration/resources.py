"""Resources of the Cible code location: the warehouse and the dbt CLI."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource, DbtProject
from pydantic import Field

from cible import dbt_cli, settings, warehouse


class WarehouseResource(ConfigurableResource):
    """The DuckDB file of the warehouse, for every step that reads or writes it."""

    path: str | None = Field(
        default=None,
        description="The DuckDB file (relative to CIBLE_HOME). Default: CIBLE_WAREHOUSE when "
        "the step runs, else data/warehouse/cible.duckdb.",
    )

    @property
    def file(self) -> Path:
        """The absolute path of the DuckDB file."""
        return settings.warehouse_path(self.path)

    def ensure_folder(self) -> Path:
        """The DuckDB file, its folder created (DuckDB and dbt create the file, not folders)."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        return self.file

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection under Cible's warehouse lock (`cible.warehouse.connect`)."""
        with warehouse.connect(self.file, read_only=read_only) as con:
            yield con

    def dbt_env(self) -> dict[str, str]:
        """What a dbt process needs in its environment to build this warehouse."""
        return dbt_cli.dbt_environment(self.file, base={})


def dbt_resource(project: DbtProject) -> DbtCliResource:
    """dagster-dbt's CLI resource, running the `dbt` of this environment.

    `.venv/bin/dagster dev` does not put `.venv/bin` on PATH, where dagster-dbt looks for
    `dbt` by default: it gets the executable by name instead.
    """
    return DbtCliResource(project_dir=project, dbt_executable=dbt_cli.dbt_executable())


def default_resources(project: DbtProject) -> dict[str, ConfigurableResource]:
    """The resources of the code location: dbt, and the warehouse Cible's settings name."""
    return {"dbt": dbt_resource(project), "warehouse": WarehouseResource()}
