"""The spine in a real Chromium: `tell demo` running as a process, Playwright driving the page."""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from e2e.servers import ADMIN_TOKEN, tell_process
from edge.telemetry import decode
from fingerprints import extract
from tests.payloads import browser_headers

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with tell_process("demo", tmp_path_factory.mktemp("demo")) as base:
        yield base


def _admin(base: str, path: str) -> dict:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def _register(page, base: str, username: str, *, typing: str):
    """Fill the register form the way a given tool would; return the decoded telemetry the page sent."""
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_buffer) if r.url.endswith("/edge/telemetry") else None)
    page.goto(base + "/register")
    page.wait_for_function("window.Tell && window.Tell.v")
    if typing == "fill":
        page.fill("#username", username)
        page.fill("#password", "correct horse")
    else:
        page.click("#username")
        page.keyboard.type(username, delay=40)
        page.click("#password")
        page.keyboard.type("correct horse", delay=40)
    with page.expect_navigation():
        page.click("#submit")
    page.wait_for_selector("#decision")
    assert sent, "the collector sent no telemetry"
    return decode(sent[-1])


def test_default_headless_playwright_registration_is_not_allowed(demo, context_factory):
    page = context_factory().new_page()
    telemetry = _register(page, demo, "pw_default", typing="fill")
    decision = page.get_attribute("#decision", "data-decision")
    assert decision in ("challenge", "block")
    assert "headless" in page.get_attribute("#decision", "data-families")
    assert telemetry["markers"]["webdriver"] is True
    acct = _admin(demo, "/v1/accounts/pw_default")
    assert acct["decisions"][0]["decision"] == decision
    assert "headless.webdriver-flag" in [r["id"] for r in acct["decisions"][0]["rules"]]
    if os.environ.get("TELL_WRITE_DOCS"):
        page.screenshot(path=str(DOCS / "demo-blocked.png"), full_page=True)


def test_fill_is_recorded_without_key_events(demo, context_factory):
    page = context_factory().new_page()
    t = _register(page, demo, "pw_fill", typing="fill")
    kinds = [e[0] for e in t["events"]]
    assert "kd" not in kinds and "ku" not in kinds
    inserts = [e for e in t["events"] if e[0] == "in" and e[3] == "insertText"]
    assert [e[4] for e in inserts] == [len("pw_fill"), len("correct horse")]  # whole strings at once
    f = extract(t)
    assert f["insert_text_without_keys_chars"] >= len("pw_fill") + len("correct horse")


def test_key_by_key_typing_is_recorded_per_key(demo, context_factory):
    page = context_factory().new_page()
    t = _register(page, demo, "pw_typed", typing="type")
    keydowns = [e for e in t["events"] if e[0] == "kd"]
    assert len(keydowns) == len("pw_typed") + len("correct horse")
    inserts = [e for e in t["events"] if e[0] == "in" and e[3] == "insertText"]
    assert all(e[4] == 1 for e in inserts)
    f = extract(t)
    assert f.get("insert_text_without_keys_chars", 0) == 0
    assert "key_hold_ms_median" in f


def test_write_without_telemetry_is_challenged(demo, context_factory):
    ctx = context_factory()
    # With the headers a browser's form post carries (Playwright's request API is Node's HTTP
    # client and sends none of them; see the next test).
    r = ctx.request.post(demo + "/register", form={"username": "no_collector", "password": "x"},
                         headers=browser_headers(origin=demo))
    assert r.status == 401
    assert r.headers["x-tell-decision"] == "challenge"
    assert r.headers["x-tell-rules"] == "tell.missing-telemetry"


def test_api_write_under_the_browser_user_agent_is_named_by_the_network_rules(demo, context_factory):
    """Playwright's request API: the context's Chrome User-Agent over Node's HTTP client, no page —
    the hallmark of an API-only script (signatures/sets/network.yml)."""
    ctx = context_factory()
    r = ctx.request.post(demo + "/register", form={"username": "api_script", "password": "x"})
    assert r.status in (401, 403)
    rules = r.headers["x-tell-rules"].split(",")
    assert "tell.missing-telemetry" in rules
    assert {"network.browser-ua-without-sec-fetch", "network.browser-ua-without-accept-language"} <= set(rules)


def test_garbage_telemetry_gets_400(demo, context_factory):
    ctx = context_factory()
    r = ctx.request.post(demo + "/edge/telemetry", data=b"\xc1garbage", headers={"Content-Type": "application/msgpack"})
    assert r.status == 400
    body = r.json()
    assert body["error"] == "bad_telemetry" and body["field"] == "$"
