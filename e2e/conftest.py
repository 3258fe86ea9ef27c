"""Shared fixtures for the browser tests (playwright-python style, sync API).

* ``browser`` — one Chromium for the whole session.
* ``context_factory`` — ``context_factory(**new_context_kwargs)`` opens a browser context; every context
  opened in a test is closed after it.
* ``live_server`` — ``live_server(app) -> base_url`` serves an aiohttp ``web.Application`` on 127.0.0.1
  from a background thread with its own event loop, stopped after the test.

The sync Playwright API cannot run inside a running asyncio loop, so browser tests are plain (sync) test
functions and the servers they talk to run in threads or subprocesses (see ``servers.py``).

There is no ``playwright install`` here (no network): the tests use the system Chromium and fall back to
Playwright's own build only if that is installed. With neither, every browser test errors out loudly —
a silent skip would hide that the browser half of the product is untested.
"""
from __future__ import annotations

import asyncio
import os
import threading
from typing import Callable, Iterator

import pytest
from aiohttp import web
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

SYSTEM_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


def _launch_options(pw: Playwright) -> dict:
    if os.path.exists(SYSTEM_CHROMIUM):
        return {"executable_path": SYSTEM_CHROMIUM}
    bundled = pw.chromium.executable_path
    if bundled and os.path.exists(bundled):
        return {}
    raise RuntimeError(
        f"No Chromium for the e2e tests: neither {SYSTEM_CHROMIUM} nor Playwright's bundled build "
        f"({bundled}) exists. Install one (apt-get install chromium, or `playwright install chromium`)."
    )


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(args=CHROMIUM_ARGS, **_launch_options(playwright))
    yield browser
    browser.close()


@pytest.fixture
def context_factory(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    contexts: list[BrowserContext] = []

    def factory(**kwargs) -> BrowserContext:
        context = browser.new_context(**kwargs)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


class LiveServer:
    """An aiohttp app on 127.0.0.1:<free port>, its event loop running in a daemon thread."""

    def __init__(self, app: web.Application):
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            # Short shutdown: a handler still waiting (e.g. a deliberately hanging endpoint) must not
            # hold the test up for aiohttp's default 60 s.
            self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=0.5)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
        except BaseException as exc:  # surfaced in start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            raise RuntimeError(f"live server did not start: {self._error!r}")
        return self.url

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still running (a deliberately hanging endpoint) are cancelled and awaited, so that
        # closing the loop destroys no pending task.
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


@pytest.fixture
def live_server() -> Iterator[Callable[[web.Application], str]]:
    servers: list[LiveServer] = []

    def start(app: web.Application) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
