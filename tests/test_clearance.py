"""Clearance tokens: HMAC with key ids and rotation, expiry, bound to session + account + action,
a small use count enforced fleet-wide, and what the write path makes of each kind of bad one."""
from __future__ import annotations

import asyncio
import time

import pytest

from edge import tokens
from edge.app import make_app
from edge.config import TokenConfig, load_config
from edge.store.sqlite import SQLiteStore
from edge.telemetry import encode
from tests.payloads import browser_headers, person

CFG = TokenConfig(keys={"k2": "new-secret", "k1": "old-secret"}, active_kid="k2", ttl_s=60)
SCOPE = {"a": "alice", "x": "post", "r": "req-1"}


def clearance(cfg: TokenConfig = CFG, sid: str = "sid", data=SCOPE, now: float = 1000, ttl_s: int = 120) -> str:
    return tokens.issue(cfg, sid, data, now=now, ttl_s=ttl_s, purpose=tokens.CLEARANCE)[0]


def test_clearance_round_trip_carries_its_scope():
    c = tokens.verify_scoped(CFG, clearance(), "sid", purpose=tokens.CLEARANCE, account="alice", action="post", now=1001)
    assert c.purpose == tokens.CLEARANCE and c.data["r"] == "req-1" and c.exp == 1120


def test_a_clearance_signed_with_a_rotated_out_key_verifies_until_the_key_is_retired():
    old = TokenConfig(keys={"k1": "old-secret"}, active_kid="k1")
    token = clearance(old)
    assert tokens.verify(CFG, token, "sid", now=1001, purpose=tokens.CLEARANCE).sid == "sid"
    retired = TokenConfig(keys={"k2": "new-secret"}, active_kid="k2")
    with pytest.raises(tokens.TokenError) as exc:
        tokens.verify(retired, token, "sid", now=1001, purpose=tokens.CLEARANCE)
    assert exc.value.reason == "unknown_key"


@pytest.mark.parametrize("token, sid, account, action, now, purpose, reason", [
    (clearance(), "sid", "alice", "post", 1120, tokens.CLEARANCE, "expired"),
    (clearance(), "other", "alice", "post", 1001, tokens.CLEARANCE, "wrong_session"),
    (clearance(), "sid", "mallory", "post", 1001, tokens.CLEARANCE, "wrong_account"),
    (clearance(), "sid", None, "post", 1001, tokens.CLEARANCE, "wrong_account"),
    (clearance(), "sid", "alice", "register", 1001, tokens.CLEARANCE, "wrong_action"),
    (clearance(), "sid", "alice", "post", 1001, tokens.TELEMETRY, "wrong_purpose"),
    (clearance()[:-2] + "xx", "sid", "alice", "post", 1001, tokens.CLEARANCE, "forged"),
    (tokens.issue(CFG, "sid", SCOPE, now=1000)[0], "sid", "alice", "post", 1001, tokens.CLEARANCE, "wrong_purpose"),
    (tokens.issue(CFG, "sid", SCOPE, now=1000, purpose=tokens.CHALLENGE)[0], "sid", "alice", "post", 1001,
     tokens.CLEARANCE, "wrong_purpose"),
])
def test_bad_clearances_are_refused_with_their_reason(token, sid, account, action, now, purpose, reason):
    with pytest.raises(tokens.TokenError) as exc:
        tokens.verify_scoped(CFG, token, sid, purpose=purpose, account=account, action=action, now=now)
    assert exc.value.reason == reason


def test_a_clearance_for_no_account_needs_a_write_without_one():
    token = clearance(data={"a": "", "x": "register"})
    assert tokens.verify_scoped(CFG, token, "sid", purpose=tokens.CLEARANCE, account=None, action="register", now=1001)


# --- at the write -------------------------------------------------------------------------------

