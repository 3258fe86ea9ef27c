"""Bounded memory: a soak against the real listener, RSS measured after warm-up and at the end.

The traffic is what grows state if anything does: a new User-Agent on every telemetry post (the UA
parse cache), a new account on every other write (the ledger, per-account state), tokens, inline
telemetry, malformed bodies and admin reads, from several concurrent clients for ~15 s. A leak
shows as RSS that keeps climbing between the two measured phases; caches must have caps.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import gc
import inspect
import os
import sys
import time

import aiohttp

from edge.app import make_app
from edge.config import load_config
from edge.limits import start_listener
from edge.telemetry import encode
from fingerprints.device import parse_ua
from tests.payloads import DESKTOP_UA, browser_headers, person

ADMIN = {"Authorization": "Bearer t"}
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


class Traffic:
    def __init__(self, base: str):
        self.base = base
        self.n = 0
        self.statuses: dict[int, int] = {}
        self.payload = person()

    def _count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    async def one(self, s: aiohttp.ClientSession) -> None:
        self.n += 1
        i = self.n
        ua = DESKTOP_UA.replace("Chrome/131.0.0.0", f"Chrome/131.0.{i}.{i % 97}")
        self.payload["device"]["ua"] = ua
        async with s.post(self.base + "/edge/telemetry", data=encode(self.payload),
                          headers={"Content-Type": "application/msgpack", **browser_headers(ua)}) as r:
            self._count(r.status)
            token = (await r.json())["token"]
        async with s.post(self.base + "/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post",
                                                             "X-Tell-Account": f"acct-{i % 300}", **browser_headers(ua)}) as r:
            self._count(r.status)
            await r.read()
        inline = base64.urlsafe_b64encode(encode(self.payload)).decode().rstrip("=")
        async with s.post(self.base + "/v1/decide", headers={"X-Tell-Telemetry": inline, "X-Tell-Action": "comment",
                                                             "X-Tell-Account": f"new-{i}", **browser_headers(ua)}) as r:
            self._count(r.status)
            await r.read()
        async with s.post(self.base + "/edge/telemetry", data=b"\x81\xa1v", headers={"Content-Type": "application/msgpack"}) as r:
            self._count(r.status)
        if i % 40 == 0:
            async with s.get(self.base + "/v1/decisions?limit=100", headers=ADMIN) as r:
                self._count(r.status)
                await r.read()

    async def run(self, s: aiohttp.ClientSession, seconds: float, workers: int = 8) -> None:
        end = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < end:
                await self.one(s)

        await asyncio.gather(*(worker() for _ in range(workers)))


async def test_rss_stays_bounded_under_a_soak(tmp_path):
    cfg = load_config(env={"TELL_ADMIN_TOKEN": "t", "TELL_SECRET": "s" * 32, "TELL_STORE": f"sqlite:///{tmp_path}/soak.sqlite3",
                           "TELL_SIGNATURES_POLL_S": "0", "TELL_LIMITS_SHUTDOWN_TIMEOUT_S": "1"})
    runner, site = await start_listener(make_app(cfg), "127.0.0.1", 0, cfg.limits)
    traffic = Traffic(f"http://127.0.0.1:{site.port}")
    try:
        async with aiohttp.ClientSession() as s:
            await traffic.run(s, 4)  # warm-up: imports, caches, SQLite pages, pools
            gc.collect()
            start, n_start = rss_mb(), traffic.n
            await traffic.run(s, 5.5)
            gc.collect()
            middle, n_middle = rss_mb(), traffic.n
            await traffic.run(s, 5.5)
            gc.collect()
            end = rss_mb()
    finally:
        await runner.cleanup()
    per_phase = (n_middle - n_start, traffic.n - n_middle)
    print(f"\nsoak: {traffic.n} rounds ({per_phase} in the measured phases), statuses {traffic.statuses}, "
          f"RSS {start:.1f} -> {middle:.1f} -> {end:.1f} MB, UA cache {parse_ua.cache_info().currsize}")
    assert set(traffic.statuses) <= {200, 400, 401, 403}, traffic.statuses  # decisions and the malformed posts: no 5xx
    assert min(per_phase) > 100  # the soak really ran
    assert end - start < 16, f"RSS grew {end - start:.1f} MB over {traffic.n - n_start} rounds"
    assert end - middle < 8, f"RSS still climbing in the last phase: {middle:.1f} -> {end:.1f} MB"


def test_every_cache_has_a_cap():
    """Every functools cache in Tell's own modules is bounded (an unbounded one keyed on client
    input is a memory leak an attacker can drive)."""
    import edge.app  # noqa: F401  (loads the service's modules)
    import fingerprints.timing  # noqa: F401

    found = []
    for name, module in list(sys.modules.items()):
        if not name.split(".")[0] in ("edge", "fingerprints", "signatures"):
            continue
        for attr in list(vars(module).values()):
            if isinstance(attr, functools._lru_cache_wrapper):
                # A cache of a function without arguments holds one entry whatever its maxsize.
                if inspect.signature(attr.__wrapped__).parameters:
                    found.append((f"{attr.__module__}.{attr.__qualname__}", attr.cache_parameters()["maxsize"]))
    assert ("fingerprints.device.parse_ua", 4096) in found
    unbounded = sorted({n for n, size in found if size is None})
    assert not unbounded, unbounded
