"""A published demo warehouse for the live tests: generated, loaded, built with dbt, segmented
and scored with the real ML steps, optionally holding back the events from a date on (the
live path then replays them)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from pipeline_support import SMALL_DATA_SCORING_CONFIG, dbt_command

MARTS_AFTER_ML = "tag:segmentation tag:scoring"


@contextmanager
def environment(**values: str):
    before = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Published:
    root: Path
    landing: Path
    warehouse: Path
    models: Path
    as_of: datetime | None
    held_out: pd.DataFrame

    def env(self) -> dict[str, str]:
        return {
            "CIBLE_LANDING_DIR": str(self.landing),
            "CIBLE_WAREHOUSE": str(self.warehouse),
            "CIBLE_MODELS_DIR": str(self.models),
            "CIBLE_SCORING_CONFIG": str(SMALL_DATA_SCORING_CONFIG),
            "CIBLE_HOME": str(self.root),
        }

    def dbt_vars(self, **extra) -> list[str]:
        variables = {"as_of_date": self.as_of.strftime("%Y-%m-%d")} if self.as_of else {}
        variables.update(extra)
        return ["--vars", json.dumps(variables)] if variables else []


def split_events(landing: Path, since: datetime) -> pd.DataFrame:
    """Take the events that occurred on or after `since` out of the landing folder."""
    folder = landing / "events"
    parts = sorted(folder.glob("*.parquet"))
    events = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    occurred = pd.to_datetime(events["occurred_at"], errors="coerce", utc=True, format="mixed")
    later = (occurred >= pd.Timestamp(since, tz="UTC")).fillna(False).to_numpy()
    for part in parts:
        part.unlink()
    events[~later].to_parquet(folder / "part-before.parquet", index=False)
    return events[later].reset_index(drop=True)


def build_published(
    root: Path, customers: int = 3_000, seed: int = 7, hold_out_from: datetime | None = None
) -> Published:
    """Generate, load, build (as of `hold_out_from` when given), segment and score."""
    from cible.demo import generate
    from cible.loader import load_landing

    landing, warehouse, models = root / "landing", root / "warehouse.duckdb", root / "models"
    generate(landing_dir=landing, truth_dir=root / "truth", n_customers=customers, seed=seed)
    held_out = split_events(landing, hold_out_from) if hold_out_from else pd.DataFrame()
    published = Published(root, landing, warehouse, models, hold_out_from, held_out)
    with environment(**published.env()):
        load_landing(landing_dir=landing, warehouse=warehouse)
        dbt_command(["build", *published.dbt_vars()], warehouse)
        run_ml(published)
    return published


def run_ml(published: Published) -> None:
    """Segmentation (fitted) and scoring (trained, promoted, applied), then their marts."""
    from cible.ml.scoring.config import load_config
    from cible.ml.scoring.registry import ModelRegistry
    from cible.ml.scoring.scoring import score_customers
    from cible.ml.scoring.training import SNAPSHOT_SELECTOR, plan_training, snapshots, train_all
    from cible.ml.segmentation.store import run_and_publish

    from cible import settings

    warehouse = published.warehouse
    run_and_publish(settings.segmentation_config_path(), warehouse, refit=True)
    config = load_config(SMALL_DATA_SCORING_CONFIG)
    plans = plan_training(config, warehouse)
    for variables in snapshots(plans).values():
        dbt_command(
            ["run", "--select", SNAPSHOT_SELECTOR, "--vars", json.dumps(variables)], warehouse
        )
    registry = ModelRegistry(published.models, warehouse)
    train_all(config, registry, warehouse, plans)
    score_customers(config, registry, warehouse)
    dbt_command(["build", "--select", MARTS_AFTER_ML, *published.dbt_vars()], warehouse)
