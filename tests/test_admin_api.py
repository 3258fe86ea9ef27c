"""Admin write API: reports, the review queue and overrides, through a tiny inline app."""
from __future__ import annotations

import json

import pytest
from aiohttp import web

from edge.admin_api import MAX_BODY, add_admin_routes
from edge.config import load_config
from edge.decision import Enforcement, Verdict
from edge.keys import CONFIG, STORE
from edge.store.sqlite import SQLiteStore
from store_contract import automated

AUTH = {"Authorization": "Bearer t"}
LONG_ID = "x" * 129


def make_app(tmp_path, token: str = "t") -> web.Application:
    app = web.Application()
    app[CONFIG] = load_config(env={"TELL_ADMIN_TOKEN": token} if token else {})
    app[STORE] = SQLiteStore(str(tmp_path / "admin.sqlite3"))

    async def close_store(app: web.Application) -> None:
        await app[STORE].close()

    app.on_cleanup.append(close_store)
    add_admin_routes(app)
    return app


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    return await aiohttp_client(make_app(tmp_path))


def as_body(value) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"reporter_id": "r1", "account_id": "a1", "reason": "spam"}, 200, None),
        ({"reporter_id": "r1", "account_id": "a1"}, 200, None),
        ({"reporter_id": "r1", "account_id": "a" * 128, "reason": ""}, 200, None),
        ({"account_id": "a1"}, 400, "reporter_id"),
        ({"reporter_id": "r1"}, 400, "account_id"),
        ({"reporter_id": 7, "account_id": "a1"}, 400, "reporter_id"),
        ({"reporter_id": "r1", "account_id": None}, 400, "account_id"),
        ({"reporter_id": "r1", "account_id": ["a1"]}, 400, "account_id"),
        ({"reporter_id": "r1", "account_id": ""}, 400, "account_id"),
        ({"reporter_id": "r1", "account_id": LONG_ID}, 400, "account_id"),
        ({"reporter_id": LONG_ID, "account_id": "a1"}, 400, "reporter_id"),
        ({"reporter_id": "r1", "account_id": "a1", "reason": 3}, 400, "reason"),
        pytest.param({"reporter_id": "r1", "account_id": "a1", "reason": "r" * 2001}, 400, "reason", id="long-reason"),
        ([], 400, "$"),
        ("a string", 400, "$"),
        (b"", 400, "$"),
        (b"{not json", 400, "$"),
        (b"\xff\xfe{}", 400, "$"),
        pytest.param(b'{"reporter_id": ' + b"1" * 5000 + b', "account_id": "a1"}', 400, "$", id="5000-digit-int"),
        pytest.param(b"[" * 5000 + b"]" * 5000, 400, "$", id="nested-5000"),
        pytest.param(b'{"reporter_id": "r1", "account_id": "a1", "reason": "' + b"r" * MAX_BODY + b'"}', 400, "$",
                     id="over-16KiB"),
    ],
)
async def test_post_report_input(client, body, status: int, field: str | None) -> None:
    resp = await client.post("/v1/reports", data=as_body(body), headers=AUTH)
    assert resp.status == status
    data = await resp.json()
    if status == 400:
        assert data["field"] == field and data["error"] and data["detail"]
    else:
        assert (data["reports"], data["new"]) == (1, True)


async def test_an_oversize_chunked_body_is_refused(client) -> None:
    async def chunks():
        for _ in range(20):
            yield b" " * 1024

    resp = await client.post("/v1/reports", data=chunks(), headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"] == "body_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/reports"), ("GET", "/v1/review"), ("POST", "/v1/accounts/a1/enforcement")],
)
@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic t"}, 401)],
)
async def test_every_route_needs_the_admin_token(client, method: str, path: str, headers: dict, status: int) -> None:
    resp = await client.request(method, path, headers=headers, data=b"{}")
    assert resp.status == status
    assert await client.app[STORE].review(10) == []


async def test_admin_api_is_off_without_a_token(aiohttp_client, tmp_path) -> None:
    client = await aiohttp_client(make_app(tmp_path, token=""))
    resp = await client.get("/v1/review", headers=AUTH)
    assert resp.status == 403


