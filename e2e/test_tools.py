"""Issue 3 end to end: real agent tools drive `tell demo` in a real Chromium, and the decision on their
first write names the tool's family. Every tool runs in its own process group (e2e/tools/run.py), killed
when it ends; the demo and the tools talk over loopback only."""
from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from e2e.servers import ADMIN_TOKEN, tell_process
from e2e.tools.run import run_tool
from e2e.tools.desktop import HUMAN_DATA

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with tell_process("demo", tmp_path_factory.mktemp("demo-tools")) as base:
        yield base


def account(base: str, username: str) -> dict:
    req = urllib.request.Request(f"{base}/v1/accounts/{username}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


# tool → (family the decision must name, a rule of that family the decision must carry)
TOOLS = {
    "playwright": ("playwright", "playwright.mark-target-events"),
    "puppeteer": ("puppeteer", "puppeteer.default-viewport"),
    "puppeteer-stealth": ("puppeteer", "puppeteer.stealth-webgl-iris"),
    "selenium": ("selenium", "selenium.cdc-globals"),
    "undetected-chromedriver": ("selenium", "selenium.uc-window-1920x1080"),
    "nodriver": ("cdp-direct", "cdp-direct.char-events-without-keys"),
    "drissionpage": ("cdp-direct", "cdp-direct.insert-text-and-moveless-click"),
}


@pytest.mark.parametrize("tool", list(TOOLS))
def test_real_tool_is_named_in_the_decision_on_its_first_write(demo, tool, tmp_path):
    if tool.startswith("puppeteer") and not shutil.which("node"):
        pytest.fail("node is not installed (scripts/test installs it)")
    family, rule = TOOLS[tool]
    username = "t_" + tool.replace("-", "_")[:20]
    result = run_tool(tool, demo, username, timeout=100, log=tmp_path / "tool.log")
    assert result.decision in ("challenge", "block"), result
    assert family in result.families, result
    d = account(demo, username)["decisions"][0]
    assert d["decision"] == result.decision
    assert family in d["families"]
    assert rule in [r["id"] for r in d["rules"]]


def test_computer_use_agent_under_xvfb_is_named(demo, tmp_path):
    """xdotool under Xvfb, no automation client at all: named by its X input alone."""
    result = run_tool("computer-use-xdotool", demo, "t_computer_use", timeout=100, log=tmp_path / "tool.log")
    assert result.decision in ("challenge", "block") and "desktop-agent" in result.families
    ids = [r["id"] for r in account(demo, "t_computer_use")["decisions"][0]["rules"]]
    assert {"desktop-agent.xdotool-typing", "desktop-agent.teleport-clicks"} <= set(ids)


def test_recorded_people_through_the_same_x_path_are_allowed(demo, tmp_path):
    """The negative control: a real Chromium with no automation client, driven by recorded human mouse
    paths and key timings through X input, is allowed and names no tool family."""
    if not (HUMAN_DATA / "sapimouse").is_dir():
        pytest.skip(f"recorded human data not found at {HUMAN_DATA}")
    result = run_tool("human-xdotool", demo, "t_person", timeout=100, log=tmp_path / "tool.log")
    assert result.decision == "allow", result
    assert result.families == []
