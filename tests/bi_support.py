"""A second daily run on a copy of the shared materialized run, with a BI reader connected.

The copy is published once, a reader (its own process, SQLAlchemy + duckdb-engine as Apache
Superset connects) queries the published copy in a loop, and the segmentation, scoring, their
dbt marts, the publish step and the dashboard run again through Dagster meanwhile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_support import SMALL_DATA_SCORING_CONFIG

# The readers, each its own process, querying about three times a second until told to stop
# (or 15 minutes). A fixed two minutes once ended before a second run slowed by a busy machine
# had published (a whole `.ci/run`, 2026-12-06). Polling every 50 ms, a `fresh` reader used 42 %
# of a core (8.5 s of CPU in 20 s, 234 queries); every 250 ms, 16 % (69 queries).
# `fresh`: one new connection per query (NullPool, Superset's default). `held`: one connection
# from start to end, as a long-lived pool keeps. Apart because DuckDB shares one open database
# per file within a process: while `held` is open, a new connection of its process would read
# the same (previous) file (docs/bi.md).
READER = r"""
import json, os, sys, time
import sqlalchemy as sa

path, stop, mode = sys.argv[1], sys.argv[2], sys.argv[3]
engine = sa.create_engine(
    f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=sa.pool.NullPool
)
query = sa.text(
    "select r.scoring_run_id, count(s.customer_id), "
    "count(*) filter (where s.scoring_run_id = r.scoring_run_id) "
    "from _published_run r cross join marts.fct_customer_scores s group by 1"
)
held = engine.connect() if mode == "held" else None
seen, errors, queries, answers = [], [], 0, set()
deadline = time.monotonic() + 900
while time.monotonic() < deadline:
    try:
        if held is not None:
            run_id, rows, of_run = held.execute(query).one()
        else:
            with engine.connect() as con:
                run_id, rows, of_run = con.execute(query).one()
        queries += 1
        if queries == 1:
            open(stop + "." + mode + ".ready", "w").close()
        answers.add((run_id, rows, of_run))
        if not seen or seen[-1] != run_id:
            seen.append(run_id)
    except Exception as error:
        errors.append(repr(error))
    if os.path.exists(stop):
        break
    time.sleep(0.25)
print(json.dumps({"queries": queries, "errors": errors, "seen": seen,
                  "answers": sorted(answers)}))
"""


def start_readers(target: Path, stop: Path) -> dict[str, subprocess.Popen]:
    """The readers (`fresh`, `held`) querying `target` until `stop` exists, once each has
    answered a first query."""
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(target), str(stop), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("fresh", "held")
    }
    deadline = time.monotonic() + 60
    for mode, reader in readers.items():
        ready = Path(f"{stop}.{mode}.ready")
        while not ready.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    return readers


def stop_readers(readers: dict[str, subprocess.Popen], stop: Path) -> dict[str, dict]:
    """Let the readers query the current copy a little longer, stop them, and their reports."""
    time.sleep(1.0)
    stop.touch()
    report = {}
    for mode, reader in readers.items():
        out, err = reader.communicate(timeout=60)
        report[mode] = json.loads(out) if out.strip() else {"failed": err}
    return report


def second_run(materialized_run: dict, root: Path) -> dict:
    """Run segmentation, scoring, their marts, the publish and the dashboard again on a copy of
    `materialized_run`'s warehouse and models while a reader queries the published copy."""
    import duckdb
    from cible.orchestration.bi import DASHBOARD_KEY, PUBLISHED_KEY
    from cible.orchestration.dbt import cible_dbt_project
    from cible.orchestration.definitions import build_definitions
    from cible.orchestration.resources import WarehouseResource
    from cible.orchestration.scoring import score_models
    from cible.orchestration.segmentation import segment_models, segment_table_keys
    from dagster import AssetSelection, DagsterInstance, materialize

    from cible.bi.publish import (
        load_manifest,
        publish,
        published_models,
        read_published_run,
    )

    source = Path(materialized_run["warehouse"])
    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copyfile(source, warehouse)
    models_dir = root / "models"
    shutil.copytree(materialized_run["models"], models_dir)
    published_dir = root / "published"
    target = published_dir / "cible_bi.duckdb"
    project = cible_dbt_project()
    with duckdb.connect(str(warehouse)) as con:
        publish(con, published_models(load_manifest(project.manifest_path)), target, "first")
    before = read_published_run(target)

    stop = root / "reader.stop"
    readers = start_readers(target, stop)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "CIBLE_WAREHOUSE": root / "decoy" / "cible.duckdb",
            "CIBLE_MODELS_DIR": models_dir,
            "CIBLE_PUBLISHED_DIR": published_dir,
            "CIBLE_SCORING_CONFIG": SMALL_DATA_SCORING_CONFIG,
            "CIBLE_LANDING_DIR": materialized_run["landing"],
        }.items():
            patch.setenv(name, str(value))
        definitions = build_definitions(with_demo=False)
        scoring_step = next(
            a
            for a in definitions.assets
            if getattr(a, "op", None) and a.op.name == "customer_scores"
        )
        selection = AssetSelection.assets(
            *segment_table_keys(project).values(),
            *segment_models(project).keys,
            *scoring_step.keys,
            *score_models(project).keys,
            PUBLISHED_KEY,
            DASHBOARD_KEY,
        )
        started = time.perf_counter()
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                list(definitions.assets),
                selection=selection,
                resources={
                    **definitions.resources,
                    "warehouse": WarehouseResource(path=str(warehouse)),
                },
                instance=instance,
                raise_on_error=False,
            )
        seconds = time.perf_counter() - started
    report = stop_readers(readers, stop)
    events = result.get_asset_materialization_events()
    return {
        "result": result,
        "seconds": seconds,
        "readers": report,
        "before": before,
        "published": target,
        "dashboard": published_dir / "dashboard.html",
        "warehouse": warehouse,
        "metadata": {event.asset_key: event.materialization.metadata for event in events},
    }