async def test_reports_are_deduplicated_per_reporter(client) -> None:
    for reporter, expected in (("r1", (1, True)), ("r1", (1, False)), ("r2", (2, True))):
        resp = await client.post("/v1/reports", json={"reporter_id": reporter, "account_id": "a1"}, headers=AUTH)
        data = await resp.json()
        assert (data["reports"], data["new"]) == expected


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 200), ("?limit=1", 200), ("?limit=500", 200), ("?limit=0", 400), ("?limit=501", 400),
     ("?limit=-1", 400), ("?limit=1.5", 400), ("?limit=abc", 400), ("?limit=", 400),
     ("?limit=%D9%A3", 400), pytest.param("?limit=" + "9" * 5000, 400, id="5000-digits")],
)
async def test_review_limit(client, query: str, status: int) -> None:
    resp = await client.get("/v1/review" + query, headers=AUTH)
    assert resp.status == status
    if status == 400:
        assert (await resp.json())["field"] == "limit"


async def test_review_lists_reported_accounts_by_evidence(client) -> None:
    store = client.app[STORE]
    await store.record(automated("busy"))
    for reporter, account in (("r1", "quiet"), ("r1", "busy"), ("r1", "loud"), ("r2", "loud")):
        await client.post("/v1/reports", json={"reporter_id": reporter, "account_id": account}, headers=AUTH)
    resp = await client.get("/v1/review?limit=10", headers=AUTH)
    assert resp.status == 200
    assert [a["account_id"] for a in (await resp.json())["accounts"]] == ["loud", "busy", "quiet"]


@pytest.mark.parametrize(
    ("path_id", "body", "status", "field"),
    [
        ("a1", {"enforcement": "ban", "note": "spam ring", "actor": "alice"}, 200, None),
        ("a1", {"enforcement": "none", "note": "appeal", "actor": "alice"}, 200, None),
        ("a1", {"enforcement": "warn", "note": "n", "actor": "a"}, 200, None),
        ("a1", {"enforcement": "limit", "note": "n", "actor": "a"}, 200, None),
        ("a" * 128, {"enforcement": "limit", "note": "n", "actor": "a"}, 200, None),
        ("a1", {"enforcement": "BAN", "note": "n", "actor": "a"}, 400, "enforcement"),
        ("a1", {"enforcement": "banned", "note": "n", "actor": "a"}, 400, "enforcement"),
        ("a1", {"enforcement": 3, "note": "n", "actor": "a"}, 400, "enforcement"),
        ("a1", {"enforcement": None, "note": "n", "actor": "a"}, 400, "enforcement"),
        ("a1", {"note": "n", "actor": "a"}, 400, "enforcement"),
        ("a1", {"enforcement": "ban", "actor": "a"}, 400, "note"),
        ("a1", {"enforcement": "ban", "note": "  ", "actor": "a"}, 400, "note"),
        ("a1", {"enforcement": "ban", "note": "n" * 2001, "actor": "a"}, 400, "note"),
        ("a1", {"enforcement": "ban", "note": "n"}, 400, "actor"),
        ("a1", {"enforcement": "ban", "note": "n", "actor": {"name": "a"}}, 400, "actor"),
        ("a1", {"enforcement": "ban", "note": "n", "actor": LONG_ID}, 400, "actor"),
        (LONG_ID, {"enforcement": "ban", "note": "n", "actor": "a"}, 400, "account_id"),
        ("a1", b"nope", 400, "$"),
        ("a1", b"null", 400, "$"),
    ],
)
async def test_post_enforcement_input(client, path_id: str, body, status: int, field: str | None) -> None:
    resp = await client.post(f"/v1/accounts/{path_id}/enforcement", data=as_body(body), headers=AUTH)
    assert resp.status == status
    data = await resp.json()
    if status == 400:
        assert data["field"] == field
        assert await client.app[STORE].account(path_id) is None
    else:
        assert data["enforcement"] == body["enforcement"]
        assert await client.app[STORE].enforcement(path_id) is Enforcement(body["enforcement"])


async def test_an_override_is_audited(client) -> None:
    store = client.app[STORE]
    await store.record(automated("a1", action="register", verdict=Verdict.BLOCK))
    resp = await client.post("/v1/accounts/a1/enforcement", headers=AUTH,
                             json={"enforcement": "none", "note": "appeal: screen reader user", "actor": "alice"})
    assert resp.status == 200
    data = await resp.json()
    assert (data["previous"], data["enforcement"]) == ("ban", "none")
    ev = (await store.account("a1"))["events"][0]
    assert (ev["from"], ev["to"], ev["actor"], ev["note"]) == ("ban", "none", "alice", "appeal: screen reader user")


async def test_a_store_outage_is_a_503_not_a_crash(client) -> None:
    await client.app[STORE].close()
    resp = await client.get("/v1/review", headers=AUTH)
    assert resp.status == 503
    assert (await resp.json())["error"] == "store_unavailable"
