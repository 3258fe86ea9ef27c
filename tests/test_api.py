"""The service end to end over HTTP, in process: telemetry → token → decision → ledger."""
import base64

import pytest

from edge.app import make_app
from edge.demo import make_demo_app
from edge.telemetry import encode
from tests.payloads import browser_headers, headless_playwright, person

ADMIN = {"Authorization": "Bearer admin-secret"}


async def _token(client, payload) -> str:
    r = await client.post("/edge/telemetry", data=encode(payload),
                          headers={"Content-Type": "application/msgpack", **browser_headers(payload["device"]["ua"])})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert set(body) == {"token", "expires"}  # no score oracle for the page
    return body["token"]


async def test_collector_is_served_and_sets_session_cookie(client):
    r = await client.get("/edge/collector.js")
    assert r.status == 200
    assert r.content_type == "application/javascript"
    assert "tell_sid" in r.cookies


@pytest.mark.parametrize(
    "body, content_type, status, field",
    [
        (b"\x81", "application/msgpack", 400, "$"),
        (encode({"v": 9}), "application/msgpack", 400, "v"),
        (b"", "application/msgpack", 400, "$"),
        (encode({"v": 1}), "application/json", 415, "Content-Type"),
        (b"\x00" * 300_000, "application/msgpack", 413, "$"),
    ],
)
async def test_bad_telemetry_is_a_clear_4xx(client, body, content_type, status, field):
    r = await client.post("/edge/telemetry", data=body, headers={"Content-Type": content_type})
    assert r.status == status
    assert (await r.json())["field"] == field


async def test_person_is_allowed_and_recorded(client):
    token = await _token(client, person())
    r = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post", "X-Tell-Account": "alice",
                                                 **browser_headers(person()["device"]["ua"])})
    body = await r.json()
    assert r.status == 200, body
    assert r.headers["X-Tell-Decision"] == "allow" == body["decision"]
    assert r.headers["X-Tell-Request-Id"] == body["request_id"]
    acct = await (await client.get("/v1/accounts/alice", headers=ADMIN)).json()
    assert acct["account_id"] == "alice" and acct["enforcement"] == "none"
    assert acct["decisions"][0]["request_id"] == body["request_id"]


async def test_headless_registration_is_blocked_and_names_the_family(client):
    token = await _token(client, headless_playwright())
    r = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Tell-Action": "register", "X-Tell-Account": "bot1"})
    body = await r.json()
    assert r.status == 403 and body["decision"] == "block"
    assert "headless.webdriver-flag" in r.headers["X-Tell-Rules"].split(",")
    assert "headless" in body["families"]
    assert body["reasons"] and body["set_version"]


async def test_no_token_is_challenged_with_its_own_reason(client):
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/comment?post=1"})
    assert r.status == 401
    # Named even when request rules join it (here: the test client's own aiohttp User-Agent).
    assert "tell.missing-telemetry" in r.headers["X-Tell-Rules"].split(",")


async def test_token_from_another_session_is_refused(client, aiohttp_client, config):
    token = await _token(client, person())
    other = await aiohttp_client(make_app(config))  # fresh cookie jar: another browser
    r = await other.post("/v1/decide", headers={"X-Tell-Token": token, "X-Original-URI": "/post"})
    assert r.status == 401
    assert "tell.token-invalid" in r.headers["X-Tell-Rules"]
    assert any("wrong_session" in x for x in (await r.json())["reasons"])


async def test_inline_telemetry_header(client):
    b64 = base64.urlsafe_b64encode(encode(headless_playwright())).decode().rstrip("=")
    r = await client.post("/v1/decide", headers={"X-Tell-Telemetry": b64, "X-Tell-Action": "post"})
    assert r.status in (401, 403)
    assert "headless.webdriver-flag" in r.headers["X-Tell-Rules"]


