"""Tools no rule was written from, driving `tell demo` in a real Chromium the way their own docs show
(e2e/tools/unseen.py, e2e/tools/js/unseen.js): each is refused by its second write at the latest, and
the decision names its family and the rule that caught it (read back from the admin API).

pydoll's humanised input (Bézier paths, typos, human key timing) passed every rule on its first run
and was only challenged by the timing model; ``cdp-direct.curved-path-to-exact-centre`` was written
from that recording. The others were caught by rules written for the tools they derive from.
"""
from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from e2e.servers import ADMIN_TOKEN, tell_process
from e2e.tools.run import run_tool

pytestmark = pytest.mark.e2e

REFUSED = ("challenge", "block")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with tell_process("demo", tmp_path_factory.mktemp("demo-unseen")) as base:
        yield base


def decisions(base: str, username: str) -> list[dict]:
    req = urllib.request.Request(f"{base}/v1/accounts/{username}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return sorted(json.load(r)["decisions"], key=lambda d: d["ts"])


# tool → (family the refusing decision names, a stable rule of that family it must carry)
UNSEEN = {
    "pydoll-headful": ("cdp-direct", "cdp-direct.curved-path-to-exact-centre"),
    "zendriver-headful": ("cdp-direct", "cdp-direct.char-events-without-keys"),
    "rebrowser-playwright": ("playwright", "playwright.mark-target-events"),
    "selenium-driverless": ("cdp-direct", "cdp-direct.text-trails-its-keydown"),
    "rebrowser-puppeteer": ("puppeteer", "puppeteer.default-viewport"),
}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("tool", list(UNSEEN))
def test_unseen_tool_is_refused_by_its_second_write_with_its_family_named(demo, tool, tmp_path):
    if tool == "rebrowser-puppeteer" and not shutil.which("node"):
        pytest.fail("node is not installed (scripts/test installs it)")
    family, rule = UNSEEN[tool]
    username = "u_" + tool.replace("-", "_")[:24]
    result = run_tool(tool, demo, username, timeout=220, log=tmp_path / "tool.log")
    assert [w["action"] for w in result.writes][:2] == ["register", "post"], result
    first_two = result.writes[:2]
    assert any(w["decision"] in REFUSED for w in first_two), result
    refused = next(w for w in first_two if w["decision"] in REFUSED)
    assert family in refused["families"], result
    # once refused, every later write is refused too
    later = result.writes[result.writes.index(refused) + 1:]
    assert all(w["decision"] in REFUSED for w in later), result

    # a refused registration sets no session, so later writes are not on this account: read the
    # account's decisions up to the refused write
    i = result.writes.index(refused)
    recorded = decisions(demo, username)
    assert [d["action"] for d in recorded[:i + 1]] == [w["action"] for w in result.writes[:i + 1]]
    d = recorded[i]
    assert d["decision"] == refused["decision"] and family in d["families"]
    assert rule in {r["id"] for r in d["rules"] if r["status"] == "stable"}, sorted(r["id"] for r in d["rules"])
