"""Tools no rule was written from: each drives register → post → comment the way its own docs show.

* pydoll-python (``pydoll-headful``): ``element.type_text(text, humanize=True)`` and
  ``element.click(humanize=True)`` (Bézier mouse paths with tremor, human key timing with typos), its
  README's Google-search example; headful (its default) on a private Xvfb display.
  ``pydoll-headful-offset`` gives the submit click a random ``x_offset``/``y_offset``; ``pydoll`` is
  headless with the default (fast) input.
* zendriver (nodriver's fork): ``element.send_keys`` (CDP ``char`` events) and ``element.click`` (a JS
  ``el.click()`` after its red-dot ``flash``), headful (its default) on Xvfb.
* rebrowser-playwright: Playwright with the ``Runtime.enable`` leak patched (the rebrowser-patches
  default, ``addBinding``); ``locator.click`` and ``locator.press_sequentially`` with a delay, headless.
* selenium-driverless: ``element.send_keys`` (its humanised ``click`` first, then per character a
  keyDown with no text, a ``char`` event 10–50 ms later that inserts it, a keyUp) and
  ``element.click`` (a curved, timed move to a random point in the element); headful (its default) on Xvfb.
* rebrowser-puppeteer-core (Node, ``js/unseen.js``): ``page.click`` and ``page.type`` with a delay, headless.
* botasaurus: its ``Driver`` with ``enable_human_mode()`` (botasaurus-humancursor), ``driver.click`` and
  ``driver.type`` (nodriver's ``char`` events), headful on Xvfb.

Every tool reads the decision the page shows after each write. A write the demo refuses leaves no post
to comment on: then the comment goes to the first post on the board (``tell demo`` seeded with one,
as ``tell simulate --demo`` runs it), or is skipped on a bare demo.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
from importlib.metadata import version

from e2e.tools import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ToolRun, browser_version, families

POST = "Finally tried the dumpling place on 5th street, worth the queue."
COMMENT = "Agreed, the chive ones are the best."
READY = "!!(window.Tell && window.Tell.v)"
DECISION = ("(() => { const e = document.getElementById('decision'); if (!e) return null;"
            " const d = e.dataset; return [d.decision, d.families, d.score].join('|'); })()")
NEXT = "(() => { const a = document.getElementById('next'); return a && a.href.includes('/comment') ? a.href : null; })()"
FIRST_POST = "(() => { const a = document.querySelector(\"a[href^='/comment?post=']\"); return a ? a.href : null; })()"
XVFB_SIZE = (1920, 1080)


class Driver:
    """What the flow needs from a tool; each subclass does it with that tool's own API."""

    async def goto(self, url: str) -> None: ...

    async def js(self, expr: str): ...

    async def type(self, selector: str, text: str) -> None: ...

    async def click(self, selector: str) -> None: ...

    async def wait(self, expr: str, timeout: float = 30) -> object:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with contextlib.suppress(Exception):  # a navigation in flight: the context is gone for a moment
                if value := await self.js(expr):
                    return value
            if loop.time() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {expr}")
            await asyncio.sleep(0.05)


async def _write(d: Driver, fields: list[tuple[str, str]]) -> dict:
    await d.wait(READY)
    for sel, text in fields:
        await d.type(sel, text)
    await d.click("#submit")
    decision, fams, score = str(await d.wait(DECISION)).split("|")
    return {"decision": decision, "families": families(fams), "score": float(score) if score else None}


async def flow(d: Driver, url: str, username: str) -> list[dict]:
    """register → post → comment; one entry per write made, with the decision the page showed."""
    writes = []
    await d.goto(url + "/register")
    writes.append({"action": "register", **await _write(d, [("#username", username), ("#password", PASSWORD)])})
    await d.goto(url + "/post")
    writes.append({"action": "post", **await _write(d, [("#body", POST)])})
    target = await d.js(NEXT)
    if not target:
        await d.goto(url + "/")
        await d.wait("document.readyState === 'complete'")
        target = await d.js(FIRST_POST)
    if target:
        await d.goto(target)
        writes.append({"action": "comment", **await _write(d, [("#body", COMMENT)])})
    return writes


def _result(tool: str, ver: str, writes: list[dict], note: str) -> ToolRun:
    first = writes[0]
    return ToolRun(tool, ver, browser_version(), first["decision"], first["families"], first["score"], note, writes)


@contextlib.contextmanager
def _display():
    """A private Xvfb display for the headful tools, exported as DISPLAY for the browser they start."""
    from e2e.tools.xvfb import xvfb

    with xvfb(*XVFB_SIZE) as display:
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display
        try:
            yield display
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old


def _run(coro_fn, timeout: float = 100):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), timeout))
    finally:
        loop.close()


# --- pydoll ------------------------------------------------------------------------------------------

