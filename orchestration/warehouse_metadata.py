"""Figures shown in the Dagster UI on each dbt materialization, read from the warehouse.

DuckDB lets one process open the file while dbt writes it, so the figures are read once the
dbt step has finished; the step's events are then yielded with them.
"""

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetMaterialization, MetadataValue, Output

from cible import warehouse

TABLE_MATERIALIZATIONS = {"table", "incremental"}

# Per model, queries whose result is worth a look in the UI (a Markdown table each).
REPORTS: dict[str, dict[str, str]] = {
    "fct_quarantined_rows": {
        "quarantine_by_reason": (
            "select source_name, stage, issue_level, reason, count(*) as rows "
            "from {relation} group by source_name, stage, issue_level, reason "
            "order by source_name, rows desc"
        ),
    },
    "rpt_source_reconciliation": {
        "reconciliation": (
            "select source_name, rows_in_files, rows_clean, rows_rejected_at_load, "
            "rows_quarantined_at_staging, rows_quarantined_after_identity, duplicates_removed, "
            "unaccounted_rows from {relation} order by source_name"
        ),
    },
    "fct_customer_features": {
        "lifecycle_stages": (
            "select lifecycle_stage, count(*) as customers, "
            "round(avg(profile_completeness), 3) as average_completeness, "
            "max(as_of_at) as as_of_at from {relation} group by lifecycle_stage "
            "order by customers desc"
        ),
    },
    "dim_customers": {
        "crm_records_per_customer": (
            "select record_count as crm_records, count(*) as customers "
            "from {relation} group by record_count order by crm_records"
        ),
    },
}


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(column) for column in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(str(value) for value in row) + " |" for row in frame.itertuples(False)
    ]
    return "\n".join([header, rule, *rows])


def _node_of(event: Any, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    metadata = getattr(event, "metadata", None) or {}
    unique_id = metadata.get("unique_id")
    value = getattr(unique_id, "value", unique_id)
    return manifest.get("nodes", {}).get(value) if value else None


def warehouse_figures(
    nodes: Iterable[Mapping[str, Any]], warehouse_path: Path
) -> dict[str, dict[str, Any]]:
    """Row counts (and reports where defined) of the tables built, by dbt unique id."""
    built = [
        node
        for node in nodes
        if node.get("config", {}).get("materialized") in TABLE_MATERIALIZATIONS
    ]
    if not built:
        return {}
    figures: dict[str, dict[str, Any]] = {}
    with warehouse.connect(warehouse_path, read_only=True) as con:
        for node in built:
            # Schema and name only: the manifest's database is the file name dbt parsed with.
            relation = f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'
            metadata: dict[str, Any] = {
                "dagster/row_count": con.execute(f"select count(*) from {relation}").fetchall()[0][
                    0
                ]
            }
            for name, sql in REPORTS.get(node["name"], {}).items():
                metadata[name] = MetadataValue.md(
                    markdown_table(con.execute(sql.format(relation=relation)).df())
                )
            figures[node["unique_id"]] = metadata
    return figures


def with_warehouse_figures(
    events: Iterable[Any], manifest: Mapping[str, Any], warehouse_path: Path
) -> Iterator[Any]:
    """The step's events, materializations carrying the figures of their tables (read from
    the DuckDB file at `warehouse_path`)."""
    events = list(events)
    nodes = {
        node["unique_id"]: node
        for node in (_node_of(event, manifest) for event in events)
        if node is not None
    }
    figures = warehouse_figures(nodes.values(), warehouse_path)
    for event in events:
        node = _node_of(event, manifest)
        if (
            isinstance(event, Output | AssetMaterialization)
            and node
            and node["unique_id"] in figures
        ):
            event = event.with_metadata({**event.metadata, **figures[node["unique_id"]]})
        yield event
