"""Playwright with stealth patches: headless, a clean UA, ``navigator.webdriver`` gone, fake plugins.

Stands for ``playwright-stealth`` (PyPI, the port of puppeteer-extra's evasions) plus the hand-written
init script most stealth guides add (:mod:`.stealth`): the User-Agent without "HeadlessChrome",
``navigator.webdriver`` false, five PDF plugins, ``en-US`` languages, ``window.chrome``, the
notification-permission fix. The package is applied when installed (``pip install 'tell[simulate]'``);
without it the row says so in its tool version. Input is still Playwright's ``fill`` and ``click``:
stealth patches the device, not the behaviour.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from edge.simulate.agents import stealth
from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.pw import PlaywrightAgent

INFO = AgentInfo("playwright_stealth",
                 "Playwright (Python) + playwright-stealth + hand-written init script, headless, fill",
                 "playwright")


def stealth_package_version() -> str | None:
    try:
        return version("playwright-stealth")
    except PackageNotFoundError:
        return None


class StealthAgent(PlaywrightAgent):
    def context_options(self, job: Job, browser) -> dict:
        return {"user_agent": stealth.user_agent(browser.version), "locale": "en-US",
                "viewport": {"width": 1366, "height": 768}}

    def prepare(self, context, page) -> None:
        if stealth_package_version():
            from playwright_stealth import Stealth

            Stealth(navigator_platform_override="Linux x86_64").apply_stealth_sync(context)
        context.add_init_script(stealth.INIT_SCRIPT)


def run(job: Job) -> Outcome:
    out = StealthAgent().run(job)
    pkg = stealth_package_version()
    out.detail = f"playwright-stealth {pkg}" if pkg else "playwright-stealth not installed: init script only"
    return out
