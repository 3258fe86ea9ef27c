"""The Playwright agents' common frame: launch Debian's Chromium, one context, one page, the shared flow.

A concrete agent subclasses :class:`PlaywrightAgent` and overrides only what its tool does differently:
launch options, context options, init scripts, how it enters text and how it clicks. Telemetry is
recorded with a ``request`` listener on the context — Playwright reads the POST body from the
network layer, nothing in the page is touched.
"""
from __future__ import annotations

import contextlib
from importlib.metadata import version
from typing import Any

from edge.simulate.agents.base import CHROMIUM_ARGS, TELEMETRY_PATH, Job, Outcome, Sent, clean_headers, drive, error_text


class PlaywrightDriver:
    def __init__(self, agent: "PlaywrightAgent", page, timeout_s: float):
        self.agent, self.page, self.timeout_ms = agent, page, timeout_s * 1000
        self._sent: list = []  # Playwright Request objects; read once the request has gone
        page.context.on("request", self._on_request)

    def _on_request(self, request) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith(TELEMETRY_PATH):
            self._sent.append(request)

    def goto(self, url: str) -> None:
        self.page.goto(url, wait_until="load", timeout=self.timeout_ms)
        self.agent.on_page(self.page)

    def wait_ready(self, expression: str) -> None:
        self.page.wait_for_function(expression, timeout=self.timeout_ms)

    def enter(self, selector: str, text: str) -> None:
        self.page.wait_for_selector(selector, state="visible", timeout=self.timeout_ms)
        self.agent.enter(self.page, selector, text)

    def submit(self, selector: str) -> None:
        with self.page.expect_navigation(wait_until="load", timeout=self.timeout_ms):
            self.agent.click(self.page, selector)

    def attribute(self, selector: str, name: str) -> str | None:
        el = self.page.query_selector(selector)
        return None if el is None else el.get_attribute(name)

    def url(self) -> str:
        return self.page.url

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.page.context.add_cookies([{"name": name, "value": value, "url": url, "httpOnly": True, "sameSite": "Lax"}])

    def take_telemetry(self) -> list[Sent]:
        requests, self._sent = self._sent, []
        out = []
        for r in requests:
            body = r.post_data_buffer
            if body is None:
                continue
            try:
                headers = r.all_headers()  # the raw headers Chromium sent, not only those the page set
            except Exception:  # noqa: BLE001 — the page is gone; the body is what matters
                headers = r.headers
            out.append(Sent(bytes(body), clean_headers(headers)))
        return out


class PlaywrightAgent:
    """Defaults: headless Chromium, default context, ``page.fill`` and ``page.click``."""

    headless = True

    def launch_options(self, job: Job) -> dict[str, Any]:
        return {"executable_path": job.chromium, "headless": self.headless, "args": list(CHROMIUM_ARGS)}

    def context_options(self, job: Job, browser) -> dict[str, Any]:
        return {}

    def prepare(self, context, page) -> None:
        """Init scripts, CDP sessions, stealth patches: whatever the tool sets up before the first page."""

    def on_page(self, page) -> None:
        """Called after every navigation the flow makes."""

    def enter(self, page, selector: str, text: str) -> None:
        page.fill(selector, text)

    def click(self, page, selector: str) -> None:
        page.click(selector)

    @contextlib.contextmanager
    def environment(self, job: Job):
        """Whatever must exist around the browser (a virtual display for headful agents)."""
        yield {}

    def run(self, job: Job) -> Outcome:
        from playwright.sync_api import sync_playwright

        out = Outcome(tool_version=version("playwright"))
        try:
            with self.environment(job) as env, sync_playwright() as pw:
                options = self.launch_options(job)
                if env:
                    options["env"] = env
                browser = pw.chromium.launch(**options)
                try:
                    out.browser_version = browser.version
                    context = browser.new_context(**self.context_options(job, browser))
                    context.set_default_timeout(job.step_timeout_s * 1000)
                    page = context.new_page()
                    self.prepare(context, page)
                    out.cells = drive(job, PlaywrightDriver(self, page, job.step_timeout_s))
                    context.close()
                finally:
                    browser.close()
        except Exception as exc:  # noqa: BLE001 — reported as the row's error
            out.error = error_text(exc)
        return out
