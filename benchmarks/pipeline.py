"""The whole pipeline at scale, from landing files to published segments and scores (issue #13's
third figure; a script that prints figures, not a test).

Generates N customers (1M by default, about 20 events each) as Parquet into
`<workdir>/home/data/landing`, then times

1. the baseline: benchmarks/warehouse.py's hand-written DuckDB query over the same files, and
2. `cible run` with `CIBLE_HOME=<workdir>/home` and the shipped configuration (not the demo's
   extras): load, the whole dbt build, retention, the segmentation fit on its sample, the
   training snapshots and the scoring training on theirs, scoring every customer, marts,
   exports, the BI copy;

and prints the total beside the baseline, each step's seconds as `cible run` reports them
(the slowest first), and the peak memory: the resident set size of the whole process group
(the CLI, Dagster's run and step processes, dbt), sampled every half second, and of its
largest process. Targets of issue #13: at most 10 minutes, at most 4 GB throughout.

    .venv/bin/python benchmarks/pipeline.py --customers 1000000 --workdir /tmp/cible-pipeline
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from daily_kill import environment  # noqa: E402
from warehouse import data_arguments, generated_data  # noqa: E402

CIBLE = str(Path(sys.executable).parent / "cible")
TARGET_SECONDS, TARGET_BYTES = 600, 4 * 1024**3
_DONE = re.compile(r"^\s+done\s+(?P<step>\S+)\s+(?P<duration>\S+)$")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(group: int) -> tuple[int, int]:
    """(sum, largest) resident bytes of the processes of a process group, now."""
    total = largest = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:  # pgrp, the 5th field of stat
                continue
            with open(f"/proc/{entry}/statm") as statm:
                rss = int(statm.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        total += rss
        largest = max(largest, rss)
    return total, largest


def seconds_of(duration: str) -> float:
    """Dagster's step durations: `812ms`, `4.2s`, `1m2.3s`, `1h2m3s`."""
    total = 0.0
    for value, unit in re.findall(r"([0-9.]+)(ms|h|m|s)", duration):
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def run_pipeline(home: Path) -> dict:
    """`cible run` in its own process group; its wall time, step lines and peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [CIBLE, "run"],
        cwd=home,
        env=environment(home, scoring_config=None),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    peak = {"sum": 0, "largest": 0}
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(0.5):
            total, largest = group_rss(process.pid)
            peak["sum"], peak["largest"] = max(peak["sum"], total), max(peak["largest"], largest)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        print(f"    {line.rstrip()}", flush=True)
    process.wait()
    finished.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"`cible run` failed (exit {process.returncode}); its output is above")
    steps = [
        (match["step"], seconds_of(match["duration"]))
        for match in map(_DONE.match, lines)
        if match is not None
    ]
    return {"seconds": time.perf_counter() - started, "steps": steps, **peak}


def main() -> None:
    args = data_arguments(__doc__, Path("/tmp/cible-pipeline")).parse_args()
    home = args.workdir / "home"
    landing, truth = home / "data" / "landing", args.workdir / "truth"
    print(
        f"Cible whole-pipeline benchmark: {args.customers:,} customers, "
        f"{args.events_per_customer:g} events per customer, {os.cpu_count()} cores"
    )
    if args.reuse_data and (truth / "manifest.json").exists():
        for built in [*home.iterdir(), *(home / "data").iterdir()]:
            if built not in (home / "data", landing):
                shutil.rmtree(built) if built.is_dir() else built.unlink()
    else:
        shutil.rmtree(args.workdir, ignore_errors=True)
    manifest = generated_data(
        landing, truth, args.customers, args.events_per_customer, reuse=args.reuse_data
    )

    # The baseline, as benchmarks/warehouse.py measures it (its step reads `<workdir>/landing`).
    baseline_dir = args.workdir / "baseline"
    baseline_dir.mkdir(exist_ok=True)
    (baseline_dir / "landing").unlink(missing_ok=True)
    (baseline_dir / "landing").symlink_to(landing)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("warehouse.py")),
            "--workdir",
            str(baseline_dir),
            "--step",
            "baseline",
            "--as-of",
            str(manifest["end_date"]),
        ],
        check=True,
    )
    baseline = time.perf_counter() - started
    print(f"  baseline: one hand-written DuckDB query: {baseline:.1f} s")

    print("  `cible run`:", flush=True)
    home.mkdir(parents=True, exist_ok=True)
    result = run_pipeline(home)
    gib = 1024**3
    print("\nResults")
    print(f"  baseline query:                     {baseline:8.1f} s")
    print(
        f"  whole pipeline (`cible run`):       {result['seconds']:8.1f} s  "
        f"({result['seconds'] / baseline:.1f} times the baseline; target <= {TARGET_SECONDS} s)"
    )
    print(
        f"  peak memory, whole process group:   {result['sum'] / gib:8.2f} GiB  "
        f"(largest process {result['largest'] / gib:.2f} GiB; target <= 4 GiB)"
    )
    print("  slowest steps (seconds as `cible run` reports them):")
    for step, seconds in sorted(result["steps"], key=lambda item: -item[1])[:12]:
        print(f"    {seconds:8.1f} s  {step}")
    rest = sorted(result["steps"], key=lambda item: -item[1])[12:]
    if rest:
        print(f"    {sum(s for _, s in rest):8.1f} s  the {len(rest)} other steps")


if __name__ == "__main__":
    main()
