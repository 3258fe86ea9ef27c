"""Playwright (python) and the tools built on its protocol: the default headless run, key-by-key
typing, a hand-written stealth init script, headful under Xvfb without the automation switches, the
``playwright-stealth`` package, and patchright (a patched Playwright with its own driver).

Every variant uses Playwright's own idiom: ``page.fill`` (one ``insertText`` per field, no keys) or
``keyboard.type``, and ``page.click`` (one move to the element's centre, press, release).
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from importlib.metadata import version

from e2e.tools import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ToolRun, browser_version, desktop_ua, families

# The textbook stealth patches most Playwright guides share: navigator.webdriver removed, a desktop
# Chrome's plugins and window.chrome faked, and (through the context) a UA without "Headless".
STEALTH_INIT_SCRIPT = r"""
(() => {
  const proto = Object.getPrototypeOf(navigator);
  delete proto.webdriver;
  Object.defineProperty(proto, 'webdriver', { get: () => undefined, configurable: true, enumerable: true });
  const names = ['PDF Viewer', 'Chrome PDF Viewer', 'Chromium PDF Viewer', 'Microsoft Edge PDF Viewer', 'WebKit built-in PDF'];
  const plugins = names.map((name) => ({ name, filename: 'internal-pdf-viewer', description: 'Portable Document Format', length: 2 }));
  plugins.item = (i) => plugins[i] || null;
  plugins.namedItem = (n) => plugins.find((p) => p.name === n) || null;
  plugins.refresh = () => {};
  Object.defineProperty(proto, 'plugins', { get: () => plugins, configurable: true, enumerable: true });
  Object.defineProperty(proto, 'languages', { get: () => ['en-US', 'en'], configurable: true, enumerable: true });
  window.chrome = window.chrome || { runtime: {}, app: { isInstalled: false }, csi: () => ({}), loadTimes: () => ({}) };
})();
"""


def register(page, url: str, username: str, *, typing: str = "fill") -> ToolRun:
    """The register flow, Playwright's way; returns the decision the next page shows."""
    page.goto(url + "/register")
    page.wait_for_function("window.Tell && window.Tell.v")
    if typing == "fill":
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
    elif typing == "evaluate":
        for sel, value in (("#username", username), ("#password", PASSWORD)):
            page.eval_on_selector(sel, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", value)
    else:
        page.click("#username")
        page.keyboard.type(username, delay=40)
        page.click("#password")
        page.keyboard.type(PASSWORD, delay=40)
    with page.expect_navigation():
        page.click("#submit")
    el = page.wait_for_selector("#decision")
    score = el.get_attribute("data-score")
    return ToolRun("", "", browser_version(), el.get_attribute("data-decision"), families(el.get_attribute("data-families")),
                   float(score) if score else None)


def _run(url: str, username: str, *, api: str = "playwright", headless: bool = True, xvfb_size: tuple[int, int] | None = None,
         launch: dict | None = None, context: dict | None = None, init_script: str | None = None, stealth_pkg: bool = False,
         typing: str = "fill", tool: str = "playwright", binding: bool = False) -> ToolRun:
    if api == "patchright":
        from patchright.sync_api import sync_playwright
    else:
        from playwright.sync_api import sync_playwright
    with ExitStack() as stack:
        env = None
        if xvfb_size:
            from e2e.tools.xvfb import xvfb

            display = stack.enter_context(xvfb(*xvfb_size))
            env = {**os.environ, "DISPLAY": display}
        manager = sync_playwright()
        if stealth_pkg:
            from playwright_stealth import Stealth

            manager = Stealth().use_sync(manager)
        pw = stack.enter_context(manager)
        opts = {"executable_path": CHROMIUM, "args": list(CHROMIUM_ARGS), "headless": headless, **(launch or {})}
        if env:
            opts["env"] = env
        browser = pw.chromium.launch(**opts)
        stack.callback(browser.close)
        ctx = browser.new_context(**(context or {}))
        if init_script:
            ctx.add_init_script(init_script)
        if binding:
            ctx.expose_function("agentReport", lambda *args: None)
        result = register(ctx.new_page(), url, username, typing=typing)
    result.tool = tool
    result.version = version(api if api != "playwright" else "playwright")
    if stealth_pkg:
        result.version += f" + playwright-stealth {version('playwright-stealth')}"
    return result


def headless(url: str, username: str) -> ToolRun:
    """Playwright as its docs show it: headless, default context, fill and click."""
    return _run(url, username)


def typed(url: str, username: str) -> ToolRun:
    """Playwright typing key by key (keyboard.type, 40 ms apart)."""
    return _run(url, username, typing="type")


def binding_evaluate(url: str, username: str) -> ToolRun:
    """Playwright with an exposed function (agents report back through one) setting values by evaluate."""
    return _run(url, username, typing="evaluate", binding=True, tool="playwright-binding")


def stealth_script(url: str, username: str) -> ToolRun:
    """Headless Playwright with the textbook stealth init script and a UA without "Headless"."""
    return _run(url, username, init_script=STEALTH_INIT_SCRIPT, context={"user_agent": desktop_ua()},
                launch={"args": CHROMIUM_ARGS + ["--disable-blink-features=AutomationControlled"]}, tool="playwright-stealth-script")


def headful_xvfb(url: str, username: str) -> ToolRun:
    """Headful Chromium on a private Xvfb display, --enable-automation dropped, AutomationControlled off."""
    return _run(url, username, headless=False, xvfb_size=(1920, 1080),
                launch={"ignore_default_args": ["--enable-automation"],
                        "args": CHROMIUM_ARGS + ["--disable-blink-features=AutomationControlled"]},
                context={"no_viewport": True}, tool="playwright-headful-xvfb")


def stealth_package(url: str, username: str) -> ToolRun:
    """The PyPI playwright-stealth package (Stealth().use_sync), headless."""
    return _run(url, username, stealth_pkg=True, tool="playwright-stealth")


def patchright_headless(url: str, username: str) -> ToolRun:
    """patchright, headless, on Debian's Chromium."""
    return _run(url, username, api="patchright", tool="patchright")


def patchright_headful(url: str, username: str) -> ToolRun:
    """patchright as its README recommends (headful, no_viewport) on a private Xvfb display."""
    return _run(url, username, api="patchright", headless=False, xvfb_size=(1920, 1080), context={"no_viewport": True},
                tool="patchright-headful")
