"""A banned account stays blocked while the store is down (edge/service.py ``KnownEnforcement``):
each worker remembers the enforcement it has seen, and the fail mode never lets a ban lapse."""
from __future__ import annotations

import shutil

from edge.app import make_app
from edge.decision import Enforcement
from edge.service import KNOWN, KnownEnforcement
from tests.test_faults import ADMIN, _config, _decide


async def _override(client, account: str, enforcement: str) -> None:
    r = await client.post(f"/v1/accounts/{account}/enforcement", headers=ADMIN,
                          json={"enforcement": enforcement, "note": "test", "actor": "tester"})
    assert r.status == 200, await r.text()


async def test_a_ban_holds_through_a_store_outage(aiohttp_client, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    client = await aiohttp_client(make_app(_config(f"sqlite:///{data}/tell.sqlite3")))
    await _override(client, "mallory", "ban")
    await _override(client, "trent", "limit")
    await _override(client, "peggy", "ban")
    await _override(client, "peggy", "none")  # lifted: forgotten
    assert (await _decide(client, "mallory"))[0] == 403

    shutil.rmtree(data)  # the store is gone
    status, body, _ = await _decide(client, "mallory")
    assert status == 403 and body["enforcement"] == "ban", body
    assert "account is banned (as last seen by this worker)" in body["reasons"]
    assert "store unavailable (fail_open)" in body["reasons"]
    status, body, _ = await _decide(client, "trent")  # limited, not banned: the fail mode decides
    assert status == 200 and body["enforcement"] == "limit"
    status, body, _ = await _decide(client, "peggy")
    assert status == 200 and body["enforcement"] == "none"
    status, body, _ = await _decide(client, "someone-else")
    assert status == 200 and "store unavailable (fail_open)" in body["reasons"]


async def test_a_ban_learnt_from_a_recorded_write_is_remembered(aiohttp_client, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    app = make_app(_config(f"sqlite:///{data}/tell.sqlite3", "fail_closed"))
    client = await aiohttp_client(app)
    await _override(client, "oscar", "ban")
    await _override(client, "oscar", "none")
    assert app[KNOWN].get("oscar") is Enforcement.NONE
    # A write recorded while the account is banned teaches the worker, whoever banned it.
    await _override(client, "oscar", "ban")
    app[KNOWN].note("oscar", Enforcement.NONE)  # as a fresh worker that has not seen oscar yet
    assert (await _decide(client, "oscar"))[0] == 403
    assert app[KNOWN].get("oscar") is Enforcement.BAN
    shutil.rmtree(data)
    status, body, _ = await _decide(client, "oscar")
    assert status == 403 and body["enforcement"] == "ban"


def test_the_memory_is_bounded_and_forgets_the_least_recently_seen():
    known = KnownEnforcement(cap=3)
    for name in ("a", "b", "c"):
        known.note(name, Enforcement.BAN)
    known.note("a", Enforcement.BAN)  # seen again: now the most recent
    known.note("d", Enforcement.WARN)
    assert len(known) == 3 and known.get("b") is Enforcement.NONE
    assert [known.get(n) for n in ("a", "c", "d")] == [Enforcement.BAN, Enforcement.BAN, Enforcement.WARN]
    known.note(None, Enforcement.BAN)
    assert len(known) == 3