class PydollDriver(Driver):
    def __init__(self, tab, humanize: bool, offset: bool = False):
        self.tab, self.humanize, self.offset = tab, humanize, offset

    async def goto(self, url: str) -> None:
        await self.tab.go_to(url)

    async def js(self, expr: str):
        r = await self.tab.execute_script(expr, return_by_value=True)
        return r["result"]["result"].get("value")

    async def type(self, selector: str, text: str) -> None:
        el = await self.tab.query(selector, timeout=10)
        await el.type_text(text, humanize=self.humanize)  # clicks the field first, humanised too

    async def click(self, selector: str) -> None:
        el = await self.tab.query(selector, timeout=10)
        if self.offset:  # click(x_offset=…, y_offset=…) as pydoll's docs show: off the centre, by a random few px
            await el.click(x_offset=random.randint(-30, 30), y_offset=random.randint(-8, 8), humanize=self.humanize)
        else:
            await el.click(humanize=self.humanize)


def _pydoll(url: str, username: str, *, humanize: bool, headless: bool, offset: bool = False) -> ToolRun:
    from pydoll.browser.chromium import Chrome
    from pydoll.browser.options import ChromiumOptions

    async def main() -> list[dict]:
        opts = ChromiumOptions()
        opts.binary_location = CHROMIUM
        opts.headless = headless
        for a in CHROMIUM_ARGS:
            if a != "--no-first-run":  # pydoll adds it itself, and refuses a duplicate
                opts.add_argument(a)
        async with Chrome(options=opts) as browser:
            tab = await browser.start()
            return await flow(PydollDriver(tab, humanize, offset), url, username)

    with _display() if not headless else contextlib.nullcontext():
        writes = _run(main, 150)
    how = ("type_text/click with humanize=True" if humanize else "type_text/click, defaults") + \
        (", submit clicked at a random offset from the centre" if offset else "") + \
        (", headless" if headless else f", headful on Xvfb {XVFB_SIZE[0]}x{XVFB_SIZE[1]}")
    name = ("pydoll" if headless else "pydoll-headful") + ("-offset" if offset else "")
    return _result(name, version("pydoll-python"), writes, how)


def pydoll_headful(url: str, username: str) -> ToolRun:
    """pydoll as its README shows it: humanize=True on typing and clicks, headful (its default)."""
    return _pydoll(url, username, humanize=True, headless=False)


def pydoll_headful_offset(url: str, username: str) -> ToolRun:
    """pydoll humanised and headful, its submit click given a random offset (type_text still clicks
    the field at its centre: pydoll offers no offset there)."""
    return _pydoll(url, username, humanize=True, headless=False, offset=True)


def pydoll_headless(url: str, username: str) -> ToolRun:
    """pydoll headless with its default (fast) typing and clicks."""
    return _pydoll(url, username, humanize=False, headless=True)


# --- zendriver ---------------------------------------------------------------------------------------

class ZendriverDriver(Driver):
    def __init__(self, browser):
        self.browser = browser
        self.tab = None

    async def goto(self, url: str) -> None:
        self.tab = await self.browser.get(url)

    async def js(self, expr: str):
        return await self.tab.evaluate(expr)

    async def type(self, selector: str, text: str) -> None:
        await (await self.tab.select(selector, timeout=10)).send_keys(text)

    async def click(self, selector: str) -> None:
        await (await self.tab.select(selector, timeout=10)).click()


def zendriver_headful(url: str, username: str) -> ToolRun:
    """zendriver as its README's examples do it: send_keys and click, headful (its default)."""
    import zendriver

    async def main() -> list[dict]:
        with tempfile.TemporaryDirectory(prefix="tell-zd-") as tmp:
            browser = await zendriver.start(headless=False, browser_executable_path=CHROMIUM, sandbox=False,
                                            user_data_dir=tmp, browser_args=CHROMIUM_ARGS[1:])
            try:
                return await flow(ZendriverDriver(browser), url, username)
            finally:
                await browser.stop()

    with _display():
        writes = _run(main)
    return _result("zendriver-headful", version("zendriver"), writes,
                   f"element.send_keys + element.click, headful on Xvfb {XVFB_SIZE[0]}x{XVFB_SIZE[1]}")


# --- rebrowser-playwright ----------------------------------------------------------------------------

class PlaywrightDriver(Driver):
    def __init__(self, page):
        self.page = page

    async def goto(self, url: str) -> None:
        await self.page.goto(url)

    async def js(self, expr: str):
        return await self.page.evaluate(expr)

    async def type(self, selector: str, text: str) -> None:
        loc = self.page.locator(selector)
        await loc.click()
        await loc.press_sequentially(text, delay=90)

    async def click(self, selector: str) -> None:
        await self.page.locator(selector).click()


