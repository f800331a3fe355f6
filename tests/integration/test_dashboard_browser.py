"""The dashboard in a real headless Chromium against a real daemon: it asks for the admin
token, renders the numbers of the JSON API, and follows ``/events`` live without a reload.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromedriver``) and the
``selenium`` package; selenium-manager is kept offline and never asked to download.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

os.environ.setdefault("SE_OFFLINE", "true")  # before selenium looks for a driver

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

API = "/npe/log-marketplace"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0


def money(value: float) -> str:
    return f"${value:,.2f}"


@pytest.fixture
def browser(short_tmp: Path) -> Iterator[WebDriver]:
    """Headless Chromium at 1280x800 with a throwaway profile, loopback only."""
    if not CHROMEDRIVER.exists() or shutil.which("chromium") is None:
        raise RuntimeError("install chromium and chromium-driver (apt-get install -y "
                           "chromium chromium-driver) to run the dashboard browser test")  # fmt: skip
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1280,800", f"--user-data-dir={short_tmp / 'profile'}",
    ):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "chromium"
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        # A 1280x800 viewport: the window is that plus the browser's own frame.
        frame = driver.execute_script("return window.outerHeight - window.innerHeight")
        driver.set_window_size(1280, 800 + int(frame))
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def market(short_tmp: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(short_tmp / "d", marketplace=True).start()
    try:
        yield d
    finally:
        d.stop()


def analyze(d: DaemonProcess, name: str, sub: str, *, new: str | None = None) -> dict[str, Any]:
    """Analyse a shipped sample; ``new``: with a traceback in a file of that name appended, a
    finding the marketplace has not seen (a known log alone is credited nothing)."""
    source, content = next((s, c) for n, s, c in SAMPLES if n == name)
    if new is not None:
        traceback = next(c for n, _, c in SAMPLES if n == "runtime-traceback.log")
        content += "\n" + traceback.replace("api/repo.py", f"api/{new}.py")
    status, body = http("POST", d.url + f"{API}/analyze",
                        {"source": source, "logContent": content, "subPKPId": sub},
                        token=d.admin_token)  # fmt: skip
    assert status == 200, body
    return dict(body)


def dashboard_json(d: DaemonProcess) -> dict[str, Any]:
    status, body = http("GET", d.url + f"{API}/dashboard", token=d.admin_token)
    assert status == 200, body
    return dict(body)


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def wait_text(driver: WebDriver, element_id: str, expected: str) -> None:
    WebDriverWait(driver, WAIT).until(
        ec.text_to_be_present_in_element((By.ID, element_id), expected),
        f"#{element_id} never showed {expected!r} (shows {text(driver, element_id)!r})",
    )


# Reads run as one script: a live refresh replaces the rows, and element references held
# across a refresh would go stale.
def table_rows(driver: WebDriver, table_id: str) -> list[list[str]]:
    rows = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map("
        "r => [...r.querySelectorAll('th, td')].map(c => c.textContent.trim()))",
        f"#{table_id} tbody tr",
    )
    return [list(map(str, r)) for r in rows]


def texts(driver: WebDriver, selector: str, attribute: str | None = None) -> list[str]:
    """The text (or an attribute) of every element matching ``selector``, read at once."""
    return [str(v) for v in driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map("
        "e => arguments[1] ? e.getAttribute(arguments[1]) : e.textContent)",
        selector, attribute,
    )]  # fmt: skip


def assert_shows(driver: WebDriver, data: dict[str, Any]) -> None:
    """The page shows exactly the numbers of this dashboard JSON."""
    t = data["totals"]
    assert text(driver, "total-analyses") == str(t["analyses"])
    assert text(driver, "total-paid") == str(t["paidAnalyses"])
    assert text(driver, "total-subpkps") == str(t["subPKPs"])
    assert text(driver, "total-earnings") == money(t["totalEarnings"])
    assert text(driver, "total-insights") == str(t["insights"])
    assert table_rows(driver, "top-earners") == [
        [str(s["rank"]), s["subPKPId"], money(s["totalEarned"]), str(s["paidLogs"]),
         str(s["level"]), f"{s['xp']:,}"]
        for s in data["topSellers"]
    ]  # fmt: skip
    assert [r[0] for r in table_rows(driver, "agents")] == [a["name"] for a in data["agents"]]
    assert [(r[3], r[4], r[5]) for r in table_rows(driver, "agents")] == [
        (str(a["logsAnalyzed"]), str(a["insightsGenerated"]), money(a["moneyPaid"]))
        for a in data["agents"]
    ]
    ids = texts(driver, "#recent > li", "data-id")
    assert ids == [a["id"] for a in data["recentAnalyses"]]


def test_dashboard_renders_the_api_and_follows_events_live(
    market: DaemonProcess, browser: WebDriver, short_tmp: Path
) -> None:
    """After a wrong token is refused, the admin token opens a dashboard showing the API's
    totals, leaderboard, agents, quality targets and findings; a new paid analysis then
    appears in the live feed and in the totals without a reload."""
    for name, sub in (
        ("test-pytest-failure.log", "alice"), ("runtime-traceback.log", "alice"),
        ("deploy-healthcheck.log", "bob"), ("build-gcc-error.log", "bob"),
        ("runtime-nginx-attacks.log", "carol"), ("runtime-heartbeat.log", "carol"),
    ):  # fmt: skip
        analyze(market, name, sub)
    before = dashboard_json(market)
    assert before["totals"]["paidAnalyses"] >= 1, before["totals"]

    browser.get(market.url + "/")
    wait = WebDriverWait(browser, WAIT)
    field = wait.until(ec.visibility_of_element_located((By.ID, "token-input")))
    assert not browser.find_element(By.ID, "dashboard").is_displayed()
    # Without a token the page asks for nothing but its own files.
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)"
    )
    assert sorted(fetched) == ["/static/dashboard.css", "/static/dashboard.js"], fetched
    field.send_keys("not-the-admin-token")
    browser.find_element(By.ID, "token-submit").click()
    wait_text(browser, "token-error", "not accepted")
    assert not browser.find_element(By.ID, "dashboard").is_displayed()

    browser.find_element(By.ID, "token-input").send_keys(market.admin_token)
    browser.find_element(By.ID, "token-submit").click()
    wait.until(ec.visibility_of_element_located((By.ID, "dashboard")))
    wait_text(browser, "total-analyses", str(before["totals"]["analyses"]))
    wait.until(
        lambda d: d.find_element(By.ID, "live-status").get_attribute("data-state") == "open",
        "the event stream never opened",
    )
    assert_shows(browser, before)
    quality = table_rows(browser, "quality")
    assert [(r[0], r[2]) for r in quality] == [("Quality", "80"), ("Value", "70")]
    assert [r[3] for r in quality] == [i["status"] for i in before["qualityTrends"]["insights"]]
    daily = before["qualityTrends"]["daily"]
    assert len(texts(browser, "#daily-svg circle.dot.q", "cy")) == len(daily) >= 1
    assert sorted(texts(browser, "#daily-svg text.q, #daily-svg text.v")) == [
        "Quality target 80",
        "Value target 70",
    ]
    first = before["recentAnalyses"][0]
    (shown,) = texts(browser, f'#recent > li[data-id="{first["id"]}"]')
    for finding in first["findings"]:
        assert finding["title"] in shown and finding["severity"] in shown.lower()
    bars = texts(browser, "#earnings-svg rect.bar", "height")
    assert len(bars) == len(before["earningsOverTime"]) >= 1

    # A marker on the window survives only if the page is never reloaded.
    browser.execute_script("window.__sameDocument = true")
    paid = analyze(market, "runtime-nginx-attacks.log", "dave", new="dave_live")
    assert paid["paid"] is True, paid
    wait.until(
        lambda d: any(
            f"Payment {money(paid['paymentAmount'])} to dave" in t
            for t in texts(d, '#live-feed li[data-type="log.payment.executed"]')
        ),
        "the payment never reached the live feed",
    )  # fmt: skip
    after = dashboard_json(market)
    assert after["totals"]["analyses"] == before["totals"]["analyses"] + 1
    wait_text(browser, "total-analyses", str(after["totals"]["analyses"]))
    wait_text(browser, "total-earnings", money(after["totals"]["totalEarnings"]))
    assert_shows(browser, after)
    assert browser.execute_script("return window.__sameDocument === true")

    shot = short_tmp / "logmarket-dashboard.png"
    assert browser.save_screenshot(str(shot)), "no screenshot"
    out_dir = os.environ.get("LOGMARKET_SCREENSHOT_DIR")
    target = (
        Path(out_dir) / "logmarket-dashboard.png"
        if out_dir
        else Path("/tmp/logmarket-dashboard.png")
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, target)
    assert target.stat().st_size > 10_000
    # And the whole page at the same width: the window grows to the document's height.
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    size = browser.get_window_size()
    browser.set_window_size(1280, height + 200)
    full = target.with_name("logmarket-dashboard-full.png")
    assert browser.save_screenshot(str(full)), "no full-page screenshot"
    browser.set_window_size(size["width"], size["height"])
    print(f"dashboard screenshot: {target} (1280x800), full page: {full}")

    # The token is kept for the browser session: a reload opens the dashboard directly.
    browser.refresh()
    wait.until(ec.visibility_of_element_located((By.ID, "dashboard")))
    wait_text(browser, "total-analyses", str(after["totals"]["analyses"]))
    assert not browser.find_element(By.ID, "login").is_displayed()


def feed_ids(driver: WebDriver) -> list[int]:
    return [int(i) for i in texts(driver, "#live-feed li", "data-id")]


def test_live_feed_resumes_after_a_daemon_restart_without_gap_or_duplicate(
    market: DaemonProcess, browser: WebDriver
) -> None:
    """When the daemon restarts, the page reconnects with the last event id it saw; the
    feed then holds every event id once, in order, and the totals catch up."""
    analyze(market, "runtime-traceback.log", "alice")
    browser.get(market.url + "/")
    wait = WebDriverWait(browser, WAIT)
    wait.until(ec.visibility_of_element_located((By.ID, "token-input"))).send_keys(
        market.admin_token
    )
    browser.find_element(By.ID, "token-submit").click()
    status = (By.ID, "live-status")
    wait.until(ec.text_to_be_present_in_element_attribute(status, "data-opens", "1"))
    first = analyze(market, "runtime-nginx-attacks.log", "dave", new="dave_restart")
    assert first["paid"] is True, first
    wait.until(lambda d: any("to dave" in t for t in texts(d, "#live-feed li")))
    seen = max(feed_ids(browser))

    market.stop()
    wait.until(
        lambda d: d.find_element(*status).get_attribute("data-state") != "open",
        "the page did not notice the stream ending",
    )
    market.start()
    second = analyze(market, "runtime-nginx-attacks.log", "erin", new="erin_restart")
    assert second["paid"] is True, second
    wait.until(
        lambda d: any(f"Payment {money(second['paymentAmount'])} to erin" in t
                      for t in texts(d, "#live-feed li")),
        "the payment made across the restart never reached the feed",
    )  # fmt: skip
    assert browser.find_element(*status).get_attribute("data-opens") == "2"
    assert browser.find_element(*status).get_attribute("data-resumed-from") == str(seen)
    ids = feed_ids(browser)
    assert ids == list(range(max(ids), min(ids) - 1, -1)), ids
    wait_text(browser, "total-analyses", str(dashboard_json(market)["totals"]["analyses"]))
