"""Issue 4 end to end: stealth and headful Playwright are caught on the FIRST protected write, and the
decision names the probe-backed rule that caught them (read back from the admin API).

The suite builds each variant itself (e2e/tools/pw.py): a stealth init script (webdriver removed, UA
and plugins faked), headful Chromium on a private Xvfb display without --enable-automation and with
AutomationControlled off, the PyPI playwright-stealth package, and patchright (headless and headful).
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from e2e.servers import ADMIN_TOKEN, tell_process
from e2e.tools.run import run_tool

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with tell_process("demo", tmp_path_factory.mktemp("demo-stealth")) as base:
        yield base


def first_decision(base: str, username: str) -> dict:
    req = urllib.request.Request(f"{base}/v1/accounts/{username}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        decisions = json.load(r)["decisions"]
    assert len(decisions) == 1, "one write, one decision"
    return decisions[0]


# variant → rules (each backed by a collector probe) that must be in the decision of the first write
CAUGHT_BY = {
    # lies probe (webdriver/languages/plugins getters replaced) + pw_events
    "playwright-stealth-script": {"headless.navigator-getter-lies", "playwright.mark-target-events"},
    # no webdriver, no HeadlessChrome: pw_events and the cdp probe (Runtime enabled)
    "playwright-headful-xvfb": {"playwright.mark-target-events", "headless.cdp-runtime-attached"},
    # lies (getters, Function.toString Proxy) + ctx_mismatch (Worker platform/WebGL) + forged WebGL
    "playwright-stealth": {"headless.navigator-getter-lies", "headless.native-function-lies", "headless.context-mismatch",
                           "playwright.mark-target-events"},
    # no Runtime.enable (cdp probe silent), but pw_events still fire
    "patchright": {"patchright.marks-without-runtime", "playwright.mark-target-events"},
    "patchright-headful": {"patchright.marks-without-runtime", "playwright.mark-target-events"},
}


@pytest.mark.parametrize("variant", list(CAUGHT_BY))
def test_stealth_variant_is_stopped_on_its_first_write_with_the_rule_named(demo, variant, tmp_path):
    username = "s_" + variant.replace("-", "_")[:24]
    result = run_tool(variant, demo, username, timeout=100, log=tmp_path / "tool.log")
    assert result.decision in ("challenge", "block"), result
    d = first_decision(demo, username)
    assert d["decision"] == result.decision and d["action"] == "register"
    stable = {r["id"] for r in d["rules"] if r["status"] == "stable"}
    assert CAUGHT_BY[variant] <= stable, sorted(stable)
    assert "playwright" in d["families"] or "patchright" in d["families"]


def test_headful_playwright_has_no_classic_marker_left(demo, tmp_path):
    """What the headful variant removes really is gone: the catch is the probes', not webdriver's."""
    run_tool("playwright-headful-xvfb", demo, "s_headful_check", timeout=100, log=tmp_path / "tool.log")
    ids = {r["id"] for r in first_decision(demo, "s_headful_check")["rules"]}
    assert not ids & {"headless.webdriver-flag", "headless.ua-headlesschrome", "playwright.default-viewport"}
