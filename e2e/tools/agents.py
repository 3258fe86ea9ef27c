"""AI browser agents that cannot run here (they need an LLM, a cloud browser or an extension store),
reproduced in a real Chromium: the page gets exactly what the agent injects, and input arrives the way
the agent sends it (raw CDP ``Input.*`` commands with the agent's own pauses). Fixtures recorded from
these say "synthetic reproduction" in their note, and the rules they prove are ``status: test`` until
checked against the real agent.

Sources (public repositories):
* browser-use — ``browser_use/dom/buildDomTree.js`` (``#playwright-highlight-container``),
  ``browser_use/browser/python_highlights.py`` (``data-browser-use-highlight``),
  ``browser_use/browser/watchdogs/default_action_watchdog.py`` (click: move, 50 ms, press, 80 ms,
  release; typing: a key every ~5 ms, then input/change dispatched from script).
* Stagehand — ``packages/core/lib/v3/dom/piercer.runtime.ts`` (``window.__stagehandV3Injected``, an
  ``attachShadow`` that keeps closed roots reachable), ``packages/core/lib/v3/v3.ts`` (default viewport
  1288×711); CDP ``Input.insertText`` for typing, press/release 0–3 ms apart.
* Skyvern — ``skyvern/webeye/scraper/domUtils.js`` (``unique_id`` attributes,
  ``window.GlobalSkyvernFrameIndex``), ``skyvern/webeye/actions/handler.py`` (fill all but the last 10
  characters, then type those with a 10 ms delay), 1920×1080 browser.
* nanobrowser — ``chrome-extension/public/buildDomTree.js`` (``#playwright-highlight-container``), its
  shadow-root opening and ``window.chrome = {runtime: {}}`` shim; runs in the person's own Chrome.
* Playwright MCP — Playwright itself (``locator.fill``, ``locator.click``, an aria snapshot per step).
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from importlib.metadata import version

from e2e.tools import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ToolRun, browser_version, desktop_ua, families

HIGHLIGHT_JS = r"""
(() => {
  const c = document.createElement('div');
  c.id = 'playwright-highlight-container';
  c.style.cssText = 'position:fixed;pointer-events:none;top:0;left:0;width:100vw;height:100vh;z-index:2147483647';
  document.body.appendChild(c);
  document.querySelectorAll('input,button').forEach((el, i) => {
    const r = el.getBoundingClientRect(), o = document.createElement('div');
    o.setAttribute(ATTR, String(i + 1));
    o.style.cssText = `position:fixed;pointer-events:none;outline:2px solid #f60;left:${r.left}px;top:${r.top}px;width:${r.width}px;height:${r.height}px`;
    c.appendChild(o);
  });
})()
"""

STAGEHAND_PIERCER = r"""
(() => {
  if (window.__stagehandV3Injected) return;
  const state = { hostToRoot: new WeakMap(), openCount: 0, closedCount: 0 };
  const original = Element.prototype.attachShadow;
  const patched = function (init) {
    const mode = init && init.mode === 'closed' ? 'closed' : 'open';
    const root = original.call(this, Object.assign({}, init, { mode: 'open' }));
    state.hostToRoot.set(this, root);
    mode === 'closed' ? state.closedCount++ : state.openCount++;
    return root;
  };
  Object.defineProperty(Element.prototype, 'attachShadow', { configurable: true, writable: true, value: patched });
  window.__stagehandV3Injected = true;
  window.__stagehandV3__ = { getClosedRoot: (h) => state.hostToRoot.get(h), stats: () => ({ installed: true }) };
})();
"""

SKYVERN_DOM_UTILS = r"""
(() => {
  window.GlobalSkyvernFrameIndex = 0;
  let n = 0;
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  document.querySelectorAll('a,button,input,textarea,select,[role=button]').forEach((el) => {
    const id = String(window.GlobalSkyvernFrameIndex) + chars[(n >> 12) % 62] + chars[(n >> 6) % 62] + chars[n % 62];
    n++;
    el.setAttribute('unique_id', id);
  });
})()
"""

NANOBROWSER_CONTENT = r"""
(() => {
  const original = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    return original.call(this, Object.assign({}, init, { mode: 'open' }));
  };
  if (!window.chrome || !window.chrome.runtime) window.chrome = { runtime: {} };
})();
"""

_CODES = {" ": ("Space", 32)}


def _key_params(ch: str) -> tuple[str, int]:
    if ch in _CODES:
        return _CODES[ch]
    if ch.isalpha():
        return f"Key{ch.upper()}", ord(ch.upper())
    if ch.isdigit():
        return f"Digit{ch}", ord(ch)
    return "", 0


class Cdp:
    """Raw CDP input on one page, as agents that drive the protocol themselves send it."""

    def __init__(self, page):
        self.page = page
        self.s = page.context.new_cdp_session(page)

    def centre(self, selector: str) -> tuple[float, float]:
        b = self.page.locator(selector).bounding_box()
        return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2

    def mouse(self, kind: str, x: float, y: float) -> None:
        p = {"type": kind, "x": x, "y": y}
        if kind != "mouseMoved":
            p.update(button="left", clickCount=1, buttons=1 if kind == "mousePressed" else 0)
        self.s.send("Input.dispatchMouseEvent", p)

    def click(self, selector: str, *, move: bool = True, before_ms: float = 0, hold_ms: float = 0) -> None:
        x, y = self.centre(selector)
        if move:
            self.mouse("mouseMoved", x, y)
        time.sleep(before_ms / 1000)
        self.mouse("mousePressed", x, y)
        time.sleep(hold_ms / 1000)
        self.mouse("mouseReleased", x, y)

    def type(self, text: str, delay_ms: float) -> None:
        for ch in text:
            code, vk = _key_params(ch)
            self.s.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": ch, "code": code, "text": ch, "windowsVirtualKeyCode": vk})
            time.sleep(delay_ms / 1000)
            self.s.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch, "code": code, "windowsVirtualKeyCode": vk})
            time.sleep(delay_ms / 1000)

    def insert(self, text: str) -> None:
        self.s.send("Input.insertText", {"text": text})

    def js(self, expression: str) -> None:
        self.s.send("Runtime.evaluate", {"expression": expression})

    def submit(self, selector: str, **kw) -> None:
        with self.page.expect_navigation():
            self.click(selector, **kw)


def _session(stack: ExitStack, url: str, *, context: dict, new_document: str | None = None):
    from playwright.sync_api import sync_playwright

    pw = stack.enter_context(sync_playwright())
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + ["--disable-blink-features=AutomationControlled"],
                                 ignore_default_args=["--enable-automation"])
    stack.callback(browser.close)
    page = browser.new_context(**context).new_page()
    cdp = Cdp(page)
    cdp.s.send("Page.enable")
    if new_document:
        cdp.s.send("Page.addScriptToEvaluateOnNewDocument", {"source": new_document})
    cdp.s.send("Page.navigate", {"url": url + "/register"})
    page.wait_for_function("window.Tell && window.Tell.v")
    return page, cdp


def _result(page, tool: str, note: str) -> ToolRun:
    el = page.wait_for_selector("#decision")
    score = el.get_attribute("data-score")
    return ToolRun(tool, f"synthetic-pw{version('playwright')}", browser_version(), el.get_attribute("data-decision"),
                   families(el.get_attribute("data-families")), float(score) if score else None, note)


def browser_use(url: str, username: str) -> ToolRun:
    with ExitStack() as stack:
        page, cdp = _session(stack, url, context={"viewport": {"width": 1920, "height": 1080}, "screen": {"width": 1920, "height": 1080},
                                                   "user_agent": desktop_ua()})
        cdp.js(HIGHLIGHT_JS.replace("ATTR", "'data-browser-use-highlight'"))
        for sel, text in (("#username", username), ("#password", PASSWORD)):
            cdp.click(sel, before_ms=50, hold_ms=80)
            cdp.type(text, 5)
            cdp.js(f"(() => {{ const el = document.querySelector('{sel}');"
                   " el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); })()")
        cdp.submit("#submit", before_ms=50, hold_ms=80)
        return _result(page, "browser-use", "CDP input with browser-use's pauses; highlight overlay injected")


def stagehand(url: str, username: str) -> ToolRun:
    with ExitStack() as stack:
        page, cdp = _session(stack, url, context={"viewport": {"width": 1288, "height": 711}, "screen": {"width": 1288, "height": 711},
                                                   "user_agent": desktop_ua()}, new_document=STAGEHAND_PIERCER)
        for sel, text in (("#username", username), ("#password", PASSWORD)):
            cdp.click(sel, hold_ms=1)
            cdp.insert(text)
        cdp.submit("#submit", hold_ms=1)
        return _result(page, "stagehand", "v3 piercer added on new document; CDP click and Input.insertText")


def skyvern(url: str, username: str) -> ToolRun:
    with ExitStack() as stack:
        page, cdp = _session(stack, url, context={"viewport": {"width": 1920, "height": 1080}, "screen": {"width": 1920, "height": 1080},
                                                   "user_agent": desktop_ua()})
        cdp.js(SKYVERN_DOM_UTILS)
        for sel, text in (("#username", username), ("#password", PASSWORD)):
            loc = page.locator(sel)
            loc.click()
            loc.fill(text[:-10]) if len(text) > 10 else None
            loc.press_sequentially(text[-10:], delay=10)
        with page.expect_navigation():
            page.locator("#submit").click()
        return _result(page, "skyvern", "domUtils.js ids injected; Playwright fill of all but the last 10 characters, then 10 ms keys")


def nanobrowser(url: str, username: str) -> ToolRun:
    with ExitStack() as stack:
        page, cdp = _session(stack, url, context={"viewport": {"width": 1512, "height": 823}, "screen": {"width": 1512, "height": 982},
                                                   "user_agent": desktop_ua("Macintosh; Intel Mac OS X 10_15_7")},
                             new_document=NANOBROWSER_CONTENT)
        cdp.js(HIGHLIGHT_JS.replace("ATTR", "'browser-user-highlight-id'"))
        for sel, text in (("#username", username), ("#password", PASSWORD)):
            cdp.click(sel)
            cdp.insert(text)
        cdp.submit("#submit")
        return _result(page, "nanobrowser", "content script shims added on new document; highlight container; CDP click and insertText")


def playwright_mcp(url: str, username: str) -> ToolRun:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.goto(url + "/register")
            page.wait_for_function("window.Tell && window.Tell.v")
            page.locator("body").aria_snapshot()
            for sel, text in (("#username", username), ("#password", PASSWORD)):
                page.locator(sel).fill(text)
                page.locator("body").aria_snapshot()
            with page.expect_navigation():
                page.locator("#submit").click()
            result = _result(page, "playwright-mcp", "Playwright locator fill/click with an aria snapshot after each step, as browser_type/browser_click do")
        finally:
            browser.close()
    return result


def cjk_inserttext(url: str, username: str) -> ToolRun:
    """Automation posting Chinese text: CDP Input.insertText of whole strings, no IME composition."""
    with ExitStack() as stack:
        page, cdp = _session(stack, url, context={"viewport": {"width": 1920, "height": 1080}, "screen": {"width": 1920, "height": 1080},
                                                   "user_agent": desktop_ua("Windows NT 10.0; Win64; x64"), "locale": "zh-CN",
                                                   "timezone_id": "Asia/Shanghai"})
        for sel, text in (("#username", username), ("#password", "今天天气很好我们去散步")):
            cdp.click(sel, hold_ms=60)
            cdp.insert(text)
        cdp.submit("#submit", hold_ms=60)
        return _result(page, "cjk-inserttext", "zh-CN locale; Chinese text through Input.insertText, no composition events")


ROD_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36"


def go_rod(url: str, username: str) -> ToolRun:
    """go-rod's default device (``lib/devices/list.go`` LaptopWithMDPIScreen, emulated on every page: a
    1280×800 viewport and a frozen Mac Chrome/114 UA) on Linux, as xiaohongshu-mcp runs it; rod's
    ``el.Input`` (Input.insertText) and ``el.Click`` (one move to the centre, press, release)."""
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_default_args=["--enable-automation"])
        stack.callback(browser.close)
        page = browser.new_context(no_viewport=True).new_page()
        cdp = Cdp(page)
        cdp.s.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False,
                                                          "screenWidth": 1280, "screenHeight": 800})
        cdp.s.send("Emulation.setUserAgentOverride", {"userAgent": ROD_UA, "acceptLanguage": "en"})
        cdp.s.send("Page.navigate", {"url": url + "/register"})
        page.wait_for_function("window.Tell && window.Tell.v")
        for sel, text in (("#username", username), ("#password", PASSWORD)):
            cdp.click(sel)
            cdp.insert(text)
        cdp.submit("#submit")
        return _result(page, "go-rod", "LaptopWithMDPIScreen emulation (1280x800, Mac Chrome/114 UA) on Linux; insertText, move+press+release")


def cjk_ime(url: str, username: str) -> ToolRun:
    """The contrast for cjk_inserttext: Chinese entered through IME composition (CDP
    Input.imeSetComposition per pinyin keystroke, then the commit), as an IME delivers it — composition
    events and insertCompositionText, not a bare insertText."""
    with ExitStack() as stack:
        page, cdp = _session(stack, url, context={"viewport": {"width": 1920, "height": 1080}, "screen": {"width": 1920, "height": 1080},
                                                   "user_agent": desktop_ua("Windows NT 10.0; Win64; x64"), "locale": "zh-CN",
                                                   "timezone_id": "Asia/Shanghai"})
        for sel, words in (("#username", [("xiaoming", "小明")]), ("#password", [("jintian", "今天"), ("tianqi", "天气"), ("henhao", "很好")])):
            cdp.click(sel, hold_ms=70)
            for pinyin, hanzi in words:
                for i in range(1, len(pinyin) + 1):
                    cdp.s.send("Input.imeSetComposition", {"text": pinyin[:i], "selectionStart": i, "selectionEnd": i})
                    time.sleep(0.09)
                cdp.insert(hanzi)  # commits the composition
                time.sleep(0.3)
        cdp.submit("#submit", hold_ms=70)
        return _result(page, "cjk-ime", "zh-CN locale; pinyin composed with Input.imeSetComposition, committed with insertText")
