"""The collector's ``tell_token`` cookie, read by ``/v1/decide`` and ``edge.guard`` when no
``X-Tell-Token`` header (or form field) carries a token.

Envoy ext_authz and Traefik forwardAuth pass only headers to Tell, so a plain HTML form's
``tell_token`` field never reaches it; the cookie does, inside ``Cookie``. It is a token like the
header's: bound to the ``tell_sid`` session cookie, so a cookie copied into another session is refused.
"""
from __future__ import annotations

import pytest
from aiohttp import web

from edge import setup
from edge.middleware import guard
from edge.telemetry import encode
from tests.payloads import browser_headers, headless_playwright, person
from tests.test_gateway_contracts import GATEWAYS

ORIGIN = "https://social.example"


async def _session_token(client, payload) -> tuple[str, str]:
    """(tell_sid, token) of one telemetry request from a fresh session; the client's jar is emptied, so
    each request below says exactly which cookies it carries."""
    client.session.cookie_jar.clear()
    r = await client.post("/edge/telemetry", data=encode(payload),
                          headers={"Content-Type": "application/msgpack", **browser_headers(payload["device"]["ua"], origin=ORIGIN)})
    assert r.status == 200, await r.text()
    sid = r.cookies["tell_sid"].value
    client.session.cookie_jar.clear()
    return sid, (await r.json())["token"]


def _rules(r) -> set[str]:
    return set(filter(None, r.headers["X-Tell-Rules"].split(",")))


async def _decide(client, gateway: str, ua: str, cookie: str, **extra: str):
    verb, path, headers = GATEWAYS[gateway]("POST", "/post")
    return await client.request(verb, path, headers={**browser_headers(ua, origin=ORIGIN), **headers, "Cookie": cookie, **extra})


@pytest.mark.parametrize("gateway", GATEWAYS)
@pytest.mark.parametrize("who, status, rule", [("person", 200, None), ("headless", 403, "headless.webdriver-flag")])
async def test_decide_reads_the_token_cookie_when_no_header_carries_one(client, gateway, who, status, rule):
    payload = person() if who == "person" else headless_playwright()
    sid, token = await _session_token(client, payload)
    r = await _decide(client, gateway, payload["device"]["ua"], f"tell_sid={sid}; tell_token={token}")
    assert r.status == status, await r.text()
    named = _rules(r)
    assert not named & {"tell.missing-telemetry", "tell.token-invalid"}, named  # decided on the token
    assert rule is None or rule in named


@pytest.mark.parametrize("gateway", GATEWAYS)
async def test_a_token_cookie_from_another_session_is_refused(client, gateway):
    """The binding holds for the cookie too: lifted into another browser (another tell_sid, or none),
    the token is worthless and the write is challenged as if it had none."""
    _, token = await _session_token(client, person())
    other_sid, _ = await _session_token(client, person(seed=2))
    for cookie in (f"tell_sid={other_sid}; tell_token={token}", f"tell_token={token}"):
        r = await _decide(client, gateway, person()["device"]["ua"], cookie)
        assert r.status == 401 and "tell.token-invalid" in _rules(r), cookie


async def test_the_header_wins_over_the_cookie(client):
    sid, token = await _session_token(client, person())
    r = await _decide(client, "traefik", person()["device"]["ua"], f"tell_sid={sid}; tell_token=not-a-token", **{"X-Tell-Token": token})
    assert r.status == 200 and "tell.token-invalid" not in _rules(r)


async def test_guard_falls_back_to_the_token_cookie_after_header_and_field(aiohttp_client, config):
    app = web.Application()
    setup(app, config)

    async def handler(request):
        return web.Response(text="ok")

    app.router.add_post("/post", handler)
    app.middlewares.append(guard({"POST /post": "post"}))
    client = await aiohttp_client(app)
    sid, token = await _session_token(client, headless_playwright())
    headers = {**browser_headers(headless_playwright()["device"]["ua"], origin=ORIGIN), "Accept": "application/json"}
    r = await client.post("/post", data={"body": "hi"}, headers={**headers, "Cookie": f"tell_sid={sid}; tell_token={token}"})
    assert r.status == 403 and (await r.json())["decision"] == "block"  # the token's verdict, not a missing one
    sid2, person_token = await _session_token(client, person())
    r = await client.post("/post", data={"body": "hi", "tell_token": person_token},
                          headers={**browser_headers(person()["device"]["ua"], origin=ORIGIN), "Accept": "application/json",
                                   "Cookie": f"tell_sid={sid2}; tell_token=not-a-token"})
    assert r.status == 200, "the form field comes before the cookie"
