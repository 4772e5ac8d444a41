"""Cible installed from its wheel, far from the checkout, in the Dagster UI of a real browser:
the asset graph shows every group, and "Materialize all" builds the whole demo.

The wheel is installed into a folder of its own (tests/packaging_support.py); `cible dev` runs
from another folder with nothing of the checkout's settings, as a user who ran `pip install`
does. Debian's chromium, headless, driven by Playwright (no browser download: the system one
is used), clicks "Materialize all" on a small demo (600 customers). This is the one test of the
installed package running the whole pipeline, and of a backfill launched from the UI.
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

import duckdb
import pytest
from packaging_support import build_wheel, imported_from, install_wheel

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).with_name("artifacts")
CUSTOMERS = 600
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
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
    def __init__(self, url: str, home: Path, site: Path, env: dict[str, str]):
        self.url, self.home, self.site, self.env = url, home, site, env

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
    """`cible dev` of the installed wheel, started in a folder of its own (Cible's home): the
    demo data, warehouse, Dagster instance and dbt artifacts all go there."""
    wheel = build_wheel(tmp_path / "source", tmp_path / "wheel")
    site = tmp_path / "site"
    env = install_wheel(wheel, site)
    home = tmp_path / "elsewhere"
    home.mkdir()
    env.update(
        CIBLE_DEMO="1",
        CIBLE_DEMO_CUSTOMERS=str(CUSTOMERS),
        # A month of daily event partitions is enough to see them run (and quick to record).
        CIBLE_EVENT_PARTITIONS_START="2026-10-01",
    )
    port = _free_port()
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cible", "dev", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_default_signals,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    # `cible dev` first parses the dbt project into the home (no manifest ships).
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
            break
        except OSError:
            time.sleep(1)
    else:
        process.kill()
        pytest.fail("dagster dev did not answer: " + (tmp_path / "dagster_dev.log").read_text())
    yield Dagster(url, home, site, env)
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
    _assert_the_demo_was_built_from_the_wheel(dagster_dev)


def _assert_the_demo_was_built_from_the_wheel(dagster: Dagster) -> None:
    warehouse = dagster.home / "data" / "warehouse" / "cible.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        customers = con.execute("select count(*) from marts.dim_customers").fetchall()[0][0]
        segments = con.execute("select count(*) from marts.dim_segments").fetchall()[0][0]
        scored = con.execute("select count(*) from marts.fct_customer_scores").fetchall()[0][0]
        # The demo's erasure requests are applied (with the demo's key, made in that folder).
        erased = con.execute(
            "select count(*) from privacy.erasures where crm_records_found > 0"
        ).fetchall()[0][0]
    assert erased > 0 and customers == CUSTOMERS - erased
    assert (dagster.home / "data" / "secrets" / "privacy.key").is_file()
    assert segments > 0 and scored > 0
    imported = imported_from(dagster.home, dagster.env)
    assert str(dagster.site) in imported and str(PROJECT_ROOT) not in imported
    # Nothing was written into the checkout or the installed package but the bytecode.
    assert not (dagster.site / "cible" / "dbt_project" / "target").exists()
