"""Cible's Dagster code location: wiring only; the logic lives in `cible/`, `ml/` and dbt."""
