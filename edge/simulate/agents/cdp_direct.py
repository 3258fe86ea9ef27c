"""nodriver (PyPI): a CDP-direct tool, no WebDriver, no Playwright — its own websocket to Chromium.

Stands for the "undetected" CDP-direct family (nodriver, the successor of undetected-chromedriver;
DrissionPage and zendriver work the same way). nodriver starts Chromium with a remote-debugging port,
keeps ``--enable-automation`` off, and in headless mode rewrites the UA without "Headless". Its
idiomatic input is used as its docs show: ``element.send_keys(text)`` (a JavaScript ``focus()`` then one
``Input.dispatchKeyEvent`` of type ``char`` per character: text arrives with no keydown or keyup) and
``element.click()`` (a JavaScript ``el.click()`` after a brief highlight flash: no mouse events).

Headless here, so that it runs without a display; ``cdp_direct_headful`` is the same tool headful on
Xvfb, as nodriver's README runs it. Telemetry is read from ``Network.requestWillBeSent`` on nodriver's own connection.
"""
from __future__ import annotations

import asyncio
import base64
import time

from edge.simulate.agents.base import CHROMIUM_ARGS, TELEMETRY_PATH, AgentInfo, Job, Outcome, Sent, clean_headers, \
    drive, error_text

INFO = AgentInfo("cdp_direct", "nodriver (CDP-direct, undetected-chromedriver's successor), headless, send_keys, click",
                 "nodriver")
POLL_S = 0.1


class NodriverDriver:
    """Blocking :class:`~edge.simulate.agents.base.Driver` calls over nodriver's async API."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tab, timeout_s: float):
        from nodriver import cdp

        self.loop, self.tab, self.timeout_s, self.cdp = loop, tab, timeout_s, cdp
        self._sent: dict[str, bytes] = {}  # request id → body, in the order sent
        self._headers: dict[str, dict] = {}
        tab.add_handler(cdp.network.RequestWillBeSent, self._on_request)
        tab.add_handler(cdp.network.RequestWillBeSentExtraInfo, self._on_extra_info)
        self._run(tab.send(cdp.network.enable()))

    def _on_request(self, event) -> None:
        req = event.request
        if req.method == "POST" and req.url.split("?")[0].endswith(TELEMETRY_PATH):
            if req.post_data_entries:
                body = b"".join(base64.b64decode(e.bytes_ or "") for e in req.post_data_entries)
            else:
                body = (req.post_data or "").encode("latin-1", "replace")
            self._sent[str(event.request_id)] = body
            self._headers.setdefault(str(event.request_id), dict(req.headers or {}))

    def _on_extra_info(self, event) -> None:
        self._headers[str(event.request_id)] = dict(event.headers or {})  # the raw headers sent

    def _run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, self.timeout_s))

    async def _until(self, check, what: str):
        deadline = time.monotonic() + self.timeout_s
        while True:
            value = await check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {self.timeout_s:.0f} s waiting for {what}")
            await asyncio.sleep(POLL_S)

    async def _loader(self) -> str:
        tree = await self.tab.send(self.cdp.page.get_frame_tree())
        return tree.frame.loader_id

    async def _loaded(self) -> bool:
        return await self.tab.evaluate("document.readyState") == "complete"

    def goto(self, url: str) -> None:
        async def go():
            await self.tab.get(url)
            await self._until(self._loaded, "the page to load")
        self._run(go())

    def wait_ready(self, expression: str) -> None:
        async def ready():
            return await self.tab.evaluate(f"!!({expression})")
        self._run(self._until(ready, expression))

    def enter(self, selector: str, text: str) -> None:
        async def enter():
            el = await self.tab.select(selector, timeout=self.timeout_s)
            await el.send_keys(text)
        self._run(enter())

    def submit(self, selector: str) -> None:
        async def submit():
            before = await self._loader()
            button = await self.tab.select(selector, timeout=self.timeout_s)
            await button.click()

            async def navigated():
                return await self._loader() != before and await self._loaded()
            await self._until(navigated, "the next page")
        self._run(submit())

    def attribute(self, selector: str, name: str) -> str | None:
        async def attr():
            el = await self.tab.query_selector(selector)
            return None if el is None else el.attrs.get(name)
        return self._run(attr())

    def url(self) -> str:
        async def url():
            return (await self.tab.send(self.cdp.page.get_frame_tree())).frame.url
        return self._run(url())

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self._run(self.tab.send(self.cdp.network.set_cookie(name, value, url=url, http_only=True,
                                                             same_site=self.cdp.network.CookieSameSite.LAX)))

    def take_telemetry(self) -> list[Sent]:
        sent, self._sent = self._sent, {}
        return [Sent(body, clean_headers(self._headers.pop(rid, None))) for rid, body in sent.items()]


def run(job: Job, *, headless: bool = True) -> Outcome:
    from importlib.metadata import version

    import nodriver

    out = Outcome(tool_version=version("nodriver"))
    loop = asyncio.new_event_loop()
    browser = None
    try:
        browser = loop.run_until_complete(asyncio.wait_for(nodriver.start(
            browser_executable_path=job.chromium, headless=headless, sandbox=False,
            browser_args=[a for a in CHROMIUM_ARGS if a != "--no-sandbox"]), job.step_timeout_s))
        tab = browser.main_tab
        out.browser_version = loop.run_until_complete(
            tab.send(nodriver.cdp.browser.get_version()))[1].split("/")[-1]
        out.cells = drive(job, NodriverDriver(loop, tab, job.step_timeout_s))
    except Exception as exc:  # noqa: BLE001 — reported as the row's error
        out.error = error_text(exc)
    finally:
        if browser is not None:
            browser.stop()
            # Let the subprocess transport see the exit before the loop closes (no "loop is closed" noise).
            loop.run_until_complete(asyncio.sleep(0.5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return out
