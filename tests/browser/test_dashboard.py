"""The marketer's dashboard in a real browser (Debian's chromium, headless, driven by Playwright):
every chart drawn, no console error, nothing fetched from the network, French on request.

The page is the one the jobs' runs (the session fixture `jobs`) write, rebuilt here from a copy
of their BI copy, which holds the runs' audience exports, with uplift rows added (the demo's
data ends at the export, so no window has data yet), so that every section has a chart to draw.
"""

import shutil
from pathlib import Path

import duckdb
import pytest

from cible.bi.dashboard import CHARTS, write_dashboard

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).with_name("artifacts")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# The first test asking for `jobs` sets it up (the whole run, then the jobs: up to 15 min on 2
# busy cores), within its own timeout.
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
    pytest.mark.timeout(1800),
]

# The run's exports are real (the activation step ran in `materialized_run`), but the demo's
# data ends at the export: no uplift window has data yet. Two measured campaigns are added.
UPLIFT = """
insert into marts.rpt_audience_uplift by name
select * from (values
    ('vip_email', 'x1', timestamp '2026-11-02 08:00:00', 30, 1000, 120, 90, 6,
     0.09, 0.05, 0.04, 0.002, 0.078, true, false, 'ok'),
    ('lapsed_ads', 'x2', timestamp '2026-11-02 08:00:00', 30, 700, 70, 14, 1,
     0.02, 0.0143, 0.0057, -0.02, 0.031, false, true, 'fewer than 5 conversions per arm')
) as t(audience, export_id, exported_at, window_days, treated_n, holdout_n,
       treated_conversions, holdout_conversions, treated_rate, holdout_rate, uplift,
       ci_low, ci_high, is_significant, is_too_small, status)
"""


@pytest.fixture(scope="module")
def full_page(jobs, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard")
    copy = folder / "cible_bi.duckdb"
    shutil.copyfile(jobs["published"], copy)
    with duckdb.connect(str(copy)) as con:
        assert con.execute("select count(*) from marts.fct_audience_exports").fetchall()[0][0]
        con.execute(UPLIFT)
    written = write_dashboard(published=copy, output=folder / "dashboard.html")
    assert written.charts == len(CHARTS)
    return written.path


def _open(playwright, url: str):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, requests = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_function(
        f"document.querySelectorAll('[data-chart] .main-svg').length >= {len(CHARTS)}",
        timeout=60_000,
    )
    return browser, page, errors, requests


def test_every_chart_renders_without_error_or_network(full_page):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser, page, errors, requests = _open(playwright, full_page.as_uri())
        drawn = page.eval_on_selector_all(
            "[data-chart]",
            "nodes => nodes.map(n => [n.dataset.chart, n.querySelectorAll('.main-svg').length])",
        )
        sankey = page.locator("#migrations .sankey").count()
        heading = page.locator("h1").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard_en.png"), full_page=True)
        browser.close()
    assert errors == []
    assert {chart for chart, svgs in drawn if svgs > 0} == set(CHARTS)
    assert sankey == 1, "the migrations section draws a flow diagram"
    assert heading.startswith("Cible")
    # Self-contained: the page itself and nothing else.
    assert requests and all(url.startswith(("file:", "data:", "blob:")) for url in requests)


def test_the_page_speaks_french_on_request(full_page):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page, errors, _ = _open(playwright, full_page.as_uri() + "?lang=fr")
        heading = page.locator("h1").inner_text()
        uplift_title = page.locator("#uplift h2").inner_text()
        language = page.evaluate("document.documentElement.lang")
        page.screenshot(path=str(ARTIFACTS / "dashboard_fr.png"), full_page=True)
        browser.close()
    assert errors == []
    assert language == "fr"
    assert heading == "Cible : segments, scores et audiences"
    assert uplift_title.startswith("Uplift : exportés contre groupe témoin")


def test_the_page_holds_aggregates_only(full_page, jobs):
    """No customer identifier of the warehouse appears in the page (nothing personal)."""
    page = full_page.read_text(encoding="utf-8")
    with duckdb.connect(str(jobs["published"]), read_only=True) as con:
        rows = con.execute("select customer_id from marts.fct_customer_scores").fetchall()
    ids = [customer for (customer,) in rows]
    assert ids and not [customer for customer in ids if customer in page]
