"""Acknowledged means durable: kill -9 a writer mid-stream and find every acknowledged decision.

The writer is a separate Python process that records decisions in a loop and prints each request
id on stdout only after ``record()`` has returned. The test SIGKILLs it while it is writing, reads
whatever it had printed, and checks every one of those ids is in the store.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from store_contract import open_spec

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

WRITER = r"""
import asyncio, json, sys
from edge.decision import Decision, RuleHit, Verdict
from store_contract import open_spec

async def writer(store, k, step):
    i = k
    while True:
        verdict = Verdict.CHALLENGE if i % 3 == 0 else Verdict.ALLOW
        rules = (RuleHit("playwright.fill-without-keys", "playwright", 0.9),) if i % 3 == 0 else ()
        d = Decision(decision=verdict, score=0.6, action="post", rules=rules, account_id=f"acct-{i % 7}")
        await store.record(d)
        # Printed only once record() returned: this line is the acknowledgement.
        sys.stdout.write(d.request_id + "\n")
        sys.stdout.flush()
        i += step

async def main(spec, concurrency):
    # Several writers at once: their decisions share group commits (edge/store/sqlite.py).
    store = open_spec(spec)
    await asyncio.gather(*(writer(store, k, concurrency) for k in range(concurrency)))

asyncio.run(main(tuple(json.loads(sys.argv[1])), int(sys.argv[2])))
"""


def kill_writer_mid_stream(spec: tuple, acks_before_kill: int, concurrency: int = 1) -> list[str]:
    import json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(spec), str(concurrency)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    acked: list[str] = []
    try:
        for line in proc.stdout:
            acked.append(line.strip())
            if len(acked) >= acks_before_kill:
                break
        # The writer is still going: it is inside some record() when the signal lands.
        proc.send_signal(signal.SIGKILL)
        acked.extend(line.strip() for line in proc.stdout)  # acknowledged before it died
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, err
    assert len(acked) >= acks_before_kill, err
    return acked


def stored_ids(spec: tuple) -> set[str]:
    async def read() -> set[str]:
        store = open_spec(spec)
        try:
            return {d["request_id"] for d in await store.decisions(limit=1_000_000)}
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.parametrize("acks_before_kill", [1, 150, 600])
def test_sqlite_keeps_every_acknowledged_decision_after_kill_9(tmp_path, acks_before_kill: int) -> None:
    spec = ("sqlite", str(tmp_path / "crash.sqlite3"))
    acked = kill_writer_mid_stream(spec, acks_before_kill)
    lost = set(acked) - stored_ids(spec)
    print(f"\nsqlite kill -9: {len(acked)} acknowledged, {len(lost)} lost")
    assert not lost


@pytest.mark.parametrize("acks_before_kill", [50, 700])
def test_sqlite_keeps_every_acknowledged_decision_of_concurrent_writers_after_kill_9(tmp_path, acks_before_kill: int) -> None:
    # 32 writers: decisions are committed in batches, and the kill lands while a batch is in flight.
    spec = ("sqlite", str(tmp_path / "crash.sqlite3"))
    acked = kill_writer_mid_stream(spec, acks_before_kill, concurrency=32)
    lost = set(acked) - stored_ids(spec)
    print(f"\nsqlite kill -9, 32 writers: {len(acked)} acknowledged, {len(lost)} lost")
    assert not lost


def test_sqlite_survives_repeated_kills_on_one_file(tmp_path) -> None:
    spec = ("sqlite", str(tmp_path / "crash.sqlite3"))
    acked: list[str] = []
    for n in (40, 90, 10):
        acked += kill_writer_mid_stream(spec, n)  # each run reopens the file the last one left
    assert not set(acked) - stored_ids(spec)


@pytest.mark.redis
def test_redis_keeps_every_acknowledged_decision_after_the_writer_is_killed() -> None:
    import redis

    prefix = f"tell-test-{uuid.uuid4().hex[:12]}"
    spec = ("redis", REDIS_URL, prefix)
    try:
        acked = kill_writer_mid_stream(spec, 300)
        lost = set(acked) - stored_ids(spec)
        print(f"\nredis kill -9 (writer): {len(acked)} acknowledged, {len(lost)} lost")
        assert not lost
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
