"""The stores on their own: ledger append and account lookup, operations per second.

* **SQLite**: a fresh temporary file (WAL, ``synchronous = FULL``: every acknowledged append is
  fsynced, as in service), deleted afterwards. The filesystem it sits on is reported: the append
  rate is mostly the disk's fsync rate.
* **Redis**: the server at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) under a key prefix of
  its own (``tellbench-<random>``), every key of which is deleted afterwards. Skipped when no server
  answers.

Decisions are real ones (the engine deciding recorded payloads) spread over 256 accounts.
``append``: ``Store.record`` one at a time, then 16 at once (the service's concurrency: each request
awaits its own append). ``lookup``: ``Store.account`` (the admin view: state, last 50 decisions,
events) and ``Store.enforcement`` (what a write reads). Each operation runs for a fixed time.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench.report import Section

ACCOUNTS = 256
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _decisions(n: int) -> list[Any]:
    from edge import telemetry as tm
    from bench import decision as dec
    from bench.payloads import recorded, tool_recordings

    engine = dec.make_engine()
    prepared = dec.prepared(recorded(tool_recordings())[:16])
    base = [engine.decide("post", engine.assess(tm.decode(b), i), request=w) for b, i, w in prepared]
    return [dataclasses.replace(base[k % len(base)], account_id=f"bench-{k % ACCOUNTS}", request_id=f"bench{k:08d}")
            for k in range(n)]


async def _rate(op: Callable[[int], Awaitable[Any]], seconds: float, concurrency: int = 1, limit: int = 200_000) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < stop and done < limit:
            await op(i)
            done += 1
            i += concurrency

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def _measure(store: Any, decisions: list[Any], seconds: float) -> dict[str, float]:
    n = len(decisions)
    out = {}

    async def append(i: int) -> Any:
        d = decisions[i % n]
        return await store.record(dataclasses.replace(d, request_id=f"{d.request_id}-{i}", ts=time.time()))

    out["append, one at a time"] = await _rate(append, seconds)
    out["append, 16 concurrent"] = await _rate(append, seconds, concurrency=16)
    out["account lookup (Store.account)"] = await _rate(lambda i: store.account(f"bench-{i % ACCOUNTS}"), seconds)
    out["enforcement lookup (Store.enforcement)"] = await _rate(lambda i: store.enforcement(f"bench-{i % ACCOUNTS}"), seconds)
    return out


async def _sqlite(decisions: list[Any], seconds: float, tmp: Path) -> dict[str, float]:
    from edge.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp / "ledger.sqlite3"))
    try:
        return await _measure(store, decisions, seconds)
    finally:
        await store.close()


async def _redis(decisions: list[Any], seconds: float) -> dict[str, float] | str:
    try:
        import redis.asyncio as aioredis
        from edge.store.redis import RedisStore
    except ImportError as exc:
        return f"not run: {exc}"
    prefix = f"tellbench-{secrets.token_hex(4)}"
    probe = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        await probe.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means: skip
        await probe.aclose()
        return f"not run: no Redis at {REDIS_URL} ({type(exc).__name__})"
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        return await _measure(store, decisions, seconds)
    finally:
        await store.close()
        async for key in probe.scan_iter(match=f"{prefix}:*", count=1000):
            await probe.delete(key)
        await probe.aclose()


def _filesystem(path: Path) -> str:
    try:
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, timeout=10).stdout.splitlines()
        return out[1].split()[1] if len(out) > 1 else "?"
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def section(quick: bool) -> Section:
    s = Section("Store: ledger append and account lookup")
    seconds = 0.3 if quick else 2.5
    decisions = _decisions(64 if quick else 1024)
    tmp = Path(tempfile.mkdtemp(prefix="tell-bench-store-"))
    try:
        sq = asyncio.run(_sqlite(decisions, seconds, tmp))
        fs = _filesystem(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rd = asyncio.run(_redis(decisions, seconds))
    s.add(__doc__.split("\n\n", 1)[1].strip(), "")
    rows = [[op, f"{sq[op]:,.0f}", f"{rd[op]:,.0f}" if isinstance(rd, dict) else "—"] for op in sq]
    s.add(f"SQLite file on {fs} in {tempfile.gettempdir()}; Redis: "
          + (f"{REDIS_URL}, prefix `tellbench-…`, removed afterwards." if isinstance(rd, dict) else rd), "")
    s.table(["operation", "SQLite ops/s", "Redis ops/s"], rows)
    s.data = {"sqlite": sq, "redis": rd, "fs": fs}
    return s
