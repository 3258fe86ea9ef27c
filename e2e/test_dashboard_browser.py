"""The operations dashboard in a real Chromium: sign in through the form, find a decision made a
moment ago, open its account. ``TELL_WRITE_DOCS=1`` also writes docs/dashboard-*.png."""
from __future__ import annotations

import asyncio
import base64
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge.app import make_app
from edge.config import load_config
from edge.decision import Decision, Enforcement, RuleHit, Verdict
from edge.store.sqlite import SQLiteStore
from edge.telemetry import encode
from tests.payloads import headless_playwright

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parent.parent / "docs"
TOKEN = "e2e-dashboard-token-5f2c9a"
WIDTH = 1360


def _config(tmp_path: Path):
    return load_config(env={"TELL_ADMIN_TOKEN": TOKEN, "TELL_SECRET": "e" * 32, "TELL_SIGNATURES_POLL_S": "0",
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3"})


def _decide(base: str, account: str) -> str:
    """A write described as a gateway would, carrying a headless Playwright's telemetry inline."""
    inline = base64.urlsafe_b64encode(encode(headless_playwright())).rstrip(b"=").decode()
    req = urllib.request.Request(base + "/v1/decide", method="POST", headers={
        "X-Tell-Action": "register", "X-Tell-Account": account, "X-Tell-Telemetry": inline})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.headers["X-Tell-Request-Id"]
    except urllib.error.HTTPError as exc:  # 401/403 are answers, not failures
        assert exc.code in (401, 403), exc.read()
        return exc.headers["X-Tell-Request-Id"]


def _sign_in(page, base: str) -> None:
    page.goto(base + "/admin")
    assert page.url.endswith("/admin/login")  # redirected: no cookie yet
    page.fill("#token", TOKEN)
    page.click("#sign-in")
    page.wait_for_url(base + "/admin")


def test_signed_in_operator_sees_a_fresh_decision_and_opens_the_account(tmp_path, live_server, context_factory):
    base = live_server(make_app(_config(tmp_path)))
    account = f"e2e-{random.randrange(10**6)}"
    request_id = _decide(base, account)
    page = context_factory().new_page()
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(base + "/admin/login")
    page.fill("#token", "wrong-token")
    page.click("#sign-in")
    assert "not right" in page.inner_text(".alert")
    _sign_in(page, base)
    row = page.locator(f'#recent tr[data-request-id="{request_id}"]')
    assert row.is_visible()
    assert row.locator(".badge").inner_text() in ("challenge", "block")
    assert page.locator("#chart svg rect.seg").count() >= 1
    row.locator(f'a:text-is("{account}")').click()
    page.wait_for_url(f"{base}/admin/accounts/{account}")
    assert page.inner_text("#account-id") == account
    assert page.locator(f'.timeline li[data-request-id="{request_id}"]').is_visible()
    assert "headless.webdriver-flag" in page.inner_text(".timeline")
    assert not [m for m in console if "Content Security Policy" in m]  # nothing the CSP had to stop
    page.click("#logout")
    page.wait_for_url(base + "/admin/login")
    page.goto(base + "/admin")
    assert page.url.endswith("/admin/login")


# --- a realistic day, for the screenshots ------------------------------------------------------

_BOTS = [
    [RuleHit("headless.webdriver-flag", "headless", 0.9), RuleHit("headless.ua-headlesschrome", "headless", 0.8)],
    [RuleHit("playwright.default-viewport", "playwright", 0.5), RuleHit("playwright.binding-globals", "playwright", 0.9)],
    [RuleHit("puppeteer.stealth-webgl-iris", "puppeteer", 0.7), RuleHit("headless.software-webgl", "headless", 0.6)],
    [RuleHit("selenium.cdc-globals", "selenium", 0.95)],
    [RuleHit("network.http-library-ua", "network", 0.9)],
]
_TITLES = {"headless.webdriver-flag": "navigator.webdriver is true", "headless.ua-headlesschrome": "User-Agent says HeadlessChrome",
           "playwright.default-viewport": "Playwright's default 1280x720 viewport in headless Chromium",
           "playwright.binding-globals": "Playwright binding or init-script globals on window",
           "puppeteer.stealth-webgl-iris": "WebGL claims Intel Iris OpenGL Engine on a non-Mac platform",
           "headless.software-webgl": "WebGL renders in software (SwiftShader / llvmpipe)",
           "selenium.cdc-globals": "chromedriver cdc_ globals on window or document",
           "network.http-library-ua": "Write sent by an HTTP library under its own User-Agent"}
_PEOPLE = ["amelia.r", "li_wei", "sofia-m", "noah88", "yuki.t", "mateo", "zara_k", "oliver.j", "chen.xiao", "ines"]
_AGENTS = ["growth_bot_17", "promo.deals.daily", "xhs-auto-0042", "agent_runner", "<script>alert(1)</script>"]


async def _seed_day(path: str, n: int = 420) -> None:
    rng = random.Random(7)
    now = time.time()
    store = SQLiteStore(path)
    for ts in sorted(now - rng.random() ** 1.3 * 86400 for _ in range(n)):
        if rng.random() < 0.72:
            v = Verdict.CHALLENGE if rng.random() < 0.06 else Verdict.ALLOW
            beh = rng.random() * 0.3
            rules = (RuleHit("network.chromium-sec-fetch-order", "network", 0.3, "test"),) if rng.random() < 0.05 else ()
            d = Decision(v, 0.5 if v is Verdict.CHALLENGE else beh * 0.9, rng.choice(["post", "comment", "comment", "message"]),
                         rules, ("irregular typing rhythm",) if v is Verdict.CHALLENGE else (), "f84c64426b20",
                         account_id=rng.choice(_PEOPLE), behaviour_score=beh, ts=ts)
        else:
            hits = rng.choice(_BOTS)
            v = Verdict.BLOCK if rng.random() < 0.7 else Verdict.CHALLENGE
            d = Decision(v, 0.9 if v is Verdict.BLOCK else 0.6, rng.choice(["register", "post", "post", "comment", "message"]),
                         tuple(hits), tuple(_TITLES[h.id] for h in hits), "f84c64426b20",
                         account_id=rng.choice(_AGENTS), behaviour_score=0.7, ts=ts)
        await store.record(d)
    for reporter, acct in [("u1", "promo.deals.daily"), ("u2", "promo.deals.daily"), ("u3", "promo.deals.daily"),
                           ("u4", "xhs-auto-0042"), ("u5", "xhs-auto-0042"), ("u6", "noah88"), ("u7", "<script>alert(1)</script>")]:
        await store.report(reporter, acct, "spam")
    await store.override("agent_runner", Enforcement.NONE, "appeal upheld: shared office IP", "moderator:kim")
    await store.close()


def test_dashboard_pages_fit_the_viewport(tmp_path, live_server, context_factory):
    # Playwright's sync API keeps an event loop on this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(_seed_day(str(tmp_path / "tell.sqlite3")))).result()
    base = live_server(make_app(_config(tmp_path)))
    page = context_factory(viewport={"width": WIDTH, "height": 900}).new_page()
    _sign_in(page, base)
    shots = [("dashboard-overview.png", base + "/admin"), ("dashboard-account.png", base + "/admin/accounts/xhs-auto-0042")]
    for name, url in shots:
        page.goto(url)
        # Nothing wider than the window: a table that overflows its card looks broken.
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        assert page.evaluate("[...document.querySelectorAll('.card')].every(c => c.scrollWidth <= c.clientWidth + 1)")
        page.screenshot(path=str(tmp_path / name), full_page=True)
        if os.environ.get("TELL_WRITE_DOCS"):
            page.screenshot(path=str(DOCS / name), full_page=True)
    # The hostile account id is shown as text, never run.
    page.goto(base + "/admin/accounts/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert page.inner_text("#account-id") == "<script>alert(1)</script>"
