"""A daily run killed at random points, then run again, ends with the tables of an uninterrupted
one (issue #13; a script that prints figures, not a test).

1. N customers of demo data (Parquet) and `cible run`, the whole pipeline, in a folder of its
   own: the state before the day.
2. A new day of events lands (the day after the data, a day's share of the history with new
   ids: benchmarks/warehouse.py's `new_day_of_events`).
3. Twice, on copies of that state, the daily run for that day, uninterrupted: `cible backfill
   --from DAY --to DAY` (the daily job: load, the event models for the day and its lookback,
   the rest of the warehouse, retention, the published models applied, marts, exports, the BI
   copy). The first is the reference; the columns that differ between the two (run ids, load
   and run times) are left out of every comparison, and printed.
4. For each of K points, one drawn at random in each K-th of the reference's duration (seeded):
   on a fresh copy, start the daily run, SIGKILL its whole process group (the CLI, Dagster,
   dbt) at that point, run it again to the end, and compare every table of the warehouse with
   the reference (`except all` both ways on the compared columns).

CI runs one such kill (tests/orchestration/test_recovery.py: a whole run killed during its dbt
build); ten cycles of the daily job take about half an hour here.

    .venv/bin/python benchmarks/daily_kill.py --customers 1500 --points 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from warehouse import new_day_of_events  # noqa: E402

from cible.demo import generate  # noqa: E402

CIBLE = str(Path(sys.executable).parent / "cible")
# The small-data scoring settings of the whole-run tests: one cheap candidate per target.
SCORING_CONFIG = PROJECT_ROOT / "tests" / "config" / "scoring_small_data.yml"
WAREHOUSE = Path("data") / "warehouse" / "cible.duckdb"


def environment(home: Path, scoring_config: Path | None = SCORING_CONFIG) -> dict[str, str]:
    """Everything under `home` (landing, warehouse, models, exports, BI copy, Dagster); no
    online store (its asset is opt-in), no alert webhook; the shipped scoring settings when
    `scoring_config` is None."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CIBLE_", "DAGSTER_", "DBT_"))
    }
    if scoring_config is not None:
        env["CIBLE_SCORING_CONFIG"] = str(scoring_config)
    env.update(
        CIBLE_HOME=str(home),
        CIBLE_DEMO="0",
        CIBLE_PRIVACY_KEY=os.environ.get("CIBLE_PRIVACY_KEY", "benchmark-privacy-key-0123456789"),
        CIBLE_ACTIVATION_KEY=os.environ.get(
            "CIBLE_ACTIVATION_KEY", "benchmark-activation-key-0123456789"
        ),
    )
    return env


class Run:
    """One `cible` command in its own process group, its output lines kept with their time."""

    def __init__(self, home: Path, *args: str):
        self.started = time.perf_counter()
        self.lines: list[tuple[float, str]] = []
        self.process = subprocess.Popen(
            [CIBLE, *args],
            cwd=home,
            env=environment(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.perf_counter() - self.started, line.rstrip()))

    def wait(self) -> float:
        self.process.wait()
        self.reader.join()
        if self.process.returncode != 0:
            tail = "\n".join(line for _, line in self.lines[-30:])
            raise SystemExit(f"`{' '.join(self.process.args)}` failed:\n{tail}")
        return time.perf_counter() - self.started

    def kill_at(self, seconds: float) -> str:
        """SIGKILL the whole group at `seconds` after the start; the last step done by then."""
        time.sleep(max(0.0, seconds - (time.perf_counter() - self.started)))
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.reader.join()
        if self.process.returncode != -signal.SIGKILL:
            return "finished before the kill"
        done = [line.split()[1] for _, line in self.lines if line.strip().startswith("done")]
        return f"after {done[-1]}" if done else "before the first step ended"


def tables(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, list[str]]:
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "join information_schema.tables using (table_catalog, table_schema, table_name) "
        "where table_catalog = ? and table_type = 'BASE TABLE' order by ordinal_position",
        [database],
    ).fetchall()
    found: dict[str, list[str]] = {}
    for schema, table, column in rows:
        found.setdefault(f"{schema}.{table}", []).append(column)
    return found


def differing_rows(con, table: str, columns: list[str], distinct: bool = False) -> tuple[int, int]:
    """Rows of `a` missing from `b` and of `b` missing from `a`, on these columns; with
    `distinct`, as sets (a row repeated in one and present once in the other is no difference)."""
    listed = ", ".join(f'"{column}"' for column in columns)
    operator = "except" if distinct else "except all"
    counts = []
    for left, right in (("a", "b"), ("b", "a")):
        counts.append(
            con.execute(
                f"select count(*) from (select {listed} from {left}.{table} "
                f"{operator} select {listed} from {right}.{table})"
            ).fetchone()[0]
        )
    return counts[0], counts[1]


@contextmanager
def attached(reference: Path, other: Path):
    """Both warehouses read-only in one connection, as `a` and `b`, with the columns of each
    table of either (None for a table only one of them has)."""
    with duckdb.connect() as con:
        con.execute(f"attach '{reference}' as a (read_only)")
        con.execute(f"attach '{other}' as b (read_only)")
        left, right = tables(con, "a"), tables(con, "b")
        shared = {
            table: [column for column in left[table] if column in right[table]]
            if table in left and table in right
            else None
            for table in sorted(set(left) | set(right))
        }
        yield con, shared


