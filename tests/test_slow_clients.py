"""Slow and greedy clients cannot exhaust the sidecar (edge/limits.py, ``[limits]``).

Every test runs the real listener (``start_listener``: the guarded site, parser limits, timeouts)
on a loopback port and talks to it over raw sockets, the way a hostile client would. Counts and
times are bounded: at most a few hundred sockets, a few seconds each.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiohttp
import pytest

from edge.app import make_app
from edge.config import load_config
from edge.limits import GuardedSite, start_listener

HOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def listening(tmp_path, **limits: str):
    env = {"TELL_ADMIN_TOKEN": "t", "TELL_SECRET": "s" * 32, "TELL_STORE": f"sqlite:///{tmp_path}/t.sqlite3",
           "TELL_SIGNATURES_POLL_S": "0", "TELL_LIMITS_SHUTDOWN_TIMEOUT_S": "1"}
    env.update({f"TELL_LIMITS_{k.upper()}": v for k, v in limits.items()})
    cfg = load_config(env=env)
    runner, site = await start_listener(make_app(cfg), HOST, 0, cfg.limits)
    try:
        yield site
    finally:
        await runner.cleanup()


async def _exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send ``data``, read until the server closes (or ``timeout``); return what came back and when."""
    t = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        await writer.drain()
        out = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return out, time.monotonic() - t


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0


