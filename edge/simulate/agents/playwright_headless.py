"""Playwright with its defaults: headless Chromium, ``page.fill`` and ``page.click``.

Stands for the plainest Playwright script an agent framework generates (and what Playwright MCP and
most "AI browser" wrappers do underneath): launch, fill each field in one call, click submit. Nothing
is hidden: ``navigator.webdriver`` is true, the UA says HeadlessChrome, the viewport is 1280x720, and
``fill`` inserts whole strings with no key events.
"""
from __future__ import annotations

from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.pw import PlaywrightAgent

INFO = AgentInfo("playwright_headless", "Playwright (Python), defaults: headless, fill, click", "playwright")


def run(job: Job) -> Outcome:
    return PlaywrightAgent().run(job)
