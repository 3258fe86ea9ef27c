"""Proof-of-work difficulty vs solve time, measured in Chromium with the real worker.

Serves ``edge/static/challenge-worker.js`` from 127.0.0.1 (a secure context, so the worker uses
SubtleCrypto), drives the system Chromium with Playwright, and for each difficulty runs N solves with
fresh random nonces, each in a new Worker exactly as ``challenge.js`` starts it. Every counter the
worker returns is checked in Python. Prints a Markdown table (docs/challenge.md quotes it):

    python bench/pow_difficulty.py --bits 12,14,16,18,20,22 --n 30 --budget-s 120

Solve times are geometric: the expected number of hashes is 2^bits, the median ln2 x 2^bits and the
p90 ln10 x 2^bits. A difficulty whose budget runs out before N solves reports what it got (``n``).
CDP's Emulation.setCPUThrottlingRate is no phone proxy here: it does not slow dedicated workers
(measured: the same hash rate at 4x), so phones have to be measured on phones.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

from aiohttp import web
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.challenge import leading_zero_bits, pow_input  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]

PAGE = """<!doctype html><meta charset="utf-8"><title>pow bench</title><script>
window.solve = (nonce, bits) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const w = new Worker('/edge/challenge-worker.js');
  w.onmessage = (e) => { w.terminate(); resolve({...e.data, wall_ms: performance.now() - t0}); };
  w.onerror = (e) => { w.terminate(); reject(new Error(e.message)); };
  w.postMessage({nonce, bits});
});
</script>"""


def serve() -> tuple[str, callable]:
    app = web.Application()
    app.router.add_get("/", lambda r: web.Response(text=PAGE, content_type="text/html"))
    app.router.add_get("/edge/challenge-worker.js", lambda r: web.FileResponse(
        ROOT / "edge" / "static" / "challenge-worker.js", headers={"Content-Type": "application/javascript"}))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()
    box = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    return box["url"], stop


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bits", default="12,14,16,18,20,22")
    ap.add_argument("--n", type=int, default=30, help="solves per difficulty")
    ap.add_argument("--budget-s", type=float, default=120.0, help="wall-clock budget per difficulty")
    args = ap.parse_args()
    url, stop = serve()
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else None, args=ARGS)
            page = browser.new_page()
            page.goto(url)
            impl = None
            for bits in (int(b) for b in args.bits.split(",")):
                walls, rates = [], []
                started = time.monotonic()
                while len(walls) < args.n and time.monotonic() - started < args.budget_s:
                    nonce = secrets.token_bytes(16)
                    r = page.evaluate("([n, b]) => solve(n, b)", [nonce.hex(), bits])
                    assert leading_zero_bits(hashlib.sha256(pow_input(nonce, int(r["counter"]))).digest()) >= bits
                    impl = r["impl"]
                    walls.append(r["wall_ms"])
                    rates.append(r["hashes"] / max(r["ms"], 1e-3) * 1000)
                rate = statistics.median(rates)
                rows.append((bits, len(walls), statistics.median(walls), pct(walls, 0.9), max(walls), rate,
                             math.log(2) * 2**bits / rate * 1000, math.log(10) * 2**bits / rate * 1000))
                print(f"bits {bits}: n={len(walls)} median {rows[-1][2]:.0f} ms, p90 {rows[-1][3]:.0f} ms, "
                      f"{rate / 1000:.0f}k hashes/s", file=sys.stderr)
            version = browser.version
            browser.close()
    finally:
        stop()
    print(f"Chromium {version}, {impl} SHA-256, {os.cpu_count()} CPUs\n")
    print("| bits | n | median ms | p90 ms | max ms | hashes/s (median) | model median ms | model p90 ms |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for bits, n, med, p90, mx, rate, mmed, mp90 in rows:
        print(f"| {bits} | {n} | {med:.0f} | {p90:.0f} | {mx:.0f} | {rate / 1000:.0f}k | {mmed:.0f} | {mp90:.0f} |")


if __name__ == "__main__":
    main()
