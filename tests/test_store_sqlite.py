"""SQLiteStore: the shared contract, plus what only a file-backed store has to prove."""
from __future__ import annotations

import asyncio
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
