"""The browser tracker in Debian's headless chromium, on the demo page served locally, sending
to a real collector: the events that reach the broker match the interactions, none before
consent, and no cookie before consent either."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import cible.live
from cible.live import broker as br
from cible.live.config import load_live_config
from cible.live.keys import add_key
from cible.live.services import free_port, live_environment, live_process

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STATIC = Path(cible.live.__file__).with_name("static")
QUEUES = 4

pytestmark = [
    pytest.mark.xdist_group("live_tracker"),
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]


@pytest.fixture(scope="module")
def site():
    port = free_port()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(STATIC))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="module")
def collector(rabbit, redis_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracker")
    config_path = folder / "live.yml"
    config_path.write_text(
        f"collector: {{api_keys_file: {folder / 'keys.json'}}}\nbroker: {{queues: {QUEUES}}}\n"
    )
    key = add_key(load_live_config(config_path).collector.api_keys_path(), "site", ("collect",))
    env = live_environment(rabbit.url, redis_server.url, CIBLE_LIVE_CONFIG=str(config_path))
    process = live_process("collector", env, folder).start()
    yield process.url, key
    process.stop()


def received(url: str) -> list[dict]:
    """Every event the collector published so far (taken off the queues)."""

    async def drain() -> list[dict]:
        broker = await br.Broker.connect(url, queues=QUEUES)
        events = []
        for index in range(QUEUES):
            while (message := await broker.get_one(br.events_queue(index))) is not None:
                events.append(json.loads(message[0]))
        await broker.close()
        return events

    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, drain()).result()


def test_the_tracker_sends_what_the_visitor_did_and_nothing_before_consent(site, collector, rabbit):
    from playwright.sync_api import sync_playwright

    endpoint, key = collector
    page_url = f"{site}/demo.html?endpoint={endpoint}&key={key}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(page_url)
        # Before consent: interactions, scrolling, even leaving the page, send nothing.
        page.click("#related")
        page.click("#add")
        page.mouse.wheel(0, 800)
        page.evaluate("cible.flush()")
        time.sleep(1.5)
        assert context.cookies() == []
        assert page.evaluate("window.localStorage.length") == 0
        assert received(rabbit.url) == []

        page.click("#accept")
        cookie = next(c for c in context.cookies() if c["name"] == "cible_aid")
        assert 0 < cookie["expires"] - time.time() <= 395 * 24 * 3600 + 60
        page.click("#signin")
        page.click("#related")
        page.click("#add")
        page.click("#video")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_timeout(300)
        page.goto("about:blank")  # leaving: page_view with visible time, by sendBeacon
        deadline = time.monotonic() + 20
        events: list[dict] = []
        while time.monotonic() < deadline and len(events) < 5:
            events += received(rabbit.url)
            time.sleep(0.3)
        browser.close()

    by_type = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event)
    assert sorted(by_type) == ["add_to_cart", "login", "page_view", "product_view", "video_play"]
    assert all(len(found) == 1 for found in by_type.values())
    assert {e["anonymous_id"] for e in events} == {cookie["value"]}
    assert {e["customer_number"] for e in events} == {"C10000001"}
    assert by_type["product_view"][0]["product_sku"] == "WAT-0042"
    assert by_type["add_to_cart"][0]["product_sku"] == "WAT-0001"
    assert by_type["video_play"][0]["duration_ms"] == 12000
    page_view = by_type["page_view"][0]
    assert page_view["scroll_depth_pct"] == 100
    assert 300 <= page_view["duration_ms"] < 60_000
    assert all(e["received_at"] and e["occurred_at"].endswith("+00:00") for e in events)


def test_the_cookie_lives_13_months_from_its_deposit_not_from_the_last_visit(site, collector):
    """The anonymous id cookie is set once, at the first consent: a later page (the returning
    visitor's) or a second consent keeps its value and its expiry (CNIL: a tracker lives at
    most 13 months from its deposit, without extension by later visits)."""
    from playwright.sync_api import sync_playwright

    endpoint, key = collector
    page_url = f"{site}/demo.html?endpoint={endpoint}&key={key}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context()
        page = context.new_page()
        page.goto(page_url)
        page.click("#accept")
        first = next(c for c in context.cookies() if c["name"] == "cible_aid")
        assert 0 < first["expires"] - time.time() <= 395 * 24 * 3600 + 60
        time.sleep(2.5)  # a re-set cookie would expire at least 2 s later
        page.goto(page_url)  # the returning visitor: the tracker reads the cookie
        page.click("#accept")
        later = next(c for c in context.cookies() if c["name"] == "cible_aid")
        browser.close()
    assert later["value"] == first["value"]
    assert abs(later["expires"] - first["expires"]) < 1.0
