"""RedisStore against the real server at REDIS_URL: the shared contract, plus the key layout.

Every test uses its own key prefix and deletes its keys afterwards, so the suite never touches
anything else on the server. An unreachable server fails these tests; deselect them with
``-m 'not redis'``.
"""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import redis

from edge.decision import Enforcement, Verdict
from edge.store import StoreError, open_store
from edge.store.redis import RedisStore
from store_contract import StoreContract, automated, human

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix() -> str:
    p = f"tell-test-{uuid.uuid4().hex[:12]}"
    yield p
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{p}:*", count=500))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass  # the test itself has already failed on the unreachable server
    finally:
        client.close()


@pytest.fixture
def store_spec(prefix: str) -> tuple:
    return ("redis", REDIS_URL, prefix)


class TestRedisStore(StoreContract):
    pass


@pytest.fixture
async def rstore(prefix: str) -> RedisStore:
    s = RedisStore(REDIS_URL, prefix=prefix)
    yield s
    await s.close()


async def test_account_keys_share_one_cluster_hash_tag(rstore: RedisStore, prefix: str) -> None:
    await rstore.record(automated("a:1"))
    await rstore.report("r1", "a:1", "spam")
    keys = set(await rstore._r.keys(f"{prefix}:*"))
    tag = "{acct:a:1}"
    assert {f"{prefix}:{tag}:ledger", f"{prefix}:{tag}:state", f"{prefix}:{tag}:events",
            f"{prefix}:{tag}:reports"} <= keys
    assert f"{prefix}:decisions" in keys
    assert await rstore._r.type(f"{prefix}:decisions") == "stream"


async def test_token_counter_carries_its_expiry(rstore: RedisStore, prefix: str) -> None:
    await rstore.use_token("tok", 1, 30)
    ttl = await rstore._r.pttl(f"{prefix}:{{tok:tok}}")
    assert 0 < ttl <= 30_000
    await rstore.use_token("tok", 1, 30)
    assert 0 < await rstore._r.pttl(f"{prefix}:{{tok:tok}}") <= ttl


async def test_the_recent_stream_is_capped(prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=prefix, recent_max=10)
    try:
        for _ in range(300):
            await store.record(human(None))
        # MAXLEN ~ trims whole macro-nodes, so the length stays near the cap, never unbounded.
        assert await store._r.xlen(f"{prefix}:decisions") < 300
    finally:
        await store.close()


async def test_the_account_ledger_is_capped(prefix: str) -> None:
    from edge.enforcement import EnforcementPolicy

    store = RedisStore(REDIS_URL, prefix=prefix, ledger_max=10, policy=EnforcementPolicy(ledger_depth=10))
    try:
        for _ in range(15):
            await store.record(human("a1"))
        acct = await store.account("a1", limit=100)
        assert (len(acct["decisions"]), acct["decisions_total"]) == (10, 15)
    finally:
        await store.close()


async def test_decisions_since_pages_through_the_stream(rstore: RedisStore) -> None:
    import time

    t = time.time()
    old = [human(None, ts=t - 100) for _ in range(70)]
    new = [human(None, ts=t) for _ in range(5)]
    for d in new[:2] + old + new[2:]:
        await rstore.record(d)
    got = await rstore.decisions(limit=10, since=t - 1)
    assert [d["request_id"] for d in got] == [d.request_id for d in reversed(new)]


async def test_an_unreachable_server_is_a_store_error() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(StoreError):
            await store.enforcement("a1")
    finally:
        await store.close()


def test_open_store_reads_redis_urls() -> None:
    store = open_store(REDIS_URL, prefix="x")
    assert isinstance(store, RedisStore) and store.prefix == "x"
    asyncio.run(store.close())


async def test_contended_account_converges(rstore: RedisStore) -> None:
    # Several writers on one hot account: optimistic transactions retry, nothing is lost.
    ds = [automated("hot", verdict=Verdict.BLOCK) for _ in range(60)]
    states = await asyncio.gather(*(rstore.record(d) for d in ds))
    assert Enforcement.BAN in states
    assert (await rstore.account("hot"))["decisions_total"] == 60


async def test_an_account_without_a_stored_summary_is_judged_from_its_ledger(rstore: RedisStore, prefix: str) -> None:
    # As an older Tell left it: state and ledger, no policy summary.
    for _ in range(4):
        await rstore.record(automated("old"))
    await rstore._r.hdel(f"{prefix}:{{acct:old}}:state", "policy")
    assert await rstore.record(automated("old")) is Enforcement.BAN
    assert "last 5 public writes" in (await rstore.events("old"))[0]["reason"]


async def test_remembered_request_ids_are_capped_with_the_ledger(prefix: str) -> None:
    from edge.enforcement import EnforcementPolicy

    store = RedisStore(REDIS_URL, prefix=prefix, ledger_max=10, recent_max=10, policy=EnforcementPolicy(ledger_depth=10))
    try:
        for _ in range(15):
            await store.record(human("a1"))
            await store.record(human(None))
        assert await store._r.zcard(f"{prefix}:{{acct:a1}}:rids") == 10
        assert await store._r.zcard(f"{prefix}:{{{prefix}:decisions}}:rids") == 10
    finally:
        await store.close()
