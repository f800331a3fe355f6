"""The dashboard in a real headless Chromium against a real daemon: it asks for the admin
token, renders the numbers of the JSON API, opens its feed with the recent events and follows
``/events`` live without a reload, groups near-identical findings (with filters), says "no
data yet" on a fresh daemon, pays unpaid analyses from their rows, and its triage panel pays,
holds and reverses payouts and judges their findings.

Screenshots of the empty, busy and triage views (and the live one) are written to
``$LOGMARKET_SCREENSHOTS``, else to a directory of pytest's temporary tree; each test prints
where (shown even when pytest captures output).

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromedriver``) and the
``selenium`` package; selenium-manager is kept offline and never asked to download.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http
from tests.integration.test_novelty import fabricated

os.environ.setdefault("SE_OFFLINE", "true")  # before selenium looks for a driver

from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

API = "/npe/log-marketplace"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0


def money(value: float) -> str:
    return f"${value:,.2f}"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("LOGMARKET_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shoot(
    browser: WebDriver, screenshot_dir: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Path]:
    """``shoot(name)``: the viewport (1280x800) as ``<name>.png``; ``full=True``: the whole
    page at that width; ``at=selector``: scrolled to that element first. Prints the path."""

    def save(name: str, *, full: bool = False, at: str | None = None) -> Path:
        target = screenshot_dir / f"logmarket-dashboard-{name}.png"
        size = browser.get_window_size()
        if at is not None:
            browser.execute_script(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'})", at
            )
        if full:
            height = int(browser.execute_script("return document.documentElement.scrollHeight"))
            browser.set_window_size(1280, height + 200)
        try:
            assert browser.save_screenshot(str(target)), f"no screenshot {name}"
        finally:
            browser.set_window_size(size["width"], size["height"])
        assert target.stat().st_size > 10_000, target
        with capsys.disabled():
            print(f"\ndashboard screenshot ({name}): {target}")
        return target

    return save


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
    market: DaemonProcess, browser: WebDriver, shoot: Callable[..., Path]
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
        title = finding.get("example") or finding["title"]
        assert title in shown and finding["severity"] in shown.lower()
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

    shoot("live")
    shoot("live-full", full=True)

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


# -- triage ----------------------------------------------------------------------------------


def analyze_log(d: DaemonProcess, content: str, sub: str) -> dict[str, Any]:
    status, body = http("POST", d.url + f"{API}/analyze",
                        {"source": "runtime", "logContent": content, "subPKPId": sub},
                        token=d.admin_token)  # fmt: skip
    assert status == 200, body
    assert body["paid"] is True, body
    return dict(body)


def account(d: DaemonProcess, sub: str) -> dict[str, Any]:
    status, body = http("GET", d.url + f"{API}/sub-pkp/{sub}", token=d.admin_token)
    assert status == 200, body
    return dict(body)


def payout_for(d: DaemonProcess, analysis_id: str) -> dict[str, Any]:
    """The triage entry (from the dashboard JSON) paying for this analysis."""
    (payout,) = [p for p in dashboard_json(d)["triage"] if p["analysis"]["id"] == analysis_id]
    return dict(payout)


def payouts(d: DaemonProcess, state: str) -> list[dict[str, Any]]:
    status, body = http("GET", d.url + f"{API}/payouts?state={state}", token=d.admin_token)
    assert status == 200, body
    return list(body["payouts"])


def tx_status(d: DaemonProcess, sub: str, tx_id: str) -> str:
    (tx,) = [t for t in account(d, sub)["transactions"] if t["id"] == tx_id]
    return str(tx["status"])


def open_dashboard(driver: WebDriver, d: DaemonProcess) -> None:
    driver.get(d.url + "/")
    wait = WebDriverWait(driver, WAIT)
    wait.until(ec.visibility_of_element_located((By.ID, "token-input"))).send_keys(d.admin_token)
    driver.find_element(By.ID, "token-submit").click()
    wait.until(ec.visibility_of_element_located((By.ID, "dashboard")))
    wait.until(
        lambda b: b.find_element(By.ID, "live-status").get_attribute("data-state") == "open",
        "the event stream never opened",
    )


def row(tx_id: str) -> str:
    return f'#triage > li[data-tx="{tx_id}"]'


def attr(driver: WebDriver, selector: str, name: str) -> str | None:
    """An attribute of the element matching ``selector`` (None: no such element), read in
    one script so a live refresh cannot make it stale."""
    value = driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        " return e ? e.getAttribute(arguments[1]) : null",
        selector, name,
    )  # fmt: skip
    return None if value is None else str(value)


def wait_attr(driver: WebDriver, selector: str, name: str, expected: str | None) -> None:
    WebDriverWait(driver, WAIT).until(
        lambda b: attr(b, selector, name) == expected,
        f"{selector} never had {name}={expected!r} (has {attr(driver, selector, name)!r})",
    )


_RETRY = (StaleElementReferenceException, NoSuchElementException)


def click(driver: WebDriver, selector: str) -> None:
    """Click the element matching ``selector`` once it is shown and enabled (a live refresh
    may replace it meanwhile: then the new one is clicked)."""

    def clicked(b: WebDriver) -> bool:
        e = b.find_element(By.CSS_SELECTOR, selector)
        if not (e.is_displayed() and e.is_enabled()):
            return False
        e.click()
        return True

    WebDriverWait(driver, WAIT, ignored_exceptions=_RETRY).until(
        clicked, f"{selector} was never there to click"
    )


def type_into(driver: WebDriver, selector: str, value: str) -> None:
    def typed(b: WebDriver) -> bool:
        e = b.find_element(By.CSS_SELECTOR, selector)
        if not e.is_displayed():
            return False
        e.clear()
        e.send_keys(value)
        return e.get_attribute("value") == value

    WebDriverWait(driver, WAIT, ignored_exceptions=_RETRY).until(
        typed, f"could not type {selector}"
    )


def wait_feed(driver: WebDriver, event_type: str, expected: str) -> None:
    WebDriverWait(driver, WAIT).until(
        lambda b: any(expected in t for t in texts(b, f'#live-feed li[data-type="{event_type}"]')),
        f"the feed never said {expected!r} ({texts(driver, '#live-feed li .ev-text')})",
    )


def assert_no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.accept()


def test_triage_holds_then_reverses_a_pending_payout(
    market: DaemonProcess, browser: WebDriver
) -> None:
    """A log that pays at once leaves a pending payout; in the triage panel Hold (with a note)
    keeps it from settling, and Reverse (which asks for a reason, and refuses none) takes the
    money back: over HTTP the Sub-PKP has nothing pending and the payment is reversed."""
    paid = analyze_log(market, fabricated(random.Random(0)), "hana")
    amount = paid["paymentAmount"]
    payout = payout_for(market, paid["id"])
    tx = payout["transactionId"]
    assert payout["status"] == "pending" and payout["amount"] == amount, payout
    assert (account(market, "hana")["pending"], account(market, "hana")["balance"]) == (amount, 0)

    open_dashboard(browser, market)
    wait_attr(browser, row(tx), "data-status", "pending")
    wait_text(browser, "total-pending", money(amount))
    assert text(browser, "total-refused") == "0"
    assert texts(browser, row(tx) + " .findings .title") == [
        f.get("example") or f["title"] for f in payout["analysis"]["findings"]
    ]
    (head,) = texts(browser, row(tx) + " .payout-head")
    assert money(amount) in head and "hana" in head and "Pending" in head

    click(browser, row(tx) + ' .actions button[data-action="hold"]')
    type_into(browser, row(tx) + ' form[data-form="hold"] input', "checking the SQL injection")
    click(browser, row(tx) + ' form[data-form="hold"] button[type="submit"]')
    wait_attr(browser, row(tx), "data-status", "held")
    (head,) = texts(browser, row(tx) + " .payout-head")
    assert "on hold: checking the SQL injection" in head, head
    assert attr(browser, row(tx) + ' .actions button[data-action="hold"]', "disabled") == ""
    wait_feed(browser, "log.payment.held", f"Held {money(amount)} to hana")
    assert [(p["transactionId"], p["note"]) for p in payouts(market, "held")] == [
        (tx, "checking the SQL injection")
    ]
    assert tx_status(market, "hana", tx) == "held"

    click(browser, row(tx) + ' .actions button[data-action="reverse"]')
    reason = row(tx) + ' form[data-form="reverse"]'
    click(browser, reason + ' button[type="submit"]')  # no reason yet: refused on the page
    wait_text(browser, "triage", "Say why this payment is reversed")
    assert attr(browser, reason + " input", "aria-invalid") == "true"
    assert tx_status(market, "hana", tx) == "held"
    type_into(browser, reason + " input", "fabricated log")
    click(browser, reason + ' button[type="submit"]')
    wait_attr(browser, row(tx), "data-tx", None)
    wait_text(browser, "triage-status", f"Reversed {money(amount)} to hana: fabricated log")
    wait_text(browser, "total-pending", money(0))
    wait_feed(browser, "log.payment.reversed", f"Reversed {money(amount)} to hana: fabricated log")
    assert_no_alert(browser)

    after = account(market, "hana")
    assert (after["pending"], after["balance"]) == (0, 0), after
    assert tx_status(market, "hana", tx) == "reversed"
    assert [p["transactionId"] for p in payouts(market, "reversed")] == [tx]
    assert dashboard_json(market)["triage"] == []
    wait_text(browser, "triage", "Nothing waiting for triage")


def test_triage_pays_a_payout_now_and_shows_a_failure_in_its_row(
    market: DaemonProcess, browser: WebDriver, shoot: Callable[..., Path]
) -> None:
    """Pay settles one payout at once (its amount becomes the Sub-PKP's balance) and leaves
    the other pending; a Pay that cannot reach the daemon says so in the row, without an
    alert, and works once the daemon is back."""
    waiting = analyze_log(market, fabricated(random.Random(1)), "ines")
    paid = analyze(market, "runtime-nginx-attacks.log", "jo", new="jo_pay")
    assert paid["paid"] is True, paid
    amount = paid["paymentAmount"]
    tx = payout_for(market, paid["id"])["transactionId"]
    other = payout_for(market, waiting["id"])["transactionId"]
    assert account(market, "jo")["pending"] == amount

    open_dashboard(browser, market)
    wait_attr(browser, row(tx), "data-status", "pending")
    wait_attr(browser, row(other), "data-status", "pending")
    wait_text(browser, "triage-count", "2 waiting")
    click(browser, row(tx) + ' .actions button[data-action="hold"]')  # its form, open
    shoot("triage", at="#triage-heading")
    click(browser, row(tx) + ' form[data-form="hold"] button[data-action="cancel"]')

    market.stop()
    click(browser, row(tx) + ' .actions button[data-action="pay"]')
    wait_text(browser, "triage", f"Could not pay {money(amount)} to jo")
    assert_no_alert(browser)
    market.start()
    wait_attr(browser, "#live-status", "data-opens", "2")
    assert account(market, "jo")["pending"] == amount  # the failed click paid nothing

    click(browser, row(tx) + ' .actions button[data-action="pay"]')
    wait_attr(browser, row(tx), "data-tx", None)
    wait_text(browser, "triage-status", f"Paid {money(amount)} to jo.")
    wait_feed(browser, "log.payment.settled", f"Settled {money(amount)} to jo")
    wait_text(browser, "total-pending", money(waiting["paymentAmount"]))
    assert attr(browser, row(other), "data-status") == "pending"

    jo = account(market, "jo")
    assert (jo["balance"], jo["pending"]) == (amount, 0), jo
    assert tx_status(market, "jo", tx) == "settled"
    assert account(market, "ines")["pending"] == waiting["paymentAmount"]
    assert [p["transactionId"] for p in dashboard_json(market)["triage"]] == [other]


def test_triage_verdict_on_a_finding_is_kept(market: DaemonProcess, browser: WebDriver) -> None:
    """Invalid on a finding is pressed at once, is kept by the API, and still shows after a
    reload; Valid then replaces it; the other findings have no verdict."""
    paid = analyze_log(market, fabricated(random.Random(2)), "kim")
    payout = payout_for(market, paid["id"])
    tx = payout["transactionId"]
    finding = next(f for f in payout["analysis"]["findings"] if f["kind"] == "security")
    fp = finding["fingerprint"]
    item = f'{row(tx)} li[data-fingerprint="{fp}"]'

    open_dashboard(browser, market)
    wait_attr(browser, item, "data-verdict", "none")
    assert attr(browser, item + ' button[data-verdict="invalid"]', "aria-pressed") == "false"
    click(browser, item + ' button[data-verdict="invalid"]')
    wait_attr(browser, item, "data-verdict", "invalid")
    shown = finding.get("example") or finding["title"]
    wait_text(browser, "triage-status", f"Marked “{shown}” invalid.")
    assert attr(browser, item + ' button[data-verdict="invalid"]', "aria-pressed") == "true"
    assert attr(browser, item + ' button[data-verdict="valid"]', "aria-pressed") == "false"
    (judged,) = [f for f in payout_for(market, paid["id"])["analysis"]["findings"]
                 if f["fingerprint"] == fp]  # fmt: skip
    assert judged["valid"] is False, judged

    browser.refresh()
    WebDriverWait(browser, WAIT).until(ec.visibility_of_element_located((By.ID, "dashboard")))
    wait_attr(browser, item, "data-verdict", "invalid")
    assert attr(browser, item + ' button[data-verdict="invalid"]', "aria-pressed") == "true"
    others = texts(browser, f"{row(tx)} li[data-fingerprint]", "data-verdict")
    assert sorted(others) == ["invalid"] + ["none"] * (len(payout["analysis"]["findings"]) - 1)

    click(browser, item + ' button[data-verdict="valid"]')
    wait_attr(browser, item, "data-verdict", "valid")
    assert attr(browser, item + ' button[data-verdict="invalid"]', "aria-pressed") == "false"
    (judged,) = [f for f in payout_for(market, paid["id"])["analysis"]["findings"]
                 if f["fingerprint"] == fp]  # fmt: skip
    assert judged["valid"] is True, judged
    assert_no_alert(browser)


def test_a_refused_payout_is_counted_live(short_tmp: Path, browser: WebDriver) -> None:
    """With a daily cap below what a log earns, the auto-payment is refused: the feed says
    why, the totals count it by reason, and nothing waits for triage."""
    d = DaemonProcess(short_tmp / "capped", "--daily-payout-cap", "5", marketplace=True).start()
    try:
        open_dashboard(browser, d)
        wait_text(browser, "triage", "Nothing waiting for triage")
        assert (text(browser, "total-refused"), text(browser, "total-refused-reasons")) == ("0", "")
        status, refused = http("POST", d.url + f"{API}/analyze",
                               {"source": "runtime", "logContent": fabricated(random.Random(3)),
                                "subPKPId": "lee"}, token=d.admin_token)  # fmt: skip
        assert status == 200 and refused["paid"] is False, refused
        assert refused["paymentAmount"] > 5, refused
        wait_feed(browser, "log.payment.refused",
                  f"Refused {money(refused['paymentAmount'])} to lee (sub-pkp-cap)")  # fmt: skip
        wait_text(browser, "total-refused", "1")
        assert text(browser, "total-refused-reasons") == "sub-pkp-cap 1"
        assert dashboard_json(d)["totals"]["payoutsRefused"] == {"sub-pkp-cap": 1}
        assert text(browser, "total-pending") == money(0)
        assert dashboard_json(d)["triage"] == []
        wait_text(browser, "total-analyses", "1")
    finally:
        d.stop()


# -- a place to work: empty states, feed history, grouped findings, paying from a row --------


def test_a_fresh_daemon_says_no_data_yet_instead_of_red_zeros(
    market: DaemonProcess, browser: WebDriver, shoot: Callable[..., Path]
) -> None:
    """Nothing analysed yet: quality and value say "no data yet" (no meter at 0, nothing
    below target in red), and so do the feed, the leaderboard, the findings and the recent
    analyses."""
    open_dashboard(browser, market)
    wait_attr(browser, "#quality", "data-empty", "true")
    assert browser.find_element(By.ID, "quality-empty").is_displayed()
    assert "No data yet" in text(browser, "quality-empty")
    assert not browser.find_element(By.ID, "quality-chart").is_displayed()
    assert texts(browser, "#quality-svg rect.meter") == []
    assert table_rows(browser, "quality") == [
        ["Quality", "–", "80", "no data yet"], ["Value", "–", "70", "no data yet"]
    ]  # fmt: skip
    assert texts(browser, "#quality .below-target, .status.below-target") == []
    assert not browser.find_element(By.ID, "daily-heading").is_displayed()
    assert browser.find_element(By.ID, "feed-empty").is_displayed()
    assert "No events yet" in text(browser, "feed-empty")
    for panel in ("top-earners", "findings", "recent", "earnings-empty"):
        assert "No data yet" in text(browser, panel), (panel, text(browser, panel))
    assert text(browser, "triage") == "Nothing waiting for triage"
    shoot("empty")


def test_the_feed_opens_with_its_history_and_continues_live(
    market: DaemonProcess, browser: WebDriver
) -> None:
    """Events recorded before the page opened are in the feed at once (newest first, as the
    API lists them); a payment made afterwards follows live, with no id twice or missing."""
    first = analyze(market, "runtime-nginx-attacks.log", "alice", new="alice_history")
    second = analyze(market, "runtime-traceback.log", "bob", new="bob_history")
    assert first["paid"] and second["paid"], (first, second)

    open_dashboard(browser, market)
    assert not browser.find_element(By.ID, "feed-empty").is_displayed()
    shown = texts(browser, '#live-feed li[data-type="log.payment.executed"] .ev-text')
    assert [t.split(",")[0] for t in shown] == [
        f"Payment {money(second['paymentAmount'])} to bob",
        f"Payment {money(first['paymentAmount'])} to alice",
    ]
    status, recent = http("GET", market.url + f"{API}/events/recent", token=market.admin_token)
    assert status == 200 and recent["events"], recent
    before = [e["id"] for e in recent["events"]]
    assert recent["lastId"] == before[0] == max(before)
    assert feed_ids(browser) == before  # there before anything new arrived
    assert set(texts(browser, "#live-feed li", "data-history")) == {"true"}
    assert browser.find_element(By.ID, "live-status").get_attribute("data-resumed-from") == str(
        recent["lastId"]
    )

    third = analyze(market, "runtime-nginx-attacks.log", "carol", new="carol_history")
    assert third["paid"], third
    wait_feed(browser, "log.payment.executed", f"Payment {money(third['paymentAmount'])} to carol")
    ids = feed_ids(browser)
    assert ids == list(range(max(ids), min(ids) - 1, -1)), ids
    assert ids[len(ids) - len(before) :] == before
    live = texts(browser, "#live-feed li:not([data-history])", "data-id")
    assert live and all(int(i) > recent["lastId"] for i in live), live


def slow_queries(n: int, seed: int) -> str:
    """``n`` lines of one slow query, durations and ids redrawn, and a disk error."""
    r = random.Random(seed)
    lines = [
        f"2026-05-01 12:{i // 60 % 60:02d}:{i % 60:02d} CRITICAL slow query took "
        f"{r.randint(1000, 9000)} ms: SELECT * FROM orders WHERE id={r.randint(1, 99999)}"
        for i in range(n)
    ]
    return "\n".join([*lines, "2026-05-01 12:59:59 ERROR disk full on /var/lib/db"])


def findings_api(d: DaemonProcess, query: str = "") -> dict[str, Any]:
    status, body = http("GET", d.url + f"{API}/findings?limit=100{query}", token=d.admin_token)
    assert status == 200, body
    return dict(body)


def shown_groups(driver: WebDriver) -> list[str]:
    return texts(driver, "#findings tbody tr[data-fingerprint]", "data-fingerprint")


def wait_groups(driver: WebDriver, expected: list[str], why: str) -> None:
    WebDriverWait(driver, WAIT).until(
        lambda b: shown_groups(b) == expected,
        f"{why}: the page shows {shown_groups(driver)}, the API {expected}",
    )


def test_near_identical_findings_are_grouped_and_filtered(
    market: DaemonProcess, browser: WebDriver, shoot: Callable[..., Path]
) -> None:
    """A slow query found in four analyses is one row with its count and first/last seen;
    its title shows a real duration and id (the first evidence line's), not the miner's
    placeholders, and no location (none was found). The agent, severity, Sub-PKP and
    paid/unpaid filters show what the API answers for them."""
    logs = [(slow_queries(100, seed), sub) for seed, sub in
            enumerate(("alice", "bob", "alice", "bob"))]  # fmt: skip
    done = [analyze_any(market, content, sub) for content, sub in logs]
    assert [a["paid"] for a in done] == [True, False, False, False], done  # a repeat earns 0
    for name, sub in (("runtime-nginx-attacks.log", "carol"), ("build-gcc-error.log", "carol")):
        analyze(market, name, sub)
    open_dashboard(browser, market)
    WebDriverWait(browser, WAIT).until(
        lambda b: texts(b, '#findings tbody tr[data-kind="performance"][data-analyses="4"]'),
        "no row for the slow query found in four analyses",
    )
    api = findings_api(market)
    slow = next(g for g in api["groups"] if g["kind"] == "performance"
                and "slow query" in g["title"])  # fmt: skip
    assert slow["analyses"] == 4 and slow["occurrences"] == 400, slow
    assert (slow["paidAnalyses"], slow["unpaidAnalyses"]) == (1, 3), slow
    assert "<n>" in slow["title"] and "<n>" not in slow["example"], slow
    assert slow["location"] is None, slow
    wait_groups(browser, [g["fingerprint"] for g in api["groups"]], "unfiltered")
    item = f'#findings tbody tr[data-fingerprint="{slow["fingerprint"]}"]'
    (cells,) = [r for r in table_rows(browser, "findings") if slow["example"] in r[1]]
    assert cells[2] == "×400" and cells[3] == "4 (1 paid, 3 unpaid)", cells
    assert cells[4] == "alice, bob", cells
    first = logs[0][0].splitlines()[0].split("CRITICAL ")[1]
    assert first in cells[1], (first, cells)  # the first evidence line's own values
    assert all("<n>" not in t for t in texts(browser, "#findings .title, #recent .title"))
    assert texts(browser, item + " .loc") == []
    assert attr(browser, item + " .title", "title") == "Pattern: " + slow["title"]
    assert attr(browser, item + " .first-seen time", "datetime") == slow["firstSeen"]
    assert attr(browser, item + " .last-seen time", "datetime") == slow["lastSeen"]
    # Each recent analysis shows a few findings; the rest wait behind "more".
    for li in texts(browser, "#recent > li[data-id]", "data-id"):
        assert len(texts(browser, f'#recent > li[data-id="{li}"] > ul.findings > li')) <= 3
    shoot("busy", full=True)

    for select, value, query in (
        ("filter-severity", "critical", "&severity=critical"),
        ("filter-agent", "error-detective", "&agent=error-detective&severity=critical"),
    ):
        Select(browser.find_element(By.ID, select)).select_by_value(value)
        wait_groups(browser, [g["fingerprint"] for g in findings_api(market, query)["groups"]],
                    query)  # fmt: skip
    click(browser, "#filter-clear")
    wait_groups(browser, [g["fingerprint"] for g in api["groups"]], "cleared")
    Select(browser.find_element(By.ID, "filter-sub")).select_by_value("carol")
    carol = findings_api(market, "&subPKPId=carol")["groups"]
    wait_groups(browser, [g["fingerprint"] for g in carol], "carol's")
    assert slow["fingerprint"] not in shown_groups(browser) and carol
    Select(browser.find_element(By.ID, "filter-sub")).select_by_value("")
    Select(browser.find_element(By.ID, "filter-paid")).select_by_value("false")
    unpaid = findings_api(market, "&paid=false")["groups"]
    wait_groups(browser, [g["fingerprint"] for g in unpaid], "unpaid")
    (cells,) = [r for r in table_rows(browser, "findings") if "slow query" in r[1]
                and r[0] == "critical"]  # fmt: skip
    assert cells[2:4] == ["×300", "3 (0 paid, 3 unpaid)"], cells
    Select(browser.find_element(By.ID, "filter-severity")).select_by_value("low")
    expected = findings_api(market, "&paid=false&severity=low")["groups"]
    wait_groups(browser, [g["fingerprint"] for g in expected], "unpaid and low")
    if not expected:
        wait_text(browser, "findings", "No findings match these filters.")


def analyze_any(d: DaemonProcess, content: str, sub: str) -> dict[str, Any]:
    status, body = http("POST", d.url + f"{API}/analyze",
                        {"source": "runtime", "logContent": content, "subPKPId": sub},
                        token=d.admin_token)  # fmt: skip
    assert status == 200, body
    return dict(body)


def test_an_unpaid_analysis_is_paid_then_reversed_from_its_row(
    short_tmp: Path, browser: WebDriver
) -> None:
    """An analysis a daily cap left unpaid has a Pay button in Recent analyses: while the
    cap holds, Pay says why in the row; once the cap is lifted, Pay pays it (settled at once,
    as the API's pay does), the row says paid and the feed shows the payment. Its Reverse
    (a settled payment is in no triage queue) asks for a reason and takes the money back."""
    d = DaemonProcess(short_tmp / "capped", "--daily-payout-cap", "5", marketplace=True).start()
    try:
        refused = analyze_any(d, fabricated(random.Random(4)), "mo")
        assert refused["paid"] is False and refused["paymentAmount"] > 5, refused
        amount = refused["paymentAmount"]
        open_dashboard(browser, d)
        li = f'#recent > li[data-id="{refused["id"]}"]'
        wait_attr(browser, li, "data-payable", "true")
        assert money(amount) + " unpaid" in texts(browser, li + " .recent-head")[0]
        click(browser, li + ' button[data-action="pay-analysis"]')
        wait_text(browser, "recent", f"Could not pay {money(amount)} to mo:")
        assert account(d, "mo")["balance"] == 0
        assert_no_alert(browser)

        d.stop()
        d.extra = [a for a in d.extra if a not in ("--daily-payout-cap", "5")]
        d.start()
        wait_attr(browser, "#live-status", "data-opens", "2")
        click(browser, li + ' button[data-action="pay-analysis"]')
        wait_text(browser, "recent-status", f"Paid {money(amount)} to mo.")
        wait_attr(browser, li, "data-paid", "true")
        assert texts(browser, li + ' button[data-action="pay-analysis"]') == []
        assert money(amount) + " paid" in texts(browser, li + " .recent-head")[0]
        wait_feed(browser, "log.payment.executed", f"Payment {money(amount)} to mo")
        wait_feed(browser, "log.payment.settled", f"Settled {money(amount)} to mo")
        mo = account(d, "mo")
        assert (mo["balance"], mo["pending"]) == (amount, 0), mo
        wait_text(browser, "total-paid", "1")
        wait_attr(browser, li, "data-payout", "settled")
        assert dashboard_json(d)["triage"] == []  # settled: only its row can reverse it

        click(browser, li + ' button[data-action="reverse-analysis"]')
        form = li + ' form[data-form="reverse"]'
        click(browser, form + ' button[type="submit"]')  # no reason: refused on the page
        wait_text(browser, "recent", "Say why this payment is reversed")
        assert account(d, "mo")["balance"] == amount
        type_into(browser, form + " input", "paid by mistake")
        click(browser, form + ' button[type="submit"]')
        wait_text(browser, "recent-status", f"Reversed {money(amount)} to mo: paid by mistake")
        wait_attr(browser, li, "data-payout", "reversed")
        assert texts(browser, li + ' button[data-action="reverse-analysis"]') == []
        assert money(amount) + " reversed" in texts(browser, li + " .recent-head")[0]
        wait_feed(browser, "log.payment.reversed", f"Reversed {money(amount)} to mo")
        mo = account(d, "mo")
        assert (mo["balance"], mo["pending"]) == (0, 0), mo
        assert_no_alert(browser)
    finally:
        d.stop()
