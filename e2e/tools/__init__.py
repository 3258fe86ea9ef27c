"""Drivers for the real agent tools the e2e suite runs and the signature fixtures are recorded from.

Each tool runs in a process of its own (``python -m e2e.tools NAME --url URL --username U``), started
by :func:`e2e.tools.run.run_tool` in a new process group that is killed when it ends or times out, so
a hung tool or a stray Chromium costs one test, never the session. Every tool does the same thing the
way that tool does it: open ``/register`` on `tell demo`, wait for the collector, enter a username and
a password, press Register, and read the decision the next page shows.

Modules: ``pw`` (Playwright and its stealth variants, patchright), ``puppeteer`` (Node, ``js/``),
``selenium_tools`` (chromedriver, undetected-chromedriver), ``cdp_tools`` (nodriver, DrissionPage),
``desktop`` (xdotool under Xvfb: a computer-use agent, and a replayed person with no automation
client), ``agents`` (browser-use, Stagehand, Skyvern, nanobrowser, Playwright MCP artefacts reproduced
in a real page), ``unseen`` (pydoll, zendriver, rebrowser-playwright, selenium-driverless: tools no rule
was written from, through register → post → comment), ``capture`` (the recording proxy), ``record``
(writes signature fixtures).
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import asdict, dataclass, field

CHROMIUM = os.environ.get("TELL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TELL_CHROMEDRIVER", "/usr/bin/chromedriver")
# Debian's Chromium as root needs --no-sandbox; the rest keep it from calling home during a run.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PASSWORD = "correct horse battery"
RESULT_MARK = "@@tell-tool-result@@ "


@dataclass
class ToolRun:
    tool: str
    version: str
    browser: str = ""
    decision: str | None = None
    families: list[str] = field(default_factory=list)
    score: float | None = None
    note: str = ""
    writes: list[dict] = field(default_factory=list)  # tools that go on past register: each write's decision

    def to_json(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def browser_version() -> str:
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout
    m = re.search(r"\d+\.\d+\.\d+\.\d+", out)
    return m.group(0) if m else out.strip()


def families(raw: str | None) -> list[str]:
    """The demo's ``data-families="headless, playwright"`` → ``["headless", "playwright"]``."""
    return sorted({f.strip() for f in (raw or "").split(",") if f.strip() and f.strip() != "—"})


def desktop_ua(platform: str = "X11; Linux x86_64") -> str:
    """A desktop Chrome UA for this Chromium's major version, without "Headless" in it."""
    major = browser_version().split(".")[0] or "120"
    return f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