def volatile_columns(reference: Path, other: Path) -> dict[str, set[str]]:
    """Per table, the columns whose values differ between two uninterrupted runs."""
    with attached(reference, other) as (con, shared):
        return {
            table: {column for column in columns if differing_rows(con, table, [column]) != (0, 0)}
            for table, columns in shared.items()
            if columns is not None
        }


def compare(reference: Path, other: Path, volatile: dict[str, set[str]]) -> dict:
    """Per table: (rows in reference, rows in other, missing, extra, repeats only) on the
    columns that are not volatile, or "only in one".

    `repeats only`: the rows differ in number only, every row of each being in the other (the
    volatile run ids and times left out): a log recording the killed attempt's completed work
    once more (a load, a purge, a model run), not a different state.
    """
    result = {}
    with attached(reference, other) as (con, shared):
        for table, columns in shared.items():
            if columns is None:
                result[table] = "only in one"
                continue
            kept = [column for column in columns if column not in volatile.get(table, set())]
            sizes = [con.execute(f"select count(*) from {db}.{table}").fetchone()[0] for db in "ab"]
            if kept:
                missing, extra = differing_rows(con, table, kept)
                as_sets = differing_rows(con, table, kept, distinct=True)
                repeats = bool(missing or extra) and as_sets == (0, 0)
                result[table] = (*sizes, missing, extra, repeats)
            else:  # every column is a run's own (a new model version): its rows are counted,
                # and a different count is a difference (nothing shows the rows repeat)
                missing, extra = max(0, sizes[0] - sizes[1]), max(0, sizes[1] - sizes[0])
                result[table] = (*sizes, missing, extra, False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--only", type=int, help="run this point alone (the same draw as in the whole series)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cible-daily-kill"))
    parser.add_argument(
        "--reuse-before", action="store_true", help="keep the state before the day if built"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    before = args.workdir / "before"
    landing = before / "data" / "landing"
    print(f"Daily run killed at {args.points} points: {args.customers:,} customers", flush=True)
    if args.reuse_before and (before / WAREHOUSE).exists():
        for stale in args.workdir.iterdir():
            if stale != before:
                shutil.rmtree(stale)
        (landing / "events" / "next-day.parquet").unlink(missing_ok=True)
    else:
        shutil.rmtree(args.workdir, ignore_errors=True)
        generate(
            landing_dir=landing,
            truth_dir=before / "data" / "truth",
            n_customers=args.customers,
            seed=args.seed,
            file_format="parquet",
        )
        seconds = Run(before, "run").wait()
        print(f"  whole pipeline (`cible run`): {seconds:.0f} s")
    # The history's last day (the events also hold defects dated decades ahead).
    as_of = json.loads((before / "data" / "truth" / "manifest.json").read_text())["end_date"]
    day, new_events = new_day_of_events(landing, str(as_of))
    print(f"  a new day of events lands: {new_events:,} events on {day}")
    daily = ("backfill", "--from", day, "--to", day)

    def copy(name: str) -> Path:
        home = args.workdir / name
        shutil.copytree(before, home, symlinks=True)
        return home

    reference, again = copy("reference"), copy("reference-again")
    reference_seconds = Run(reference, *daily).wait()
    again_seconds = Run(again, *daily).wait()
    print(f"  uninterrupted daily run: {reference_seconds:.0f} s and {again_seconds:.0f} s")
    volatile = volatile_columns(reference / WAREHOUSE, again / WAREHOUSE)
    print("  left out (differ between the two uninterrupted runs):")
    for table, columns in volatile.items():
        if columns:
            print(f"    {table}: {', '.join(sorted(columns))}")

    rng = random.Random(args.seed)
    slice_seconds = reference_seconds / args.points
    print(
        f"\n  {'point':>5} {'killed at':>10}  {'state at the kill':<40} {'rerun':>7}  "
        "tables equal / compared"
    )
    converged = tried = 0
    for point in range(args.points):
        at = slice_seconds * (point + rng.random())
        if args.only is not None and point + 1 != args.only:
            continue
        home = copy(f"killed-{point + 1:02d}")
        where = Run(home, *daily).kill_at(at)
        rerun_seconds = Run(home, *daily).wait()
        result = compare(reference / WAREHOUSE, home / WAREHOUSE, volatile)
        equal = [t for t, r in result.items() if isinstance(r, tuple) and r[2:4] == (0, 0)]
        repeated = [t for t, r in result.items() if isinstance(r, tuple) and r[4]]
        different = [t for t in result if t not in equal and t not in repeated]
        converged += not different
        tried += 1
        print(
            f"  {point + 1:>5} {at:>9.1f}s  {where:<40} {rerun_seconds:>6.0f}s  "
            f"{len(equal)} / {len(result)}, {len(repeated)} logs with repeats, "
            f"{len(different)} different",
            flush=True,
        )
        for table in repeated:
            rows_a, rows_b = result[table][:2]
            print(f"        repeats the attempt's work: {table} ({rows_a} rows, then {rows_b})")
        for table in different:
            print(
                f"        DIFFERS: {table} {result[table]} "
                "(rows a, rows b, missing, extra, repeats only)"
            )
        if not different:
            shutil.rmtree(home)
        else:
            print(f"        kept for a look: {home}")
    print(
        f"\n{converged} of {tried} killed daily runs converged to the reference: no table "
        "differs but for logs recording the killed attempt's work again "
        f"({time.perf_counter() - started:.0f} s in all)"
    )


if __name__ == "__main__":
    main()
