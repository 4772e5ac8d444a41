"""BI readers of the published copy: each its own process, connecting as Apache Superset does
(SQLAlchemy + duckdb-engine, read-only) and querying in a loop while a run publishes (the daily
job of tests/jobs_support.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

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
seen, errors, queries, answers = [], [], 0, []
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
        if not answers or answers[-1] != [run_id, rows, of_run]:
            answers.append([run_id, rows, of_run])
        if not seen or seen[-1] != run_id:
            seen.append(run_id)
    except Exception as error:
        errors.append(repr(error))
    if os.path.exists(stop):
        break
    time.sleep(0.25)
print(json.dumps({"queries": queries, "errors": errors, "seen": seen,
                  "answers": answers}))
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