@pytest.mark.parametrize(
    "headers, status, field",
    [
        ({"X-Original-URI": "/nowhere"}, 400, "X-Tell-Action"),
        ({"X-Tell-Action": "like"}, 400, "X-Tell-Action"),
        ({"X-Tell-Action": "post", "X-Tell-Account": "a" * 200}, 400, "X-Tell-Account"),
        ({"X-Tell-Action": "post", "X-Tell-Telemetry": "!!!"}, 400, "X-Tell-Telemetry"),
        ({"X-Tell-Action": "post", "X-Tell-Telemetry": "gaA"}, 400, "$"),
    ],
)
async def test_decide_bad_input(client, headers, status, field):
    r = await client.post("/v1/decide", headers=headers)
    assert r.status == status
    assert (await r.json())["field"] == field


@pytest.mark.parametrize("headers, status", [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic admin-secret"}, 401), (ADMIN, 200)])
async def test_admin_needs_the_bearer_token(client, headers, status):
    r = await client.get("/v1/decisions", headers=headers)
    assert r.status == status


async def test_decisions_newest_first_and_limit(client):
    for _ in range(3):
        await client.post("/v1/decide", headers={"X-Tell-Action": "post", "X-Tell-Account": "carol"})
    r = await client.get("/v1/decisions?limit=2", headers=ADMIN)
    ds = (await r.json())["decisions"]
    assert len(ds) == 2 and ds[0]["ts"] >= ds[1]["ts"]
    for bad in ("zero", "0", "1001", "9" * 5000, "\u0663"):
        assert (await client.get(f"/v1/decisions?limit={bad}", headers=ADMIN)).status == 400
    assert (await client.get("/v1/accounts/nobody", headers=ADMIN)).status == 404


# --- the demo through the middleware --------------------------------------------------------

@pytest.fixture
async def demo(aiohttp_client, config):
    return await aiohttp_client(make_demo_app(config))


async def test_demo_form_post_with_token_field(demo):
    await demo.get("/register")
    token = await _token(demo, person())
    r = await demo.post("/register", data={"username": "dora", "password": "pw", "tell_token": token}, headers=browser_headers())
    text = await r.text()
    assert r.status == 200 and 'data-decision="allow"' in text
    assert r.headers["X-Tell-Decision"] == "allow"


async def test_demo_blocks_headless_and_handler_never_runs(demo, config):
    token = await _token(demo, headless_playwright())
    r = await demo.post("/register", data={"username": "botty", "password": "pw", "tell_token": token}, headers={"Accept": "text/html"})
    text = await r.text()
    assert r.status == 403 and 'id="decision"' in text and 'data-decision="block"' in text
    assert "Welcome" not in text
    acct = await (await demo.get("/v1/accounts/botty", headers=ADMIN)).json()
    assert acct["enforcement"] == "ban"  # an automated registration is banned


async def test_demo_write_without_telemetry_is_challenged(demo):
    r = await demo.post("/register", data={"username": "eve", "password": "pw"})
    assert r.status == 401 and 'data-decision="challenge"' in await r.text()


async def test_demo_inline_telemetry_field(demo):
    b64 = base64.urlsafe_b64encode(encode(person())).decode()
    r = await demo.post("/register", data={"username": "fay", "password": "pw", "tell_telemetry": b64}, headers=browser_headers())
    assert r.status == 200


async def test_demo_bad_username_is_400_after_allow(demo):
    token = await _token(demo, person())
    r = await demo.post("/register", data={"username": "<script>", "password": "pw", "tell_token": token}, headers=browser_headers())
    assert r.status == 400


async def test_embedded_middleware_hides_evidence_from_the_client(aiohttp_client, config):
    from aiohttp import web

    from edge import guard, setup

    app = web.Application()
    setup(app, config)

    async def handler(request):
        return web.Response(text="ok")

    app.router.add_post("/post", handler)
    app.middlewares.append(guard({"POST /post": "post"}))
    client = await aiohttp_client(app)
    token = await _token(client, headless_playwright())
    r = await client.post("/post", headers={"X-Tell-Token": token, "Accept": "application/json"})
    body = await r.json()
    assert r.status == 403 and body["decision"] == "block"
    assert "rules" not in body and "reasons" not in body and "X-Tell-Rules" not in r.headers
    r = await client.post("/post", data={"tell_token": token}, headers={"Accept": "text/html"})
    text = await r.text()
    assert 'data-decision="block"' in text and "webdriver" not in text and body["request_id"] not in text
