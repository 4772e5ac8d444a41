"""What `cible run` shows of Dagster's output: one line per step, the reason as a paragraph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cible.run_output import RunOutput

PREFIX = "2026-12-05 12:06:56 +0000 - dagster - {level} - __ASSET_JOB - 7dee - 26885 - "
REASON = (
    "orders.csv: missing required column(s) ordered_at. Expected the columns of 'orders'\n"
    "Nothing was loaded: the warehouse is as it was."
)
# Dagster's lines around a failed step, shortened (dagster 1.12, 2026-12).
DAGSTER_OUTPUT = [
    PREFIX.format(level="DEBUG") + "RESOURCE_INIT_STARTED - Starting initialization",
    PREFIX.format(level="DEBUG")
    + 'raw_tables - STEP_START - Started execution of step "raw_tables".',
    PREFIX.format(level="ERROR")
    + 'raw_tables - STEP_FAILURE - Execution of step "raw_tables" failed.',
    "",
    "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing "
    'op "raw_tables"::',
    "",
    *("cible.loader.common.LoadError: " + REASON).split("\n"),
    "",
    "Stack Trace:",
    '  File "/x/dagster/_core/execution/plan/utils.py", line 57, in op_execution_error_boundary',
    "    yield",
    PREFIX.format(level="DEBUG") + "warehouse_models_3 - STEP_SUCCESS - "
    'Finished execution of step "warehouse_models_3" in 8.34s.',
    "The above exception was caused by the following exception:",
    "cible.loader.common.LoadError: " + REASON.split("\n")[0],
    "",
    "Error: Materialization failed.",
]


def test_one_line_per_step_and_the_reason_once() -> None:
    output = RunOutput()

    shown = [line for line in map(output.feed, DAGSTER_OUTPUT) if line is not None]

    assert shown == ["  FAILED  raw_tables", "  done    warehouse_models_3  8.34s"]
    assert output.failure_paragraph("run", "/data/logs/run.log") == (
        f"cible run stopped: raw_tables failed.\n{REASON}\nFull log: /data/logs/run.log"
    )


@pytest.mark.timeout(600)
def test_a_check_that_did_not_pass_gets_its_line_and_passing_ones_none() -> None:
    output = RunOutput()
    step = "raw__web__events_events_fresh_on_event_time - ASSET_CHECK_EVALUATION - "
    failed = output.feed(
        PREFIX.format(level="DEBUG")
        + step
        + "Asset check 'events_fresh_on_event_time' on 'raw/web/events' did not pass. "
        "Description: 'error: latest event at 2026-10-31T23:35:44+00:00 (839 h before the check)'"
    )
    assert failed == (
        "  check   events_fresh_on_event_time on raw/web/events did not pass: "
        "error: latest event at 2026-10-31T23:35:44+00:00 (839 h before the check)"
    )
    passed = output.feed(
        PREFIX.format(level="DEBUG")
        + "customer_segments - ASSET_CHECK_EVALUATION - Asset check 'silhouette_above_floor' "
        "on 'ml/segmentation/segment_assignments' passed. Description: 'silhouette 0.210'"
    )
    assert passed is None
    assert output.failed_steps == []


def test_cible_run_on_a_bad_file_prints_a_paragraph_not_tracebacks(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "customers.csv").write_text("customer_number,email\nC1,a@x.fr\n")
    (landing / "orders.csv").write_text("order_id,customer_number,amount\nO1,C1,1\n")
    env = {
        **os.environ,
        "CIBLE_HOME": str(tmp_path),
        "CIBLE_LANDING_DIR": str(landing),
        "CIBLE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
    }

    result = subprocess.run(
        [sys.executable, "-m", "cible", "run"], env=env, capture_output=True, text=True
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "Stack Trace" not in result.stdout + result.stderr
    assert result.stderr.startswith(
        "cible run stopped: raw_tables failed.\norders.csv: missing required column(s) ordered_at."
    )
    assert "Nothing was loaded: the warehouse is as it was." in result.stderr
    log = Path(result.stderr.strip().splitlines()[-1].removeprefix("Full log: "))
    assert log.parent == tmp_path / "data" / "logs"
    assert "STEP_FAILURE" in log.read_text()
    assert len(result.stdout.splitlines()) < 10
