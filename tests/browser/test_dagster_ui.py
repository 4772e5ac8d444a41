"""The Dagster UI in a real browser: the asset graph shows every group, "Materialize all" works.

Debian's chromium, headless, driven by Playwright (no browser download: the system one is
used), against `dagster dev` on localhost with a fresh instance and a small demo.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pipeline_support import SMALL_DATA_SCORING_CONFIG

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).with_name("artifacts")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
INSTANCE_SETTINGS = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_queue:
  max_concurrent_runs: 1
"""

BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id status } } } }"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _default_signals() -> None:
    # Started from a script, `dagster dev` inherits SIGINT/SIGTERM ignored and never stops.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Dagster:
    def __init__(self, url: str):
        self.url = url

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["data"]


@pytest.fixture
def dagster_dev(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_SETTINGS)
    port = _free_port()
    env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        CIBLE_LANDING_DIR=str(tmp_path / "landing"),
        CIBLE_TRUTH_DIR=str(tmp_path / "truth"),
        CIBLE_WAREHOUSE=str(tmp_path / "warehouse" / "cible.duckdb"),
        CIBLE_MODELS_DIR=str(tmp_path / "models"),
        CIBLE_PUBLISHED_DIR=str(tmp_path / "published"),
        CIBLE_OPS_DIR=str(tmp_path / "ops"),
        CIBLE_SCORING_CONFIG=str(SMALL_DATA_SCORING_CONFIG),
        CIBLE_DEMO="1",
        CIBLE_DEMO_CUSTOMERS="600",
        # A month of daily event partitions is enough to see them run (and quick to record).
        CIBLE_EVENT_PARTITIONS_START="2026-10-01",
    )
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-m",
            "cible.orchestration.definitions",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_default_signals,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
            break
        except OSError:
            time.sleep(1)
    else:
        process.kill()
        pytest.fail("dagster dev did not answer: " + (tmp_path / "dagster_dev.log").read_text())
    yield Dagster(url)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


def _groups() -> set[str]:
    from cible.orchestration.definitions import build_definitions

    graph = build_definitions(with_demo=True).resolve_asset_graph()
    return {node.group_name for node in graph.asset_nodes}


@pytest.mark.timeout(900)
def test_asset_graph_renders_and_materialize_all_succeeds(dagster_dev):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{dagster_dev.url}/asset-groups")
        expect(page.get_by_text("Global asset lineage")).to_be_visible(timeout=60_000)
        for group in sorted(_groups()):
            expect(page.get_by_role("button", name=group).first).to_be_visible(timeout=30_000)

        page.get_by_role("button", name="Materialize all").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Launch runs to materialize")).to_be_visible()
        # With more than 90 days of partitions the dialog first offers only the last 90.
        show_all = dialog.get_by_text("Show all partitions")
        if show_all.count():
            show_all.click()
        dialog.get_by_role("button", name="All", exact=True).click()
        dialog.get_by_role("button", name="Launch backfill").click()
        expect(dialog).to_be_hidden(timeout=30_000)

        status = None
        deadline = time.monotonic() + 780
        while time.monotonic() < deadline:
            backfills = dagster_dev.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"]
            status = backfills[0]["status"] if backfills else None
            if status not in (None, "REQUESTED"):
                break
            time.sleep(5)
        runs = dagster_dev.graphql("{ runsOrError { ... on Runs { results { status } } } }")
        statuses = [run["status"] for run in runs["runsOrError"]["results"]]

        page.goto(f"{dagster_dev.url}/asset-groups")
        expect(page.get_by_text("Global asset lineage")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(ARTIFACTS / "asset_graph_after_materialize_all.png"))
        page.goto(f"{dagster_dev.url}/runs")
        page.wait_for_timeout(3000)
        page.screenshot(path=str(ARTIFACTS / "runs_after_materialize_all.png"))
        browser.close()

    assert status == "COMPLETED_SUCCESS", (status, statuses)
    assert statuses and all(run == "SUCCESS" for run in statuses), statuses
