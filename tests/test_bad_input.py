"""Bad input over HTTP, end to end: every case is a 4xx with a JSON error naming the problem, never a
5xx or a hang, and nothing reaches the ledger. The table in docs/bad-input.md lists each case with
its status, error code and the test that holds it.

Refused tokens are the exception by design: a write with a bad token is still a write, so it is
*decided* (401 challenge, rule ``tell.token-invalid``, the reason named) and that decision is
recorded; what the token claimed is never used.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import shutil
from pathlib import Path

import msgpack
import pytest

from edge import tokens
from edge.app import make_admin_app, make_app
from edge.buffer import BUFFER
from edge.config import load_config
from edge.keys import STORE
from edge.telemetry import MAX_BODY_BYTES, encode
from signatures import SHIPPED
from tests.payloads import browser_headers, person

ADMIN_TOKEN = "admin-secret-0123456789"
SECRET = "signing-secret-" + "k" * 24
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MSGPACK = {"Content-Type": "application/msgpack"}
BAD_SETS = sorted((Path(__file__).parent / "testdata" / "signatures" / "bad").glob("*.yml"))


def _env(tmp_path, **extra: str) -> dict[str, str]:
    return {"TELL_ADMIN_TOKEN": ADMIN_TOKEN, "TELL_SECRET": SECRET, "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3",
            "TELL_SIGNATURES_POLL_S": "0", **extra}


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    return await aiohttp_client(make_app(load_config(env=_env(tmp_path))))


async def _ledger(client) -> list[str]:
    assert len(client.app[BUFFER]) == 0
    return [d["request_id"] for d in await client.app[STORE].decisions(limit=100_000)]


async def _expect(resp, status: int, error: str, field: str | None) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"] == error and body.get("detail"), body
    if field is not None:
        assert body["field"] == field, body
    return body


# --- telemetry: POST /edge/telemetry -------------------------------------------------------------

def _payload(**kw) -> dict:
    p = person()
    p.update(kw)
    return p


def _deep(n: int) -> bytes:
    return b"\x82\xa1v\x01\xa6probes" + b"\x91" * n + b"\x01"


def _huge_map() -> bytes:
    p = person()
    p["device"] = {f"k{i}": i for i in range(100)}
    return encode(p)


TELEMETRY_CASES = [
    # (id, body, content type, status, error, field)
    ("truncated-msgpack", encode(person())[:-7], "application/msgpack", 400, "bad_telemetry", "$"),
    ("not-a-map", msgpack.packb([1, 2, 3]), "application/msgpack", 400, "bad_telemetry", "$"),
    ("wrong-type-sid", encode(_payload(sid=12)), "application/msgpack", 400, "bad_telemetry", "sid"),
    ("wrong-type-device", encode(_payload(device=[1, 2])), "application/msgpack", 400, "bad_telemetry", "device"),
    ("wrong-type-event-field", encode(_payload(events=[["mm", 1.0, 1, "x", 0, 0, 0, 0, 0]])), "application/msgpack",
     400, "bad_telemetry", "events[0][3]"),
    ("huge-array", encode(_payload(events=[["fo", 1.0, 1, 0]] * 5000)), "application/msgpack", 400, "bad_telemetry", "$"),
    ("huge-map", _huge_map(), "application/msgpack", 400, "bad_telemetry", "$"),
    ("huge-string", encode(_payload(page="/" + "p" * 600)), "application/msgpack", 400, "bad_telemetry", "$"),
    ("deep-nesting", _deep(5000), "application/msgpack", 400, "bad_telemetry", "$"),
    ("extension-type", msgpack.packb({"v": 1, "x": msgpack.ExtType(1, b"zz")}), "application/msgpack", 400, "bad_telemetry", "$"),
    ("bin-type", msgpack.packb({"v": 1, "sid": b"raw"}, use_bin_type=True), "application/msgpack", 400, "bad_telemetry", "$"),
    ("nan-timestamp", encode(_payload(events=[["fo", math.nan, 1, 0]])), "application/msgpack", 400, "bad_telemetry", "events[0][1]"),
    ("inf-timestamp", encode(_payload(events=[["fo", math.inf, 1, 0]])), "application/msgpack", 400, "bad_telemetry", "events[0][1]"),
    ("negative-timestamp", encode(_payload(events=[["fo", -5.0, 1, 0]])), "application/msgpack", 400, "bad_telemetry", "events[0][1]"),
    ("timestamps-backwards", encode(_payload(events=[["fo", 9.0, 1, 0], ["bl", 3.0, 1, 0]])), "application/msgpack",
     400, "bad_telemetry", "events[1][1]"),
    ("nan-number", encode(_payload(sent_ms=math.nan)), "application/msgpack", 400, "bad_telemetry", "sent_ms"),
    ("duplicate-keys", b"\x82\xa1v\x01\xa1v\x01", "application/msgpack", 400, "bad_telemetry", "v"),
    ("non-string-key", msgpack.packb({"v": 1, 7: 1}), "application/msgpack", 400, "bad_telemetry", "$"),
    ("trailing-bytes", encode(person()) + b"\xc0", "application/msgpack", 400, "bad_telemetry", "$"),
    ("empty-body", b"", "application/msgpack", 400, "bad_telemetry", "$"),
    ("other-schema-version", encode(_payload(v=2)), "application/msgpack", 400, "bad_telemetry", "v"),
    ("schema-version-as-string", encode(_payload(v="1")), "application/msgpack", 400, "bad_telemetry", "v"),
    ("missing-schema-version", msgpack.packb({"sid": "x"}), "application/msgpack", 400, "bad_telemetry", "v"),
    ("wrong-content-type-json", json.dumps({"v": 1}).encode(), "application/json", 415, "unsupported_media_type", "Content-Type"),
    ("wrong-content-type-form", b"v=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "Content-Type"),
    ("oversized-content-length", b"\x00" * (MAX_BODY_BYTES + 1), "application/msgpack", 413, "payload_too_large", "$"),
]


@pytest.mark.parametrize("name, body, ctype, status, error, field", TELEMETRY_CASES, ids=[c[0] for c in TELEMETRY_CASES])
async def test_bad_telemetry(client, name, body, ctype, status, error, field):
    before = await _ledger(client)
    r = await client.post("/edge/telemetry", data=body, headers={"Content-Type": ctype})
    await _expect(r, status, error, field)
    assert "token" not in await r.json()
    assert await _ledger(client) == before


async def test_oversized_chunked_telemetry_without_content_length(client):
    async def chunks():
        for _ in range(MAX_BODY_BYTES // 16_384 + 2):
            yield b"\x00" * 16_384

    before = await _ledger(client)
    r = await client.post("/edge/telemetry", data=chunks(), headers=MSGPACK)
    assert r.request_info.headers.get("Transfer-Encoding") == "chunked"
    await _expect(r, 413, "payload_too_large", "$")
    assert await _ledger(client) == before


async def test_a_valid_payload_split_across_many_chunks_is_read_whole(client):
    body = encode(person())

    async def chunks():
        for i in range(0, len(body), 100):
            yield body[i:i + 100]

    r = await client.post("/edge/telemetry", data=chunks(), headers=MSGPACK)
    assert r.status == 200 and "token" in await r.json()


# --- the sidecar: /v1/decide ---------------------------------------------------------------------

def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


DECIDE_CASES = [
    ("unknown-route", {"X-Original-URI": "/nowhere"}, 400, "unknown_action", "X-Tell-Action"),
    ("unknown-action", {"X-Tell-Action": "like"}, 400, "unknown_action", "X-Tell-Action"),
    ("account-too-long", {"X-Tell-Action": "post", "X-Tell-Account": "a" * 129}, 400, "bad_account", "X-Tell-Account"),
    ("inline-not-base64", {"X-Tell-Action": "post", "X-Tell-Telemetry": "!!not base64!!"}, 400, "bad_telemetry", "X-Tell-Telemetry"),
    ("inline-truncated-msgpack", {"X-Tell-Action": "post", "X-Tell-Telemetry": _b64(encode(person())[:40])}, 400, "bad_telemetry", "$"),
    ("inline-other-schema-version", {"X-Tell-Action": "post", "X-Tell-Telemetry": _b64(encode(_payload(v=3)))}, 400, "bad_telemetry", "v"),
    ("inline-nan-timestamp", {"X-Tell-Action": "post", "X-Tell-Telemetry": _b64(encode(_payload(events=[["fo", math.nan, 1, 0]])))},
     400, "bad_telemetry", "events[0][1]"),
]


@pytest.mark.parametrize("name, headers, status, error, field", DECIDE_CASES, ids=[c[0] for c in DECIDE_CASES])
async def test_bad_decide_request(client, name, headers, status, error, field):
    before = await _ledger(client)
    r = await client.post("/v1/decide", headers=headers)
    await _expect(r, status, error, field)
    assert await _ledger(client) == before


# --- tokens: refused, decided as a challenge, recorded --------------------------------------------

async def _token(client) -> str:
    r = await client.post("/edge/telemetry", data=encode(person()), headers={**MSGPACK, **browser_headers()})
    assert r.status == 200
    return (await r.json())["token"]


def _forge(token: str) -> str:
    head, mac = token.rsplit(".", 1)
    return f"{head}.{'A' * len(mac) if not mac.startswith('A') else 'B' * len(mac)}"


TOKEN_CASES = ["forged-mac", "wrong-key-id", "expired", "other-session", "malformed", "replayed"]


@pytest.mark.parametrize("case", TOKEN_CASES)
async def test_refused_token_is_challenged_with_its_reason(client, aiohttp_client, case):
    from edge.keys import CONFIG

    cfg = client.app[CONFIG]
    token = await _token(client)
    sender = client
    if case == "forged-mac":
        token = _forge(token)
    elif case == "wrong-key-id":
        token = token.replace(f".{cfg.tokens.active_kid}.", ".k9.", 1)
    elif case == "expired":
        sid = tokens.session_binding(client.session.cookie_jar.filter_cookies(client.make_url("/"))["tell_sid"].value)
        token, _ = tokens.issue(cfg.tokens, sid, {}, now=1_000_000)
    elif case == "other-session":
        sender = await aiohttp_client(client.server)  # another cookie jar: another browser
    elif case == "malformed":
        token = "v1.garbage"
    elif case == "replayed":
        for _ in range(cfg.tokens.max_uses):  # a retried submit is fine...
            ok = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", **browser_headers()})
            assert ok.status == 200
    reason = {"forged-mac": "forged", "wrong-key-id": "unknown_key", "other-session": "wrong_session"}.get(case, case)
    before = await _ledger(client)
    r = await sender.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", **browser_headers()})
    body = await r.json()
    assert r.status == 401 and body["decision"] == "challenge"
    assert "tell.token-invalid" in r.headers["X-Tell-Rules"].split(",")
    assert f"token rejected ({reason})" in body["reasons"]
    assert await _ledger(client) == [body["request_id"], *before]  # decided and recorded, claims unused


# --- signature sets: every lint error class refused, running set unchanged -------------------------

@pytest.fixture
async def sig_client(aiohttp_client, tmp_path):
    sigdir = tmp_path / "sets"
    shutil.copytree(SHIPPED, sigdir)
    client = await aiohttp_client(make_app(load_config(env=_env(tmp_path, TELL_SIGNATURES=str(sigdir)))))
    return client, sigdir


@pytest.mark.parametrize("bad", BAD_SETS, ids=lambda p: p.stem)
async def test_every_lint_error_class_is_refused_and_the_running_set_stays(sig_client, bad):
    client, sigdir = sig_client
    before = (await (await client.get("/v1/signatures", headers=ADMIN)).json())["version"]
    shutil.copy(bad, sigdir / bad.name)
    r = await client.post("/v1/signatures/reload", headers=ADMIN)
    body = await _expect(r, 422, "lint_failed", None)
    assert body["version"] == before and body["last_reload"]["errors"]
    assert any(bad.name in e for e in body["last_reload"]["errors"])
    d = await client.post("/v1/decide", headers={"X-Tell-Action": "post"})
    assert d.headers["X-Tell-Set-Version"] == before


# --- admin API -------------------------------------------------------------------------------------

ADMIN_ROUTES = [("GET", "/v1/decisions"), ("GET", "/v1/accounts/a1"), ("GET", "/v1/review"), ("POST", "/v1/reports"),
                ("POST", "/v1/accounts/a1/enforcement"), ("GET", "/v1/signatures"), ("POST", "/v1/signatures/reload")]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", "Bearer "], ids=["missing", "wrong", "basic", "empty"])
async def test_admin_routes_need_the_bearer_token(client, method, path, auth):
    before = await _ledger(client)
    r = await client.request(method, path, headers={"Authorization": auth} if auth else {}, json={})
    await _expect(r, 401, "unauthorized", None)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert await _ledger(client) == before


async def test_admin_api_is_off_without_a_configured_token(aiohttp_client, tmp_path):
    env = _env(tmp_path)
    del env["TELL_ADMIN_TOKEN"]
    client = await aiohttp_client(make_app(load_config(env=env)))
    await _expect(await client.get("/v1/decisions", headers={"Authorization": "Bearer "}), 403, "admin_disabled", None)


ADMIN_BODIES = [
    ("malformed-json", b"{not json", 400, "invalid_json"),
    ("not-an-object", b"[1, 2]", 400, "invalid_json"),
    ("invalid-utf8", b"\xff\xfe{}", 400, "invalid_json"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, 400, "body_too_large"),
    ("oversize", json.dumps({"reporter_id": "r", "account_id": "a", "reason": "x" * 20_000}).encode(), 400, "body_too_large"),
    ("missing-field", json.dumps({"account_id": "a"}).encode(), 400, "missing_field"),
    ("wrong-type", json.dumps({"reporter_id": 5, "account_id": "a"}).encode(), 400, "invalid_field"),
]


@pytest.mark.parametrize("name, body, status, error", ADMIN_BODIES, ids=[c[0] for c in ADMIN_BODIES])
async def test_bad_admin_bodies(client, name, body, status, error):
    before = await _ledger(client)
    r = await client.post("/v1/reports", data=body, headers={**ADMIN, "Content-Type": "application/json"})
    await _expect(r, status, error, None)
    assert await _ledger(client) == before
    assert await client.app[STORE].review() == []


@pytest.mark.parametrize("limit", ["0", "-1", "x", "1001", "9" * 5000, "\u0663"])
async def test_bad_limits(client, limit):
    r = await client.get("/v1/decisions", params={"limit": limit}, headers=ADMIN)
    await _expect(r, 400, "bad_limit", "limit")


# --- the admin listener ----------------------------------------------------------------------------

async def test_with_an_admin_listener_admin_routes_exist_only_there(aiohttp_client, tmp_path):
    cfg = load_config(env=_env(tmp_path, TELL_ADMIN_PORT="18788"))
    public = await aiohttp_client(make_app(cfg))
    admin = await aiohttp_client(make_admin_app(cfg, public.app))
    for method, path in [*ADMIN_ROUTES, ("GET", "/v1/%61ccounts/a1"), ("GET", "/v1/decisions/")]:
        r = await public.request(method, path, headers=ADMIN, json={})
        assert r.status == 404, (method, path)
    d = await public.post("/v1/decide", headers={"X-Tell-Action": "post", "X-Tell-Account": "a1"})
    assert d.status == 401
    r = await admin.get("/v1/accounts/a1", headers=ADMIN)
    assert r.status == 200 and (await r.json())["decisions"][0]["request_id"] == d.headers["X-Tell-Request-Id"]
    assert (await admin.get("/v1/decisions")).status == 401  # still behind the token there
    assert (await admin.get("/v1/signatures", headers=ADMIN)).status == 200
    assert (await admin.post("/v1/decide")).status == 404  # and the public routes are not on it


# --- secrets stay out of the logs ------------------------------------------------------------------

async def test_no_secret_token_or_cookie_in_logs_across_a_request_cycle(client, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    token = await _token(client)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["tell_sid"].value
    await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", "X-Tell-Account": "alice", **browser_headers()})
    await client.post("/v1/decide", headers={"X-Tell-Token": _forge(token), "X-Original-URI": "/post"})
    await client.post("/edge/telemetry", data=b"\x81", headers=MSGPACK)
    await client.get("/v1/decisions", headers=ADMIN)
    await client.get("/v1/decisions", headers={"Authorization": "Bearer wrong-admin-guess"})
    await client.post("/v1/reports", headers=ADMIN, json={"reporter_id": "r1", "account_id": "alice", "reason": "spam"})
    out, err = capfd.readouterr()
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records) + out + err
    assert caplog.records  # the cycle did log
    for secret in (ADMIN_TOKEN, SECRET, token, token.rsplit(".", 1)[1], cookie, "wrong-admin-guess"):
        assert secret not in logged, f"{secret[:12]}… appears in the logs"


# --- what a forged payload can and cannot buy (THREAT_MODEL.md, "forged telemetry") ----------------

async def test_forged_human_telemetry_from_a_script_is_challenged_on_what_the_server_sees(client):
    # The telemetry is a person's, byte for byte; the request is an HTTP library's. The server-side
    # headers are not in the attacker's payload, and the policy weighs them on their own.
    r = await client.post("/edge/telemetry", data=encode(person()), headers=MSGPACK)
    token = (await r.json())["token"]
    d = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post"})
    body = await d.json()
    assert d.status == 401 and "network.http-library-ua" in [h["id"] for h in body["rules"]]


async def test_forged_human_telemetry_with_a_browsers_headers_is_allowed_a_known_limit(client):
    # Documented limit, not a goal: a payload replayed from a real person, sent with a real browser's
    # headers, passes the per-write check. What bounds it is listed in THREAT_MODEL.md.
    token = await _token(client)
    d = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", **browser_headers()})
    assert d.status == 200
    for _ in range(2):  # tokens.max_uses = 3 by default: this is the third use
        await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", **browser_headers()})
    again = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", **browser_headers()})
    assert "token rejected (replayed)" in (await again.json())["reasons"]  # one verdict, at most max_uses writes
