"""Playwright headful under Xvfb with the automation switches removed.

Stands for the "undetected" setups that desktop agents and scraping guides recommend: a real browser
window on a (virtual) X display instead of ``--headless``, Playwright's ``--enable-automation`` left out
(``ignore_default_args``) and ``--disable-blink-features=AutomationControlled`` so that
``navigator.webdriver`` is false. The viewport follows the window. Text is typed key by key with a
fixed delay, as those guides' scripts do. What remains is what the switches cannot remove: the CDP
client attached to the page, Playwright's own in-page artefacts, software WebGL and the rhythm.
"""
from __future__ import annotations

import contextlib
import os

from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.pw import PlaywrightAgent
from edge.simulate.agents.xvfb import virtual_display

INFO = AgentInfo("playwright_headful_xvfb",
                 "Playwright (Python), headful on Xvfb, --enable-automation removed, AutomationControlled disabled",
                 "playwright", heavy=True)
STEALTH_ARGS = ["--disable-blink-features=AutomationControlled", "--window-size=1366,900", "--window-position=0,0"]


class HeadfulAgent(PlaywrightAgent):
    headless = False

    @contextlib.contextmanager
    def environment(self, job: Job):
        with virtual_display() as display:
            yield {**os.environ, "DISPLAY": display}

    def launch_options(self, job: Job) -> dict:
        options = super().launch_options(job)
        options["args"] += STEALTH_ARGS
        options["ignore_default_args"] = ["--enable-automation"]
        return options

    def context_options(self, job: Job, browser) -> dict:
        return {"no_viewport": True}

    def enter(self, page, selector: str, text: str) -> None:
        page.click(selector)
        page.keyboard.type(text, delay=70)


def run(job: Job) -> Outcome:
    return HeadfulAgent().run(job)
