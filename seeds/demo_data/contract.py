"""The source contract as the generator reads it: landing names, column order and types.

The contract lives in the dbt sources files (``models/staging/*/_*__sources.yml``); reading it
here means the generator writes exactly the columns the loader expects, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from cible.settings import DBT_PROJECT_DIR

# Every source the generator writes, in the order it reports them.
LANDING_NAMES = (
    "customers",
    "orders",
    "order_lines",
    "events",
    "campaign_events",
    "survey_answers",
    "partner_enrichment",
    "consents",
    "erasure_requests",
)


@dataclass(frozen=True)
class SourceContract:
    """One landing source: its name, its columns in contract order and their data types."""

    landing: str
    columns: tuple[str, ...]
    data_types: dict[str, str]


def load_contract(dbt_project_dir: Path = DBT_PROJECT_DIR) -> dict[str, SourceContract]:
    """Read every sources yml of the dbt project and return the sources keyed by landing name.

    Raises:
        ValueError: when a source the generator writes is missing from the contract.
    """
    contracts: dict[str, SourceContract] = {}
    pattern = "*/_*__sources.yml"
    for path in sorted((Path(dbt_project_dir) / "models" / "staging").glob(pattern)):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for source in document.get("sources", []):
            for table in source.get("tables", []):
                landing = ((table.get("meta") or {}).get("cible") or {}).get("landing")
                if not landing:
                    continue
                columns = table.get("columns", [])
                contracts[landing] = SourceContract(
                    landing=landing,
                    columns=tuple(column["name"] for column in columns),
                    data_types={
                        column["name"]: column.get("data_type", "text") for column in columns
                    },
                )
    missing = [name for name in LANDING_NAMES if name not in contracts]
    if missing:
        raise ValueError(f"the source contract has no landing source named {missing}")
    return contracts