def config_for(tmp_path, **env):
    return load_config(env={"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32,
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3", **env})


async def session(client) -> str:
    await client.get("/edge/collector.js")
    return next(c.value for c in client.session.cookie_jar if c.key == "tell_sid")


def mint(config, cookie: str, account: str = "alice", action: str = "post", **kw) -> str:
    return tokens.issue(config.tokens, tokens.session_binding(cookie), {"a": account, "x": action, "r": "r"},
                        purpose=tokens.CLEARANCE, ttl_s=kw.pop("ttl_s", 120), **kw)[0]


async def write(client, clearance: str | None = None, account: str = "alice", token: str | None = None):
    headers = {"X-Original-URI": "/post", "X-Tell-Account": account, **browser_headers()}
    if clearance:
        headers["X-Tell-Clearance"] = clearance
    if token:
        headers["X-Tell-Token"] = token
    r = await client.post("/v1/decide", headers=headers)
    return r.status, await r.json()


@pytest.mark.parametrize("max_uses", [1, 2])
async def test_a_clearance_allows_max_uses_writes_then_is_a_replay(aiohttp_client, tmp_path, max_uses):
    config = config_for(tmp_path, TELL_CHALLENGE_CLEARANCE_MAX_USES=str(max_uses))
    client = await aiohttp_client(make_app(config))
    token = mint(config, await session(client))
    for _ in range(max_uses):
        status, body = await write(client, token)
        assert status == 200 and "tell.clearance" in [r["id"] for r in body["rules"]], body["reasons"]
    status, body = await write(client, token)
    assert status == 401 and "clearance rejected (replayed)" in body["reasons"]


@pytest.mark.parametrize("kind, reason, counted", [
    ("expired", "expired", False),
    ("forged", "forged", True),
    ("other_account", "wrong_account", True),
    ("other_action", "wrong_action", True),
    ("other_session", "wrong_session", True),
])
async def test_a_bad_clearance_leaves_the_challenge_and_counts_unless_merely_late(aiohttp_client, tmp_path, kind, reason, counted):
    config = config_for(tmp_path, TELL_CHALLENGE_FAILURES_BEFORE_BLOCK="1")
    client = await aiohttp_client(make_app(config))
    cookie = await session(client)
    token = {
        "expired": lambda: mint(config, cookie, now=time.time() - 1000),
        "forged": lambda: mint(config, cookie)[:-4] + "AAAA",
        "other_account": lambda: mint(config, cookie, account="bob"),
        "other_action": lambda: mint(config, cookie, action="comment"),
        "other_session": lambda: mint(config, "another-browser-cookie-value"),
    }[kind]()
    status, body = await write(client, token)
    # failures_before_block = 1: a counted failure blocks at once
    assert (status, f"clearance rejected ({reason})" in body["reasons"]) == (403 if counted else 401, True)
    assert "tell.clearance-invalid" in [r["id"] for r in body["rules"]]
    if counted:
        assert "tell.challenge-exhausted" in [r["id"] for r in body["rules"]]


async def test_a_clearance_never_lifts_a_block_and_is_not_spent_on_one(aiohttp_client, tmp_path):
    config = config_for(tmp_path, TELL_POLICY_MISSING_TELEMETRY="block")
    client = await aiohttp_client(make_app(config))
    token = mint(config, await session(client))
    status, body = await write(client, token)
    assert status == 403 and "tell.clearance" not in [r["id"] for r in body["rules"]]
    store = SQLiteStore(str(tmp_path / "tell.sqlite3"))
    try:
        claims = tokens.verify(config.tokens, token, tokens.session_binding(next(
            c.value for c in client.session.cookie_jar if c.key == "tell_sid")), purpose=tokens.CLEARANCE)
        assert await store.token_uses(f"clr:{claims.jti}") == 0
    finally:
        await store.close()


async def test_a_clearance_is_not_spent_on_a_write_that_needs_none(aiohttp_client, tmp_path):
    config = config_for(tmp_path)
    client = await aiohttp_client(make_app(config))
    clear = mint(config, await session(client))
    payload = person()
    r = await client.post("/edge/telemetry", data=encode(payload),
                          headers={"Content-Type": "application/msgpack", **browser_headers()})
    telemetry_token = (await r.json())["token"]
    status, _ = await write(client, clear, token=telemetry_token)
    assert status == 200
    status, body = await write(client, clear)  # now challenged (no telemetry): the clearance is still good
    assert status == 200 and "tell.clearance" in [r["id"] for r in body["rules"]], body["reasons"]


async def test_replay_is_refused_across_the_fleet(aiohttp_client, tmp_path):
    """Two sidecars sharing one store: a clearance spent on one is a replay on the other."""
    config = config_for(tmp_path)
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    cookie = await session(a)
    b.session.cookie_jar.update_cookies({"tell_sid": cookie})
    token = mint(config, cookie)
    assert (await write(a, token))[0] == 200
    status, body = await write(b, token)
    assert status == 401 and "clearance rejected (replayed)" in body["reasons"]


async def test_secrets_come_from_configuration(tmp_path):
    config = load_config(env={"TELL_SECRET": "x" * 32})
    assert config.tokens.keys == {"k1": "x" * 32}
    masked = config.masked()
    assert masked["tokens"]["keys"] == {"k1": "***"} and masked["challenge"]["clearance_max_uses"] == 1


# --- the store's read of a counter (challenge failures are read at the next write) ------------------

async def _uses_contract(store) -> None:
    assert await store.token_uses("never") == 0
    assert [await store.use_token("t", 1, 0.3) for _ in range(2)] == [1, 2]
    assert await store.token_uses("t") == 2
    assert await store.token_uses("t") == 2  # reading does not count
    await asyncio.sleep(0.4)
    assert await store.token_uses("t") == 0  # expired


async def test_sqlite_token_uses(tmp_path):
    store = SQLiteStore(str(tmp_path / "t.sqlite3"))
    try:
        await _uses_contract(store)
    finally:
        await store.close()


@pytest.mark.redis
async def test_redis_token_uses():
    import os
    import uuid

    from edge.store.redis import RedisStore

    prefix = f"tell-test-{uuid.uuid4().hex[:12]}"
    store = RedisStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), prefix=prefix)
    try:
        await _uses_contract(store)
    finally:
        await store.close()