def rebrowser_playwright(url: str, username: str) -> ToolRun:
    """rebrowser-playwright (Python) with its default Runtime.enable fix, headless; click + press_sequentially."""
    from rebrowser_playwright.async_api import async_playwright

    async def main() -> list[dict]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await (await browser.new_context()).new_page()
                return await flow(PlaywrightDriver(page), url, username)
            finally:
                await browser.close()

    writes = _run(main)
    mode = os.environ.get("REBROWSER_PATCHES_RUNTIME_FIX_MODE", "addBinding (default)")
    return _result("rebrowser-playwright", version("rebrowser-playwright"), writes,
                   f"locator.click + press_sequentially(delay=90), headless; REBROWSER_PATCHES_RUNTIME_FIX_MODE={mode}")


# --- selenium-driverless -----------------------------------------------------------------------------

class DriverlessDriver(Driver):
    def __init__(self, driver):
        self.driver = driver

    async def goto(self, url: str) -> None:
        await self.driver.get(url, wait_load=True)

    async def js(self, expr: str):
        # driverless evaluates in an isolated world by default, where the page's own globals are not
        return await self.driver.execute_script(f"return {expr}", unique_context=False)

    async def type(self, selector: str, text: str) -> None:
        from selenium_driverless.types.by import By

        await (await self.driver.find_element(By.CSS_SELECTOR, selector, timeout=10)).send_keys(text)

    async def click(self, selector: str) -> None:
        from selenium_driverless.types.by import By

        await (await self.driver.find_element(By.CSS_SELECTOR, selector, timeout=10)).click()


def selenium_driverless(url: str, username: str) -> ToolRun:
    """selenium-driverless as its README shows it: find_element, send_keys, click; headful (its default)."""
    from selenium_driverless import webdriver

    async def main() -> list[dict]:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in CHROMIUM_ARGS:
            opts.add_argument(a)
        async with webdriver.Chrome(options=opts) as driver:
            return await flow(DriverlessDriver(driver), url, username)

    with _display():
        writes = _run(main)
    return _result("selenium-driverless", version("selenium-driverless"), writes,
                   f"element.send_keys + element.click, headful on Xvfb {XVFB_SIZE[0]}x{XVFB_SIZE[1]}")


# --- rebrowser-puppeteer-core (Node) -----------------------------------------------------------------

def rebrowser_puppeteer(url: str, username: str) -> ToolRun:
    """rebrowser-puppeteer-core, headless: page.click + page.type(delay 80) (``js/unseen.js``)."""
    from e2e.tools.puppeteer import JS

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        raise RuntimeError("node is not installed")
    if not (JS / "node_modules" / "rebrowser-puppeteer-core").is_dir():
        if not npm:  # scripts/test installs them; a bare checkout installs them here, from the lock file
            raise RuntimeError(f"npm packages missing in {JS} and npm is not installed")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True, timeout=300,
                       capture_output=True)
    p = subprocess.run([node, "unseen.js", url, username, PASSWORD, POST, COMMENT], cwd=JS, capture_output=True,
                       text=True, timeout=150, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"unseen.js failed ({p.returncode}): {p.stderr[-2000:]}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    writes = [{**w, "families": families(w["families"]), "score": float(w["score"]) if w.get("score") else None}
              for w in d["writes"]]
    return _result("rebrowser-puppeteer", d["version"], writes,
                   f"page.click + page.type(delay 80), headless; REBROWSER_PATCHES_RUNTIME_FIX_MODE={d['mode']}")


# --- botasaurus --------------------------------------------------------------------------------------

class BotasaurusDriver(Driver):
    """botasaurus's Driver is synchronous (it runs its own loop): each call goes to a worker thread."""

    def __init__(self, driver):
        self.driver = driver

    async def goto(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def js(self, expr: str):
        return await asyncio.to_thread(self.driver.run_js, f"return {expr}")

    async def type(self, selector: str, text: str) -> None:
        await asyncio.to_thread(self.driver.click, selector)
        await asyncio.to_thread(self.driver.type, selector, text)

    async def click(self, selector: str) -> None:
        await asyncio.to_thread(self.driver.click, selector)


def botasaurus_human(url: str, username: str) -> ToolRun:
    """botasaurus's Driver with enable_human_mode() (its humancursor), driver.type and driver.click,
    headful (its default) on Xvfb."""
    from botasaurus_driver import Driver as Bota

    async def main() -> list[dict]:
        driver = await asyncio.to_thread(lambda: Bota(headless=False, chrome_executable_path=CHROMIUM, arguments=CHROMIUM_ARGS[1:]))
        try:
            driver.enable_human_mode()
            return await flow(BotasaurusDriver(driver), url, username)
        finally:
            await asyncio.to_thread(driver.close)

    with _display():
        writes = _run(main, 150)
    return _result("botasaurus", version("botasaurus-driver"), writes,
                   f"Driver + enable_human_mode(), driver.click + driver.type, headful on Xvfb {XVFB_SIZE[0]}x{XVFB_SIZE[1]}; "
                   f"botasaurus {version('botasaurus')}")
