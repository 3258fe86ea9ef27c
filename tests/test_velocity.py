"""Write velocity (edge/velocity.py): past its action's limit an account's next write is challenged,
counted fleet-wide in the store."""
from __future__ import annotations

import base64

import pytest

from edge.app import make_app
from edge.config import ConfigError, load_config
from edge.telemetry import encode
from edge.velocity import REASON, parse_limit
from tests.payloads import browser_headers, person

WRITE = {"X-Tell-Telemetry": base64.urlsafe_b64encode(encode(person())).decode().rstrip("="), **browser_headers()}


def _config(db, **velocity: str):
    env = {"TELL_ADMIN_TOKEN": "t", "TELL_SECRET": "s" * 32, "TELL_STORE": f"sqlite:///{db}",
           "TELL_SIGNATURES_POLL_S": "0"}
    env.update({f"TELL_VELOCITY_{k.upper()}": v for k, v in velocity.items()})
    return load_config(env=env)


async def _decide(client, account: str, uri: str = "/post", ip: str = "203.0.113.7") -> dict:
    r = await client.post("/v1/decide", headers={**WRITE, "X-Original-URI": uri, "X-Tell-Account": account,
                                                 "X-Forwarded-For": ip})
    body = await r.json()
    assert r.status == {"allow": 200, "challenge": 401, "block": 403}[body["decision"]], body
    return body


def _velocity(body: dict) -> list[str]:
    return [r for r in body["reasons"] if r.startswith(REASON)]


async def test_the_write_past_the_limit_is_challenged_with_the_count(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(_config(tmp_path / "t.sqlite3", post="3/hour")))
    first = [await _decide(client, "alice") for _ in range(3)]
    assert [b["decision"] for b in first] == ["allow"] * 3 and not any(_velocity(b) for b in first)
    fourth = await _decide(client, "alice")
    assert fourth["decision"] == "challenge"
    assert _velocity(fourth) == ["velocity: post number 4 from this account within 1 hour (limit 3)"]
    # Another account, and another action of the same account, have counters of their own.
    assert (await _decide(client, "bob"))["decision"] == "allow"
    assert (await _decide(client, "alice", "/comment"))["decision"] == "allow"
    scraped = await (await client.get("/metrics")).text()
    assert 'tell_velocity_exceeded_total{action="post"} 1.0' in scraped


async def test_the_reason_is_in_the_ledger_and_does_not_count_as_automation(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(_config(tmp_path / "t.sqlite3", post="1/hour")))
    await _decide(client, "carol")
    over = await _decide(client, "carol")
    r = await client.get("/v1/accounts/carol?limit=10", headers={"Authorization": "Bearer t"})
    decisions = (await r.json())["decisions"]
    recorded = next(d for d in decisions if d["request_id"] == over["request_id"])
    assert recorded["decision"] == "challenge" and _velocity(recorded) and recorded["rules"] == []
    # Writing fast is not evidence of automation on its own: the account is not warned for it.
    assert over["enforcement"] == "none"


async def test_workers_sharing_a_store_count_together(aiohttp_client, tmp_path):
    db = tmp_path / "shared.sqlite3"
    a = await aiohttp_client(make_app(_config(db, comment="3/hour")))
    b = await aiohttp_client(make_app(_config(db, comment="3/hour")))
    got = [(await _decide(w, "dave", "/comment"))["decision"] for w in (a, b, a, b)]
    assert got == ["allow", "allow", "allow", "challenge"]


async def test_register_is_counted_per_client_address_when_configured(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(_config(tmp_path / "t.sqlite3", register="2/hour")))
    got = [(await _decide(client, f"new-{i}", "/register", ip="198.51.100.1"))["decision"] for i in range(3)]
    assert got == ["allow", "allow", "challenge"]
    assert (await _decide(client, "new-x", "/register", ip="198.51.100.2"))["decision"] == "allow"


async def test_register_is_not_limited_by_default(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(_config(tmp_path / "t.sqlite3")))
    got = [(await _decide(client, f"n-{i}", "/register"))["decision"] for i in range(8)]
    assert got == ["allow"] * 8


async def test_an_empty_limit_turns_an_action_off(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(_config(tmp_path / "t.sqlite3", message="")))
    got = [(await _decide(client, "erin", "/message"))["decision"] for _ in range(5)]
    assert got == ["allow"] * 5


@pytest.mark.parametrize("text, want", [("20/hour", (20, 3600)), ("5 per 10 minutes", (5, 600)),
                                        ("1/second", (1, 1)), ("", None), ("  ", None)])
def test_rates_parse(text, want):
    assert parse_limit(text) == want


@pytest.mark.parametrize("bad", ["lots", "20/fortnight", "0/hour", "-1/minute"])
def test_a_bad_rate_is_a_config_error_naming_the_key(bad, tmp_path):
    with pytest.raises(ConfigError, match=r"velocity\.post"):
        _config(tmp_path / "t.sqlite3", post=bad)


def test_the_defaults(tmp_path):
    v = _config(tmp_path / "t.sqlite3").velocity
    assert (parse_limit(v.post), parse_limit(v.comment), parse_limit(v.message), parse_limit(v.register)) == \
        ((20, 3600), (60, 3600), (120, 3600), None)
