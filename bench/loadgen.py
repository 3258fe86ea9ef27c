"""A small HTTP/1.1 load generator for loopback benchmarks, run in its own process.

    python -m bench.loadgen --port P --requests FILE (--rate R | --connections C) --duration S

``FILE`` holds pre-built raw requests (``<length>\\n<bytes>`` each, the format bench/wrk_requests.lua
reads too), sent round-robin over keep-alive connections.

* **Open loop** (``--rate``): request *i* is due at ``start + i / rate`` whatever happened to the
  ones before it, and its latency is counted from that due time, not from when it was actually
  written — so a server (or a generator) that falls behind shows up in the latency instead of
  quietly lowering the load (no coordinated omission). A due request takes an idle connection or
  opens a new one (up to ``--max-connections``). The time from writing the request to the end of
  the answer is reported too (``service_us``): the difference is time spent waiting to be sent,
  which includes the generator's own timer slack (the event loop sleeps in whole milliseconds).
* **Closed loop** (``--connections``): each connection sends its next request as soon as the last
  answer is in, for ``--duration`` seconds: the throughput at saturation, when wrk is not installed.

Prints one JSON object: counts, status codes, achieved rate, latency percentiles in microseconds.
Bounded in count and time, loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def read_requests(path: str) -> list[bytes]:
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        n = int(data[pos:nl])
        out.append(data[nl + 1:nl + 1 + n])
        pos = nl + 1 + n
    if not out:
        raise SystemExit("loadgen: no requests in " + path)
    return out


def write_requests(path: str, requests: list[bytes]) -> None:
    with open(path, "wb") as fh:
        for r in requests:
            fh.write(b"%d\n" % len(r) + r)


class Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length is None:
            raise ConnectionError("response without Content-Length")
        if length:
            await self.reader.readexactly(length)
        return status


async def _open(host: str, port: int) -> Conn:
    reader, writer = await asyncio.open_connection(host, port)
    return Conn(reader, writer)


def _pcts(lat_us: list[float]) -> dict[str, float]:
    if not lat_us:
        return {}
    s = sorted(lat_us)
    n = len(s)
    return {f"p{q:g}": s[min(n - 1, int(q / 100 * n))] for q in (50, 90, 99, 99.9)} | {"max": s[-1], "mean": sum(s) / n}


async def open_loop(host: str, port: int, requests: list[bytes], rate: float, duration: float,
                    connections: int, max_connections: int) -> dict:
    loop = asyncio.get_running_loop()
    idle: list[Conn] = [await _open(host, port) for _ in range(connections)]
    opened = len(idle)
    waiting: asyncio.Queue[Conn] = asyncio.Queue()
    lat: list[float] = []
    service: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    total = int(rate * duration)
    tasks = []

    async def acquire() -> Conn:
        nonlocal opened
        if idle:
            return idle.pop()
        if not waiting.empty():
            return waiting.get_nowait()
        if opened < max_connections:
            opened += 1
            return await _open(host, port)
        return await waiting.get()

    async def one(i: int, due: float) -> None:
        conn = await acquire()
        sent = loop.time()
        try:
            status = await conn.exchange(requests[i % len(requests)])
        except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            errors[type(exc).__name__] += 1
            conn.writer.close()
            return
        end = loop.time()
        lat.append((end - due) * 1e6)
        service.append((end - sent) * 1e6)
        statuses[status] += 1
        waiting.put_nowait(conn)

    start = loop.time() + 0.05
    i = 0
    while i < total:
        now = loop.time()
        due = start + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        # everything due by now goes out at once: a late wake-up does not thin the load
        while i < total and start + i / rate <= now:
            tasks.append(asyncio.ensure_future(one(i, start + i / rate)))
            i += 1
    if tasks:
        await asyncio.wait(tasks, timeout=max(10.0, duration))
    elapsed = loop.time() - start
    return {"mode": "open", "rate": rate, "sent": total, "done": len(lat), "elapsed_s": elapsed,
            "achieved_rps": len(lat) / elapsed if elapsed > 0 else 0.0, "connections_opened": opened,
            "statuses": {str(k): v for k, v in statuses.items()}, "errors": dict(errors), "latency_us": _pcts(lat),
            "service_us": _pcts(service)}


async def closed_loop(host: str, port: int, requests: list[bytes], connections: int, duration: float) -> dict:
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    stop_at = loop.time() + duration

    async def worker(k: int) -> None:
        conn = await _open(host, port)
        i = k * 7919
        while loop.time() < stop_at:
            t0 = loop.time()
            try:
                status = await conn.exchange(requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                conn.writer.close()
                conn = await _open(host, port)
                continue
            lat.append((loop.time() - t0) * 1e6)
            statuses[status] += 1
            i += 1
        conn.writer.close()

    t0 = loop.time()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    elapsed = loop.time() - t0
    return {"mode": "closed", "connections": connections, "done": len(lat), "elapsed_s": elapsed,
            "achieved_rps": len(lat) / elapsed if elapsed > 0 else 0.0,
            "statuses": {str(k): v for k, v in statuses.items()}, "errors": dict(errors), "latency_us": _pcts(lat)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--requests", required=True)
    p.add_argument("--rate", type=float, help="open loop: requests per second")
    p.add_argument("--connections", type=int, default=16, help="closed loop: concurrent connections; open loop: opened up front")
    p.add_argument("--max-connections", type=int, default=256)
    p.add_argument("--duration", type=float, default=5.0)
    args = p.parse_args(argv)
    if args.host not in LOOPBACK:
        p.error("loopback only")
    if not 0 < args.duration <= 120 or (args.rate is not None and not 0 < args.rate <= 100_000):
        p.error("duration in (0, 120] s, rate in (0, 100000] requests/s")
    requests = read_requests(args.requests)
    if args.rate:
        out = asyncio.run(open_loop(args.host, args.port, requests, args.rate, args.duration,
                                    min(args.connections, args.max_connections), args.max_connections))
    else:
        out = asyncio.run(closed_loop(args.host, args.port, requests, args.connections, args.duration))
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
