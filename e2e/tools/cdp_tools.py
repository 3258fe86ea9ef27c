"""CDP-direct tools: their own DevTools connection, no WebDriver, no Playwright.

* nodriver (undetected-chromedriver's successor): ``element.send_keys`` (a JS ``focus()``, then one
  ``Input.dispatchKeyEvent`` of type ``char`` per character: text with no keydown/keyup) and
  ``element.mouse_click`` (``mousePressed`` + ``mouseReleased`` at the centre, no move before it).
* DrissionPage: ``ele.input`` (``DOM.focus`` then one ``Input.insertText`` with the whole string) and
  ``ele.click`` (``mousePressed`` + ``mouseReleased`` at the centre, no move). ``drission_actions`` uses
  its ``page.actions`` chain instead: ``move_to`` (20 ms linear steps) and ``click`` (a 50 ms hold).
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from importlib.metadata import version

from e2e.tools import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ToolRun, browser_version, families


def nodriver_run(url: str, username: str) -> ToolRun:
    import nodriver

    async def main() -> ToolRun:
        browser = await nodriver.start(headless=True, browser_executable_path=CHROMIUM, sandbox=False,
                                       browser_args=CHROMIUM_ARGS[1:])
        try:
            tab = await browser.get(url + "/register")
            for _ in range(200):
                if await tab.evaluate("!!(window.Tell && window.Tell.v)"):
                    break
                await asyncio.sleep(0.05)
            await (await tab.select("#username")).send_keys(username)
            await (await tab.select("#password")).send_keys(PASSWORD)
            await (await tab.select("#submit")).mouse_click()
            for _ in range(200):
                if await tab.evaluate("!!document.getElementById('decision')"):
                    break
                await asyncio.sleep(0.05)
            got = await tab.evaluate("(() => { const d = document.getElementById('decision').dataset;"
                                     " return [d.decision, d.families, d.score].join('|'); })()")
        finally:
            browser.stop()
            await asyncio.sleep(0.2)
        decision, fams, score = str(got).split("|")
        return ToolRun("nodriver", version("nodriver"), browser_version(), decision, families(fams), float(score) if score else None)

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), 80))
    finally:
        loop.close()


def _drission(url: str, username: str, actions: bool) -> ToolRun:
    from DrissionPage import ChromiumOptions, ChromiumPage

    with tempfile.TemporaryDirectory(prefix="tell-dp-") as tmp:
        from e2e.servers import free_port

        co = ChromiumOptions(read_file=False).set_browser_path(CHROMIUM).headless(True)
        co.set_local_port(free_port())
        co.set_user_data_path(tmp)
        for a in CHROMIUM_ARGS:
            co.set_argument(a)
        page = ChromiumPage(co)
        try:
            page.get(url + "/register")
            page.wait.eles_loaded("#username")
            deadline = time.monotonic() + 10
            while not page.run_js("return !!(window.Tell && window.Tell.v)") and time.monotonic() < deadline:
                time.sleep(0.05)
            if actions:
                page.actions.move_to("#username").click().type(username)
                page.actions.move_to("#password").click().type(PASSWORD)
                page.actions.move_to("#submit").click()
            else:
                page.ele("#username").input(username)
                page.ele("#password").input(PASSWORD)
                page.ele("#submit").click()
            el = page.ele("#decision", timeout=20)
            decision, fams, score = el.attr("data-decision"), el.attr("data-families"), el.attr("data-score")
        finally:
            page.quit()
    return ToolRun("drissionpage-actions" if actions else "drissionpage", version("DrissionPage"), browser_version(),
                   decision, families(fams), float(score) if score else None)


def drission(url: str, username: str) -> ToolRun:
    return _drission(url, username, actions=False)


def drission_actions(url: str, username: str) -> ToolRun:
    return _drission(url, username, actions=True)
