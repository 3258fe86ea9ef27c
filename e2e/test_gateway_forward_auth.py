"""A plain HTML form post from a real Chromium, through Traefik's forwardAuth contract, reaches Tell with
its token — in the collector's ``tell_token`` cookie, since forwardAuth sends Tell no body.

No Traefik binary here: a small aiohttp gateway does what docs/gateways/traefik.yml configures, reading
the write routes' ``PathRegexp``, ``authRequestHeaders`` and ``authResponseHeaders`` from that very file:
``/edge/`` to Tell; a non-GET write is first checked with a body-less GET to ``/v1/decide`` carrying only
the listed client headers plus ``X-Forwarded-Method/-Proto/-Host/-Uri/-For``; a 2xx lets it through to
the platform with the listed answer headers; anything else goes back to the client.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from edge.app import make_app
from edge.config import load_config

pytestmark = pytest.mark.e2e

TRAEFIK = Path(__file__).resolve().parent.parent / "docs" / "gateways" / "traefik.yml"
FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>platform</title>
<script src="/edge/collector.js" defer></script></head><body>
<form method="post" action="/post" data-tell-protect="post">
<textarea id="body" name="body" rows="3"></textarea><button id="submit" type="submit">Publish</button></form></body></html>"""
HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Seen:
    tokens: list[str] = field(default_factory=list)  # what /edge/telemetry answered the page
    auth: list[dict] = field(default_factory=list)  # each forwardAuth request and Tell's answer
    platform: list[dict] = field(default_factory=list)  # writes the platform received


def forward_auth_gateway(tell: str, platform: str, seen: Seen) -> web.Application:
    conf = yaml.safe_load(TRAEFIK.read_text())["http"]
    fa = conf["middlewares"]["tell"]["forwardAuth"]
    writes = re.compile(re.search(r"PathRegexp\(`([^`]+)`\)", conf["routers"]["platform-writes"]["rule"]).group(1))
    request_headers, response_headers = fa["authRequestHeaders"], fa["authResponseHeaders"]

    async def proxy(request: web.Request, upstream: str, extra: dict | None = None) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        headers.update(extra or {})
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
            async with s.request(request.method, upstream + request.path_qs, headers=headers,
                                 data=await request.read(), allow_redirects=False) as r:
                body = await r.read()
                out = web.Response(body=body, status=r.status)
                for k, v in r.headers.items():
                    if k.lower() not in HOP:
                        out.headers.add(k, v)
                if request.path == "/edge/telemetry" and r.status == 200:
                    seen.tokens.append((await r.json())["token"])
                return out

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/edge/"):
            return await proxy(request, tell)
        if request.method != "GET" and writes.search(request.path):
            # forwardAuth: a GET with the listed client headers only, and no body.
            sent = {k: request.headers[k] for k in request_headers if k in request.headers}
            sent.update({"X-Forwarded-Method": request.method, "X-Forwarded-Proto": request.scheme,
                         "X-Forwarded-Host": request.host, "X-Forwarded-Uri": request.path_qs,
                         "X-Forwarded-For": request.remote or "127.0.0.1"})
            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
                async with s.get(tell + "/v1/decide", headers=sent) as r:
                    answer = await r.json()
                    seen.auth.append({"sent": sent, "status": r.status, "answer": answer,
                                      "rules": set(filter(None, r.headers.get("X-Tell-Rules", "").split(",")))})
                    if not 200 <= r.status < 300:
                        return web.Response(text=f'<p id="refused" data-status="{r.status}">refused</p>', status=r.status,
                                            content_type="text/html")
                    granted = {k: r.headers[k] for k in response_headers if k in r.headers}
            return await proxy(request, platform, granted)
        return await proxy(request, platform)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def test_plain_form_post_behind_forward_auth_is_decided_on_the_token_cookie(tmp_path, live_server, context_factory):
    config = load_config(env={"TELL_SECRET": "f" * 32, "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3"})
    tell = live_server(make_app(config))
    seen = Seen()

    async def form(request):
        return web.Response(text=FORM, content_type="text/html")

    async def post(request):
        seen.platform.append(dict(await request.post()))
        return web.Response(text='<p id="done">posted</p>', content_type="text/html")

    platform = web.Application()
    platform.router.add_get("/post", form)
    platform.router.add_post("/post", post)
    gateway = live_server(forward_auth_gateway(tell, live_server(platform), seen))

    page = context_factory().new_page()
    page.goto(gateway + "/post")
    page.wait_for_function("window.Tell && window.Tell.v === 1")
    page.click("#body")
    page.keyboard.type("through forwardAuth", delay=40)
    with page.expect_navigation():
        page.click("#submit")

    assert len(seen.tokens) == 1 and len(seen.auth) == 1
    auth = seen.auth[0]
    cookies = dict(c.strip().split("=", 1) for c in auth["sent"].get("Cookie", "").split(";") if "=" in c)
    # Only the cookie can have carried the token: no header, and forwardAuth sends no body.
    assert "X-Tell-Token" not in auth["sent"]
    assert cookies.get("tell_token") == seen.tokens[0] and cookies.get("tell_sid")
    # Tell decided on that token's telemetry: headless Playwright's artefacts, not a missing token.
    assert not auth["rules"] & {"tell.missing-telemetry", "tell.token-invalid"}, auth["rules"]
    assert "headless.webdriver-flag" in auth["rules"], auth["rules"]
    assert auth["status"] in (401, 403) and auth["answer"]["decision"] in ("challenge", "block")
    assert seen.platform == [], "a refused write never reaches the platform"
