"""Faults: the store goes away mid-run and comes back; signatures reload 100 times under traffic.

While the store is down every write is still answered, promptly, under the configured fail mode
(``fail_open`` allows and flags, ``fail_closed`` challenges); the decisions wait in the bounded
write buffer (edge/buffer.py) and are in the ledger once the store is back. Redis is a server this
test starts and stops itself, on its own loopback port; SQLite's file is made read-only (immutable)
or its directory removed.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edge.app import make_app
from edge.buffer import BUFFER, LedgerBuffer, StoreUnavailable
from edge.config import LedgerConfig, load_config
from edge.decision import Decision, Enforcement, Verdict
from edge.store import StoreError
from edge.telemetry import encode
from signatures import SHIPPED
from tests.payloads import browser_headers, person

ADMIN = {"Authorization": "Bearer t"}
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
WRITE = {"X-Tell-Telemetry": base64.urlsafe_b64encode(encode(person())).decode().rstrip("="),
         "X-Original-URI": "/post", **browser_headers()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a Redis server of the test's own ------------------------------------------------------

class RedisServer:
    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir = port, workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: with no persistence configured the server exits at once, losing its data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path):
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail(f"{REDIS_SERVER} is needed for the Redis fault tests (apt-get install redis-server)")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def _config(store: str, fail_mode: str = "fail_open", **ledger: str):
    env = {"TELL_ADMIN_TOKEN": "t", "TELL_SECRET": "s" * 32, "TELL_STORE": store,
           "TELL_POLICY_FAIL_MODE": fail_mode, "TELL_SIGNATURES_POLL_S": "0",
           "TELL_LEDGER_RETRY_INITIAL_S": "0.02", "TELL_LEDGER_RETRY_MAX_S": "0.2",
           "TELL_LEDGER_WRITE_TIMEOUT_S": "1.0"}
    env.update({f"TELL_LEDGER_{k.upper()}": v for k, v in ledger.items()})
    return load_config(env=env)


async def _decide(client, account: str) -> tuple[int, dict, float]:
    t = time.monotonic()
    r = await client.post("/v1/decide", headers={**WRITE, "X-Tell-Account": account})
    return r.status, await r.json(), time.monotonic() - t


async def _ledger_ids(client) -> set[str]:
    r = await client.get("/v1/decisions?limit=1000", headers=ADMIN)
    assert r.status == 200, await r.text()
    return {d["request_id"] for d in (await r.json())["decisions"]}


async def _through_an_outage(client, outage, recover, fail_mode: str, caplog, reads_fail: bool = True) -> None:
    """Decide before, during and after an outage; every outage decision ends up in the ledger."""
    before = [await _decide(client, "acct-before") for _ in range(3)]
    assert [s for s, _, _ in before] == [200] * 3
    assert not any("store unavailable" in r for _, b, _ in before for r in b["reasons"])

    outage()
    during = [await _decide(client, f"acct-{i % 3}") for i in range(25)]
    want = 200 if fail_mode == "fail_open" else 401
    assert [s for s, _, _ in during] == [want] * 25, during[0]
    assert all(f"store unavailable ({fail_mode})" in b["reasons"] for _, b, _ in during)
    assert max(t for _, _, t in during) < 2.0  # answered promptly, never hung on the store
    buf = client.app[BUFFER]
    # A write the store did not acknowledge within write_timeout_s (a busy CI machine) is answered
    # under the fail mode while it still runs, and is buffered once it fails: let those settle.
    deadline = time.monotonic() + 10
    while buf.stats()["late_writes"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(buf) == 25 and buf.degraded, buf.stats()
    r = await client.get("/v1/decisions", headers=ADMIN)
    if reads_fail:  # the admin API says so with a 503, never a 500
        assert r.status == 503 and (await r.json())["error"] == "store_unavailable"
    else:  # a read-only file still answers reads
        assert r.status == 200

    recover()
    assert await buf.wait_drained(15), buf.stats()
    ids = await _ledger_ids(client)
    missing = {b["request_id"] for _, b, _ in during} - ids
    assert not missing, f"{len(missing)} outage decisions not in the ledger"
    acct = await (await client.get("/v1/accounts/acct-0?limit=100", headers=ADMIN)).json()
    assert len(acct["decisions"]) == 9  # 25 spread over three accounts: 9, 8, 8

    after = await _decide(client, "acct-after")
    assert after[0] == 200 and not any("store unavailable" in r for r in after[1]["reasons"])
    assert after[1]["request_id"] in await _ledger_ids(client)
    logged = caplog.text
    assert "store unavailable" in logged and "store is back" in logged and "25 buffered decisions replayed" in logged


@pytest.mark.parametrize("fail_mode", ["fail_open", "fail_closed"])
async def test_redis_stopped_and_restarted_mid_run(aiohttp_client, redis_server, fail_mode, caplog):
    caplog.set_level(logging.INFO, logger="tell.ledger")
    client = await aiohttp_client(make_app(_config(f"redis://127.0.0.1:{redis_server.port}/0", fail_mode)))
    await _through_an_outage(client, redis_server.stop, redis_server.start, fail_mode, caplog)


async def test_redis_shutdown_nosave_then_back(aiohttp_client, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="tell.ledger")
    client = await aiohttp_client(make_app(_config(f"redis://127.0.0.1:{redis_server.port}/0")))

    def shutdown():
        with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as s:
            s.sendall(b"SHUTDOWN NOSAVE\r\n")
            s.recv(64)  # the server closes the connection as it goes
        redis_server.proc.wait(10)

    await _through_an_outage(client, shutdown, redis_server.start, "fail_open", caplog)


def _immutable(paths: list[Path], on: bool) -> bool:
    """Make files unwritable even for root (chattr +i); chmod where that is not possible."""
    for p in paths:
        if not p.exists():
            continue
        r = subprocess.run(["chattr", "+i" if on else "-i", str(p)], capture_output=True)
        if r.returncode != 0:
            if os.geteuid() == 0:
                return False  # root ignores file modes: nothing else makes the file read-only
            p.chmod(0o444 if on else 0o644)
    return True


@pytest.mark.parametrize("fail_mode", ["fail_open", "fail_closed"])
async def test_sqlite_file_made_read_only_then_writable(aiohttp_client, tmp_path, fail_mode, caplog):
    caplog.set_level(logging.INFO, logger="tell.ledger")
    db = tmp_path / "tell.sqlite3"
    client = await aiohttp_client(make_app(_config(f"sqlite:///{db}", fail_mode)))
    files = [db, Path(f"{db}-wal")]
    await _decide(client, "warmup")  # the file and its WAL exist from here on

    def outage():
        if not _immutable(files, True):
            pytest.skip("chattr is not available and root ignores file modes")

    try:
        await _through_an_outage(client, outage, lambda: _immutable(files, False), fail_mode, caplog, reads_fail=False)
    finally:
        _immutable(files, False)


async def test_sqlite_directory_removed_then_restored(aiohttp_client, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tell.ledger")
    data = tmp_path / "data"
    data.mkdir()
    client = await aiohttp_client(make_app(_config(f"sqlite:///{data}/tell.sqlite3")))
    # Restored empty, as after losing the volume: the ledger starts again with the buffered decisions.
    await _through_an_outage(client, lambda: shutil.rmtree(data), data.mkdir, "fail_open", caplog)


# --- the buffer on its own --------------------------------------------------------------------

class FlakyStore:
    """Records into a list; fails while ``up`` is false; takes ``delay`` seconds per write."""

    def __init__(self) -> None:
        self.up = True
        self.delay = 0.0
        self.ledger: list[str] = []

    async def record(self, d: Decision) -> Enforcement:
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self.up:
            raise StoreError("down")
        self.ledger.append(d.request_id)
        return Enforcement.NONE


def _decision(i: int) -> Decision:
    return Decision(Verdict.ALLOW, 0.0, "post", request_id=f"d{i:03d}", account_id="a")


async def test_a_full_buffer_drops_the_oldest_and_counts_it():
    store = FlakyStore()
    buf = LedgerBuffer(store, LedgerConfig(buffer_max=5, retry_initial_s=0.01, retry_max_s=0.02))
    buf.start()
    store.up = False
    for i in range(12):
        with pytest.raises(StoreUnavailable):
            await buf.write(_decision(i))
    assert len(buf) == 5 and buf.dropped >= 7  # the replay task may drop one it was retrying
    store.up = True
    assert await buf.wait_drained(5)
    # The newest decisions survive, in the order they were made.
    assert store.ledger == [f"d{i:03d}" for i in range(12 - len(store.ledger), 12)]
    assert len(store.ledger) + buf.dropped == 12
    await buf.stop()


async def test_a_slow_store_costs_the_write_timeout_and_the_write_is_not_duplicated():
    store = FlakyStore()
    store.delay = 0.3
    buf = LedgerBuffer(store, LedgerConfig(write_timeout_s=0.05))
    buf.start()
    t = time.monotonic()
    with pytest.raises(StoreUnavailable, match="did not acknowledge"):
        await buf.write(_decision(1))
    assert time.monotonic() - t < 0.2
    await asyncio.sleep(0.4)  # the write went on and landed
    assert store.ledger == ["d001"] and len(buf) == 0
    store.delay = 0.0
    await buf.write(_decision(2))
    assert store.ledger == ["d001", "d002"]
    await buf.stop()


async def test_a_late_write_that_fails_is_buffered_and_replayed():
    store = FlakyStore()
    store.delay, store.up = 0.1, False
    buf = LedgerBuffer(store, LedgerConfig(write_timeout_s=0.02, retry_initial_s=0.01, retry_max_s=0.02))
    buf.start()
    with pytest.raises(StoreUnavailable):
        await buf.write(_decision(1))
    await asyncio.sleep(0.15)
    assert buf.buffered_total == 1  # buffered when it failed (and perhaps already being replayed)
    store.delay, store.up = 0.0, True
    assert await buf.wait_drained(5)
    assert store.ledger == ["d001"]
    await buf.stop()


async def test_the_decision_being_replayed_still_counts_as_buffered():
    """While the replay task is writing the oldest buffered decision it is still not in the store:
    it counts in len() and keeps the buffer degraded, so a new decision queues behind it."""
    store = FlakyStore()
    buf = LedgerBuffer(store, LedgerConfig(retry_initial_s=0.01, retry_max_s=0.02))
    store.up = False
    for i in range(3):
        with pytest.raises(StoreUnavailable):
            await buf.write(_decision(i))
    store.up, store.delay = True, 0.3
    buf.start()
    await asyncio.sleep(0.05)  # the replay task has taken d000 and is writing it
    assert store.ledger == [] and len(buf) == 3 and buf.degraded, buf.stats()
    with pytest.raises(StoreUnavailable, match="outage in progress"):
        await buf.write(_decision(3))
    store.delay = 0.0
    assert await buf.wait_drained(5)
    assert store.ledger == ["d000", "d001", "d002", "d003"]
    await buf.stop()


async def test_shutdown_flushes_what_the_store_will_take():
    store = FlakyStore()
    buf = LedgerBuffer(store, LedgerConfig(retry_initial_s=0.01, retry_max_s=0.05))
    buf.start()
    store.up = False
    for i in range(3):
        with pytest.raises(StoreUnavailable):
            await buf.write(_decision(i))
    store.up = True
    await buf.stop(flush_s=2)
    assert store.ledger == ["d000", "d001", "d002"]


# --- signature reloads under load --------------------------------------------------------------

BROKEN = Path(__file__).parent / "testdata" / "signatures" / "bad" / "unknown-feature.yml"
EXTRA = """family: example
rules:
  - id: example.extra
    title: an extra rule
    references: [https://example.org]
    when: {outer_zero: true}
    tests: [{expect: match, features: {outer_zero: true}}, {expect: no-match, features: {outer_zero: false}}]
"""


async def test_100_reloads_under_traffic_fail_no_request(aiohttp_client, tmp_path):
    sigdir = tmp_path / "sets"
    shutil.copytree(SHIPPED, sigdir)
    cfg = load_config(env={"TELL_ADMIN_TOKEN": "t", "TELL_STORE": f"sqlite:///{tmp_path}/t.sqlite3",
                           "TELL_SIGNATURES": str(sigdir), "TELL_SIGNATURES_POLL_S": "0",
                           "TELL_VELOCITY_POST": ""})  # one account writing as fast as it can: not what this tests
    client = await aiohttp_client(make_app(cfg))
    stop = asyncio.Event()
    statuses: list[int] = []
    versions: set[str] = set()

    async def traffic():
        while not stop.is_set():
            r = await client.post("/v1/decide", headers={**WRITE, "X-Tell-Account": "load"})
            statuses.append(r.status)
            versions.add(r.headers.get("X-Tell-Set-Version", ""))

    workers = [asyncio.create_task(traffic()) for _ in range(4)]
    outcomes = []
    started = time.monotonic()
    for i in range(100):
        if i % 4 == 3:
            shutil.copy(BROKEN, sigdir / "broken.yml")
        else:
            (sigdir / "broken.yml").unlink(missing_ok=True)
            (sigdir / "extra.yml").write_text(EXTRA.replace("an extra rule", f"an extra rule {i}"))
        outcomes.append((await client.post("/v1/signatures/reload", headers=ADMIN)).status)
    elapsed = time.monotonic() - started
    stop.set()
    await asyncio.gather(*workers)
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert outcomes.count(422) == 25 and outcomes.count(200) == 75
    assert len(versions) >= 3, versions  # traffic really ran across swapped-in sets
    assert elapsed < 100, f"100 reloads took {elapsed:.1f} s"  # bounded, with room for a loaded CI machine


async def test_a_paused_redis_costs_each_write_at_most_the_write_timeout(aiohttp_client, redis_server):
    import signal

    cfg = _config(f"redis://127.0.0.1:{redis_server.port}/0", write_timeout_s="0.2")
    client = await aiohttp_client(make_app(cfg))
    await _decide(client, "warm")
    redis_server.proc.send_signal(signal.SIGSTOP)  # the server hangs: connections open, no answers
    try:
        during = [await _decide(client, "paused") for _ in range(5)]
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    assert all(s == 200 and "store unavailable (fail_open)" in b["reasons"] for s, b, _ in during)
    assert max(t for _, _, t in during) < 1.5
    buf = client.app[BUFFER]
    assert await buf.wait_drained(10)
    for _ in range(100):  # the late writes land on their own once the server answers again
        if buf.stats()["late_writes"] == 0:
            break
        await asyncio.sleep(0.05)
    ledger = [d["request_id"] for d in (await (await client.get("/v1/decisions?limit=1000", headers=ADMIN)).json())["decisions"]]
    assert {b["request_id"] for _, b, _ in during} <= set(ledger)
    assert len(ledger) == len(set(ledger))  # nothing written twice


# --- retention ------------------------------------------------------------------------------------

async def test_sqlite_retention_purges_old_decisions_and_keeps_enforcement(tmp_path):
    from edge.store.sqlite import SQLiteStore
    from store_contract import automated, human

    store = SQLiteStore(str(tmp_path / "r.sqlite3"))
    now = time.time()
    try:
        await store.record(automated("old", action="register", verdict=Verdict.BLOCK, ts=now - 100 * 86400))
        for _ in range(3):
            await store.record(human("new", ts=now))
        assert await store.purge(now - 90 * 86400) == 1
        assert [d["account_id"] for d in await store.decisions(limit=10)] == ["new"] * 3
        assert await store.enforcement("old") is Enforcement.BAN  # the ban outlives its evidence's retention
    finally:
        await store.close()


async def test_redis_retention_trims_the_decision_stream(redis_server):
    from edge.store.redis import RedisStore
    from store_contract import human

    store = RedisStore(f"redis://127.0.0.1:{redis_server.port}/0", prefix="ret")
    try:
        for _ in range(5):
            await store.record(human("a"))
        assert await store.purge(time.time() - 3600) == 0
        assert await store.purge(time.time() + 1) == 5
        assert await store.decisions(limit=10) == []
    finally:
        await store.close()


async def test_the_app_purges_on_its_interval(aiohttp_client, tmp_path):
    from edge.keys import STORE

    cfg = _config(f"sqlite:///{tmp_path}/p.sqlite3", retention_days="1", purge_interval_s="0.05")
    client = await aiohttp_client(make_app(cfg))
    await client.app[STORE].record(Decision(Verdict.ALLOW, 0.0, "post", request_id="ancient", ts=time.time() - 5 * 86400))
    for _ in range(100):
        if not await client.app[STORE].decisions(limit=10):
            break
        await asyncio.sleep(0.05)
    assert await client.app[STORE].decisions(limit=10) == []
