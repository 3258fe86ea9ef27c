"""SQLiteStore: the shared contract, plus what only a file-backed store has to prove."""
from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from edge.decision import Enforcement, Verdict
from edge.store import StoreError, open_store
from edge.store.sqlite import SCHEMA_VERSION, SQLiteStore
from store_contract import StoreContract, automated, human


@pytest.fixture
def store_spec(tmp_path) -> tuple:
    return ("sqlite", str(tmp_path / "tell.sqlite3"))


class TestSQLiteStore(StoreContract):
    pass


async def test_file_is_wal_with_full_sync_and_versioned(tmp_path) -> None:
    path = tmp_path / "t.sqlite3"
    store = SQLiteStore(str(path))
    await store.record(human("a1"))
    assert await store._run(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL
    await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


async def test_reopening_keeps_the_ledger(tmp_path) -> None:
    path = str(tmp_path / "t.sqlite3")
    first = SQLiteStore(path)
    await first.record(automated("a1", action="register", verdict=Verdict.BLOCK))
    await first.close()
    again = SQLiteStore(path)
    try:
        assert await again.enforcement("a1") is Enforcement.BAN
        assert len((await again.account("a1"))["decisions"]) == 1
    finally:
        await again.close()


async def test_a_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "t.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStore(str(path))
    with pytest.raises(StoreError, match="newer"):
        await store.enforcement("a1")
    await store.close()


async def test_waiting_for_the_write_lock_does_not_block_the_event_loop(tmp_path) -> None:
    path = tmp_path / "t.sqlite3"
    store = SQLiteStore(str(path))
    await store.record(human("a1"))  # create the file and schema
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    tick_task = asyncio.create_task(ticker())
    write = asyncio.create_task(store.record(human("a1")))
    await asyncio.sleep(0.3)
    assert not write.done()
    assert ticks >= 10, "the loop stalled while sqlite waited for its lock"
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(write, 10) is Enforcement.NONE
    tick_task.cancel()
    await store.close()


async def test_a_closed_store_refuses_calls(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "t.sqlite3"))
    await store.close()
    with pytest.raises(StoreError):
        await store.enforcement("a1")


def test_open_store_reads_sqlite_urls(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.sqlite3")
    assert isinstance(store, SQLiteStore)
    assert store.path == f"{tmp_path}/x.sqlite3"
    asyncio.run(store.close())


async def test_expired_token_rows_are_purged(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "t.sqlite3"))
    for i in range(5):
        await store.use_token(f"old{i}", 1, 0.01)
    await asyncio.sleep(0.05)
    await store.use_token("fresh", 1, 60)
    left = await store._run(lambda c: c.execute("SELECT count(*) FROM token_uses").fetchone()[0])
    assert left == 1
    await store.close()


# -- group commit ------------------------------------------------------------------------------

async def test_concurrent_writes_share_one_transaction(tmp_path, monkeypatch) -> None:
    store = SQLiteStore(str(tmp_path / "t.sqlite3"))
    await store.record(human("warm"))  # the file and schema exist before the burst
    batches: list[int] = []
    write_batch = store._write_batch

    def counted(conn, ops, *rest):
        batches.append(len(ops))
        return write_batch(conn, ops, *rest)

    monkeypatch.setattr(store, "_write_batch", counted)
    ds = [automated(f"a{i % 7}") for i in range(60)]
    uses = [store.use_token("t", 100, 60) for _ in range(20)]
    out = await asyncio.gather(*(store.record(d) for d in ds), *uses)
    assert sum(batches) == 80 and len(batches) <= 3, batches  # one fsync for many acknowledgements
    assert sorted(out[60:]) == list(range(1, 21))
    totals = [(await store.account(f"a{i}", limit=100))["decisions_total"] for i in range(7)]
    assert sum(totals) == 60
    await store.close()


async def test_a_token_use_is_answered_before_its_batch_commits(tmp_path, monkeypatch) -> None:
    import time

    store = SQLiteStore(str(tmp_path / "t.sqlite3"))
    await store.record(human("warm"))
    write_batch = store._write_batch

    def slow_commit(conn, ops, before_commit=None):
        def then_a_slow_disk(results):
            if before_commit is not None:
                before_commit(results)
            time.sleep(0.3)  # the commit's fsync on a slow disk

        return write_batch(conn, ops, then_a_slow_disk)

    monkeypatch.setattr(store, "_write_batch", slow_commit)
    t0 = time.monotonic()
    use = asyncio.ensure_future(store.use_token("t", 5, 60))
    rec = asyncio.ensure_future(store.record(human("a1")))
    assert await use == 1
    assert time.monotonic() - t0 < 0.25 and not rec.done()  # a count does not wait for the disk
    assert await rec is Enforcement.NONE
    assert time.monotonic() - t0 >= 0.3  # a decision does: acknowledged means committed
    assert await store.use_token("t", 5, 60) == 2
    await store.close()


