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

from cible.dbt_cli import snapshot_command

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
    from cible.ml.scoring import store
    from cible.ml.scoring.config import load_scoring_config
    from cible.ml.segmentation.store import run_and_publish

    from cible import settings

    warehouse = published.warehouse
    run_and_publish(settings.segmentation_config_path(), warehouse, refit=True)
    config = load_scoring_config(SMALL_DATA_SCORING_CONFIG)
    for variables in store.snapshots(store.plan(config, warehouse)).values():
        args, extra_env = snapshot_command(variables)
        dbt_command(args, warehouse, extra_env=extra_env)
    store.train_and_publish(config, published.models, warehouse)
    store.score_and_publish(config, published.models, warehouse)
    # As Dagster's steps do: the models were just applied, the build records that run.
    dbt_command(
        ["build", "--select", MARTS_AFTER_ML, *published.dbt_vars()],
        warehouse,
        extra_env={settings.DBT_APPLIES_MODELS_ENV: "0"},
    )


def tracker_items(events: pd.DataFrame) -> list[dict]:
    """Landing-file events as a tracker would send them (JSON: text times, whole numbers)."""
    import math

    items = []
    for record in events.to_dict("records"):
        item = {}
        for name, value in record.items():
            if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
                continue
            if isinstance(value, pd.Timestamp):
                value = value.isoformat()
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            item[name] = value
        items.append(item)
    return items


def post_events(
    url: str, key: str, items: list[dict], batch: int = 200, retry_seconds: float = 120
):
    """POST in batches, sending a batch again while the collector answers 503 (at least once,
    as a tracker does); returns the answers."""
    import time

    import httpx

    answers = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(items), batch):
            body = {"events": items[start : start + batch]}
            deadline = time.monotonic() + retry_seconds
            while True:
                try:
                    response = client.post("/v1/events", json=body, headers={"X-API-Key": key})
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code != 503:
                    answers.append(response)
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"collector kept failing: {response and response.text}")
                time.sleep(0.2)
    return answers


def wait_until_landed(store, event_ids: list[str], timeout: float = 180.0) -> None:
    """Until every event id is landed (so applied and acknowledged before long)."""
    import time

    ids = list(dict.fromkeys(event_ids))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = 0
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            flags = store.client.mget([store.landed_key(i) for i in chunk])
            missing += sum(flag is None for flag in flags)
        if not missing:
            return
        time.sleep(0.25)
    raise AssertionError(f"{missing} of {len(ids)} events not landed after {timeout:.0f} s")


def states(store, kind: str = "state") -> dict[str, dict]:
    """Every record of a kind in the current generation, by key suffix."""
    import json

    generation = store.generation()
    prefix = store.key(generation, kind) + ":"
    keys = list(store.client.scan_iter(match=prefix + "*", count=5000))
    values = store.client.mget(keys) if keys else []
    return {
        key.decode()[len(prefix) :]: json.loads(value)
        for key, value in zip(keys, values, strict=True)
    }