def _json(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def _normal_request(session: aiohttp.ClientSession, port: int) -> tuple[int, float]:
    t = time.monotonic()
    async with session.post(f"http://{HOST}:{port}/v1/decide", headers={"X-Tell-Action": "post"}) as r:
        await r.read()
        return r.status, time.monotonic() - t


async def _trickle(writer: asyncio.StreamWriter, piece: bytes, seconds: float) -> None:
    """Send ``piece`` every 50 ms for ``seconds`` (stopping short of the deadline under test, so
    the server's answer is not lost to a reset caused by bytes it never read)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.05)


# --- bodies --------------------------------------------------------------------------------------

async def test_a_trickled_body_with_content_length_is_cut_off_with_408(tmp_path):
    async with listening(tmp_path, body_timeout_s="0.5") as site:
        reader, writer = await asyncio.open_connection(HOST, site.port)
        writer.write(b"POST /edge/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                     b"Content-Length: 1000\r\n\r\n")
        t = time.monotonic()
        await _trickle(writer, b"\x00", 0.4)  # a byte every 50 ms: the body would take 50 s
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert _status(raw) == 408 and _json(raw)["error"] == "body_timeout"
        assert time.monotonic() - t < 2.0


async def test_a_trickled_chunked_body_is_cut_off_with_408(tmp_path):
    async with listening(tmp_path, body_timeout_s="0.5") as site:
        reader, writer = await asyncio.open_connection(HOST, site.port)
        writer.write(b"POST /edge/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        await _trickle(writer, b"1\r\n\x00\r\n", 0.4)
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert _status(raw) == 408 and _json(raw)["field"] == "$"


async def test_an_admin_body_is_held_to_the_same_deadline(tmp_path):
    async with listening(tmp_path, body_timeout_s="0.3") as site:
        raw, took = await _exchange(site.port, b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                                               b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
        assert _status(raw) == 408 and took < 2.0


async def test_a_prompt_body_is_not_affected_by_the_deadline(tmp_path):
    async with listening(tmp_path, body_timeout_s="0.3") as site:
        raw, _ = await _exchange(site.port, b"POST /edge/telemetry HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                            b"Content-Type: application/msgpack\r\nContent-Length: 2\r\n\r\n\x81\xa1")
        assert _status(raw) == 400 and _json(raw)["error"] == "bad_telemetry"


# --- heads ---------------------------------------------------------------------------------------

async def test_a_trickled_request_head_is_dropped_after_the_keepalive_timeout(tmp_path):
    async with listening(tmp_path, keepalive_timeout_s="0.5") as site:
        reader, writer = await asyncio.open_connection(HOST, site.port)
        writer.write(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\n")
        t = time.monotonic()
        while not reader.at_eof() and time.monotonic() - t < 5:
            try:
                writer.write(b"X-A: b\r\n")  # a header line every 100 ms, never the blank line
                await writer.drain()
            except ConnectionError:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.1)
        writer.close()
        assert time.monotonic() - t < 2.0, "the server kept a connection that never finished its head"


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="request-line-over-max_line_size"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", id="field-over-max_field_size"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
                     id="more-headers-than-max_headers"),
    ],
)
async def test_oversized_heads_are_refused_by_the_parser(tmp_path, head):
    async with listening(tmp_path) as site:
        raw, _ = await _exchange(site.port, head)
        assert 400 <= _status(raw) < 500
        body = _json(raw)  # JSON naming the problem, like every Tell error, not aiohttp's plain text
        assert body["error"] in ("bad_request", "request_header_fields_too_large") and body["detail"], body
        ok, _ = await _exchange(site.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _status(ok) == 200


@pytest.mark.parametrize("head", [b"GARBAGE\r\n\r\n", b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"],
                         ids=["not-http", "bad-content-length"])
async def test_garbage_is_refused_with_json(tmp_path, head, caplog):
    caplog.set_level(logging.DEBUG)
    async with listening(tmp_path) as site:
        raw, _ = await _exchange(site.port, head)
    assert _status(raw) == 400 and b"application/json" in raw.split(b"\r\n\r\n", 1)[0]
    assert _json(raw)["error"] == "bad_request"
    # the client's mistake is not the server's error: no traceback in the log
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


# --- connections ---------------------------------------------------------------------------------

async def test_at_the_cap_a_waiting_connection_makes_room_for_a_new_one(tmp_path):
    async with listening(tmp_path, max_connections="20") as site:
        idle = [await asyncio.open_connection(HOST, site.port) for _ in range(60)]
        await asyncio.sleep(0.1)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            results = [await _normal_request(s, site.port) for _ in range(10)]
        assert all(status == 401 for status, _ in results) and max(t for _, t in results) < 1.0
        assert isinstance(site, GuardedSite) and site.evicted >= 40
        for _, w in idle:
            w.close()


async def test_when_every_connection_is_busy_a_new_one_gets_a_503(tmp_path):
    async with listening(tmp_path, max_connections="5", body_timeout_s="1") as site:
        busy = []
        for _ in range(5):  # complete heads, bodies still coming: each holds a request in progress
            r, w = await asyncio.open_connection(HOST, site.port)
            w.write(b"POST /edge/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\nContent-Length: 100\r\n\r\n\x81")
            busy.append((r, w))
        await asyncio.sleep(0.2)
        raw, _ = await _exchange(site.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(raw) == 503 and _json(raw)["error"] == "too_many_connections"
        assert site.refused == 1
        # The body deadline frees them; then requests are served again.
        for r, w in busy:
            assert _status(await asyncio.wait_for(r.read(), 5)) == 408
            w.close()
        ok, _ = await _exchange(site.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _status(ok) == 200


async def test_slowloris_cannot_starve_normal_requests(tmp_path):
    """300 sockets trickle header bytes for 4 s against a cap of 64; requests keep being answered."""
    async with listening(tmp_path, max_connections="64", keepalive_timeout_s="1") as site:
        stop = asyncio.Event()
        opened = 0

        async def attacker() -> None:
            nonlocal opened
            while not stop.is_set():
                try:
                    reader, writer = await asyncio.open_connection(HOST, site.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                opened += 1
                try:
                    writer.write(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\n")
                    while not stop.is_set() and not reader.at_eof():
                        writer.write(b"X")  # one byte of a header line that never ends
                        await writer.drain()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(reader.read(1024), 0.2)
                except ConnectionError:
                    pass
                finally:
                    writer.close()

        attackers = [asyncio.create_task(attacker()) for _ in range(300)]
        await asyncio.sleep(0.5)  # the cap is full of trickling sockets
        latencies: list[float] = []
        statuses: list[int] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            t_end = time.monotonic() + 3.5
            while time.monotonic() < t_end:
                status, took = await _normal_request(s, site.port)
                statuses.append(status)
                latencies.append(took)
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*attackers)
        assert opened >= 300 and site.evicted > 0
        assert statuses and set(statuses) == {401}, {x: statuses.count(x) for x in set(statuses)}
        latencies.sort()
        assert latencies[len(latencies) // 2] < 0.25 and latencies[-1] < 1.0, latencies[-5:]


# --- `tell serve` applies all of this ----------------------------------------------------------------

def test_tell_serve_runs_the_guarded_public_and_admin_listeners(tmp_path):
    """The CLI wiring: [limits] reach the listener, and admin routes live only on admin_port."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    def free_port() -> int:
        with socket.socket() as s:
            s.bind((HOST, 0))
            return s.getsockname()[1]

    port, admin_port = free_port(), free_port()
    env = {**os.environ, "TELL_ADMIN_TOKEN": "t", "TELL_STORE": f"sqlite:///{tmp_path}/s.sqlite3", "TELL_ADMIN_PORT": str(admin_port),
           "TELL_LIMITS_MAX_FIELD_SIZE": "1000", "TELL_SIGNATURES_POLL_S": "0"}
    env.pop("TELL_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "serve", "--host", HOST, "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def get(p: int, path: str, headers: dict | None = None) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"http://{HOST}:{p}{path}", headers=headers or {}), timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if get(admin_port, "/healthz") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() is not None else "timeout"
            time.sleep(0.1)
        assert get(port, "/healthz") == 200
        assert get(port, "/v1/decisions", {"Authorization": "Bearer t"}) == 404
        assert get(admin_port, "/v1/decisions", {"Authorization": "Bearer t"}) == 200
        assert get(port, "/healthz", {"X-Big": "a" * 2000}) == 400  # limits.max_field_size from the environment
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    assert f"admin API on http://{HOST}:{admin_port}" in out