async def test_an_operation_that_fails_in_a_batch_fails_alone(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "t.sqlite3"))
    await store.record(human("warm"))

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO token_uses (token_id, uses, expires) VALUES ('half-done', 1, 1e12)")
        raise ValueError("a bug in one operation")

    ds = [human("a1") for _ in range(5)]
    out = await asyncio.gather(store.record(ds[0]), store._batched(broken), *(store.record(d) for d in ds[1:]),
                               return_exceptions=True)
    assert isinstance(out[1], ValueError)
    assert [o for i, o in enumerate(out) if i != 1] == [Enforcement.NONE] * 5
    assert (await store.account("a1"))["decisions_total"] == 5
    assert await store.token_uses("half-done") == 0  # its own write was undone with it
    await store.close()


async def test_close_lets_the_batch_in_flight_commit(tmp_path) -> None:
    path = str(tmp_path / "t.sqlite3")
    store = SQLiteStore(path)
    ds = [human("a1") for _ in range(10)]
    writes = [asyncio.create_task(store.record(d)) for d in ds]
    await asyncio.sleep(0)
    await store.close()
    assert all(w.done() and not w.cancelled() and w.exception() is None for w in writes)
    again = SQLiteStore(path)
    assert (await again.account("a1"))["decisions_total"] == 10
    await again.close()


# -- schema migrations -------------------------------------------------------------------------

def _version_1_file(path) -> None:
    """A ledger as Tell's schema 1 left it, with one decision recorded twice (a replayed write that
    had landed) and counted twice on its account."""
    from edge.store.sqlite import _MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in _MIGRATIONS[1].split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    ds = [automated("a1"), automated("a1"), human("a1")]
    rows = [ds[0], ds[1], ds[1], ds[2]]  # ds[1] twice
    for d in rows:
        conn.execute(
            "INSERT INTO decisions (request_id, account_id, ts, action, verdict, score, automated, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (d.request_id, d.account_id, d.ts, d.action, d.decision.value, d.score, int(d.decision is not Verdict.ALLOW),
             json.dumps(d.to_json())))
    conn.execute("INSERT INTO accounts (account_id, enforcement, decisions, automated, max_score, first_ts, last_ts)"
                 " VALUES ('a1', 'limit', 4, 3, 0.6, ?, ?)", (rows[0].ts, rows[-1].ts))
    conn.close()
    return ds


async def test_a_version_1_file_is_migrated(tmp_path) -> None:
    path = tmp_path / "v1.sqlite3"
    ds = _version_1_file(path)
    store = SQLiteStore(str(path))
    try:
        acct = await store.account("a1", limit=100)
        # The copy is gone and no longer counted; the rest of the ledger is as it was.
        assert sorted(d["request_id"] for d in acct["decisions"]) == sorted(d.request_id for d in ds)
        assert (acct["decisions_total"], acct["automated"], acct["enforcement"]) == (3, 2, "limit")
        # The unique index holds from now on, and the policy reads the old ledger: its human write
        # (the newest) breaks the streak, so four automated writes after it stay a limit; a fifth bans.
        await store.record(ds[0])
        assert (await store.account("a1"))["decisions_total"] == 3
        for _ in range(4):
            assert await store.record(automated("a1")) is Enforcement.LIMIT
        assert await store.record(automated("a1")) is Enforcement.BAN
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 8
    finally:
        conn.close()


async def test_a_changed_policy_rebuilds_the_summary_from_the_ledger(tmp_path) -> None:
    from edge.enforcement import EnforcementPolicy

    path = str(tmp_path / "t.sqlite3")
    store = SQLiteStore(path)
    for _ in range(3):
        await store.record(automated("a1"))
    await store.close()
    # Streak of four from now on: the three recorded writes count towards it.
    strict = SQLiteStore(path, policy=EnforcementPolicy(streak=4, reported_streak=3))
    try:
        assert await strict.record(automated("a1")) is Enforcement.BAN
        assert "last 4 public writes" in (await strict.events("a1"))[0]["reason"]
    finally:
        await strict.close()
