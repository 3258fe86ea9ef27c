"""HTTP routes: the collector and telemetry endpoints (``/edge/``) and the sidecar API (``/v1/``)."""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path

from aiohttp import web

from edge import telemetry as tm
from edge import tokens
from edge.auth import require_admin
from edge.challenge import add_challenge_routes
from edge.challenge import issue as issue_challenge
from edge.decision import ACTIONS
from edge.keys import CONFIG, STORE
from edge.limits import read_body
from edge.store import StoreError
from edge.metrics import count_telemetry_error
from edge.service import ENGINE, STATUS, decide_write, decision_headers, request_info

STATIC = Path(__file__).resolve().parent / "static"
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
TOKEN_COOKIE = "tell_token"  # set by the collector next to the header and the form field


def json_error(status: int, error: str, detail: str, field: str | None = None, **headers: str) -> web.Response:
    body = {"error": error, "detail": detail}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers or None)


def _session_cookie(request: web.Request, response: web.StreamResponse) -> str:
    """The session a token is bound to: reuse the cookie, or mint one."""
    name = request.app[CONFIG].tokens.cookie
    value = request.cookies.get(name, "")
    if not (16 <= len(value) <= 64 and value.isalnum()):
        value = secrets.token_hex(16)
        response.set_cookie(name, value, httponly=True, samesite="Lax", path="/", secure=request.secure)
    return value


async def collector_js(request: web.Request) -> web.StreamResponse:
    path = STATIC / "collector.js"
    resp = web.FileResponse(path, headers={"Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "public, max-age=300"})
    _session_cookie(request, resp)
    return resp


async def ingest_telemetry(request: web.Request) -> web.Response:
    if request.content_type not in MSGPACK_TYPES:
        return json_error(415, "unsupported_media_type", "send telemetry as application/msgpack", field="Content-Type")
    limit = request.app[CONFIG].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return json_error(413, "payload_too_large", f"telemetry larger than {limit} bytes", field="$")
    body = await read_body(request, limit)  # all of it: one read() may return only the first segment
    if body is None:
        return json_error(413, "payload_too_large", f"telemetry larger than {limit} bytes", field="$")
    try:
        telemetry = tm.decode(body)
    except tm.TelemetryError as exc:
        count_telemetry_error(request.app, exc.field, exc.detail)
        return web.json_response(exc.to_json(), status=400)
    engine = request.app[ENGINE]
    assessment = engine.assess(telemetry, request_info(request, trust_forwarded=request.app[CONFIG].trust_forwarded_for))
    resp = web.json_response({})
    sid = tokens.session_binding(_session_cookie(request, resp))
    token, claims = tokens.issue(request.app[CONFIG].tokens, sid, assessment.to_claims())
    # The verdict is deliberately not returned: the page is the attacker's, and a score oracle
    # would let an agent tune itself against Tell. It learns the outcome only at the write.
    resp.text = json.dumps({"token": token, "expires": claims.exp})
    return resp


def add_edge_routes(app: web.Application) -> None:
    app.router.add_get("/edge/collector.js", collector_js)
    app.router.add_post("/edge/telemetry", ingest_telemetry)
    add_challenge_routes(app)


# --- sidecar API -------------------------------------------------------------------------------

def _action_for(request: web.Request, uri: str) -> str | None:
    explicit = request.headers.get("X-Tell-Action")
    if explicit:
        return explicit
    path = uri.split("?", 1)[0]
    best = None
    for prefix, action in request.app[CONFIG].routes.items():
        if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix + "?"):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, action)
    return best[1] if best else None


def _prefixed_uri(request: web.Request) -> str:
    """Envoy's HTTP ext_authz sends the original method and path appended to its ``path_prefix``:
    ``/v1/decide/register?x=1`` describes ``POST /register?x=1``."""
    tail = request.raw_path[len("/v1/decide"):]
    return tail if tail.startswith("/") else request.path_qs


async def decide(request: web.Request) -> web.Response:
    """``POST|GET /v1/decide`` for gateways (nginx auth_request, Envoy ext_authz, Traefik forwardAuth).

    The original request is described by headers: ``X-Original-Method``, ``X-Original-URI``
    (``X-Forwarded-Method``/``X-Forwarded-Uri`` for Traefik), the user's own headers (Cookie,
    User-Agent, ``X-Tell-Token``), the account header and ``X-Forwarded-For``.
    """
    cfg = request.app[CONFIG]
    h = request.headers
    method = h.get("X-Original-Method") or h.get("X-Forwarded-Method") or request.method
    uri = h.get("X-Original-URI") or h.get("X-Forwarded-Uri") or _prefixed_uri(request)
    action = _action_for(request, uri)
    if action is None:
        return json_error(400, "unknown_action", f"no action for {uri[:200]!r}: set X-Tell-Action or configure routes", field="X-Tell-Action")
    if action not in ACTIONS:
        return json_error(400, "unknown_action", f"action must be one of {', '.join(ACTIONS)}", field="X-Tell-Action")
    account = h.get(cfg.account_header) or None
    if account is not None and len(account) > 128:
        return json_error(400, "bad_account", "account id longer than 128 characters", field=cfg.account_header)
    path = uri.split("?", 1)[0]
    info = request_info(request, trust_forwarded=cfg.trust_forwarded_for)
    info = dataclasses.replace(info, method=method.upper(), path=path, query=uri.partition("?")[2])
    try:
        d = await decide_write(
            request.app, action, info,
            # The tell_token cookie (set by the collector) is for plain form posts behind a gateway that
            # forwards headers only: the form's tell_token field never gets here. It is a token like any
            # other, bound to the tell_sid session cookie, so a copied cookie alone is refused.
            token=h.get("X-Tell-Token") or request.cookies.get(TOKEN_COOKIE) or None,
            inline_telemetry=h.get("X-Tell-Telemetry"),
            inline_source="X-Tell-Telemetry",
            account_id=account,
            session_cookie=request.cookies.get(cfg.tokens.cookie),
            clearance=h.get("X-Tell-Clearance"),
        )
    except tm.TelemetryError as exc:
        return web.json_response(exc.to_json(), status=400)
    body, headers = d.to_json(), decision_headers(d)
    ch = await issue_challenge(request.app, d, request.cookies.get(cfg.tokens.cookie), uri=uri)
    if ch is not None:  # the gateway passes X-Tell-Challenge on to the browser (docs/challenge.md)
        body["challenge_url"] = headers["X-Tell-Challenge"] = ch.url
    return web.json_response(body, status=STATUS[d.decision], headers=headers)


def _limit(request: web.Request, default: int = 50) -> int:
    raw = request.query.get("limit", str(default))
    # isascii(): str.isdigit() accepts other scripts' digits, and length first: int() of 5,000
    # digits raises instead of parsing.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= 1000:
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_limit", "field": "limit", "detail": "an integer from 1 to 1000"}),
                                 content_type="application/json")
    return int(raw)


async def get_account(request: web.Request) -> web.Response:
    require_admin(request)
    acct = request.match_info["account_id"]
    if len(acct) > 128:
        return json_error(400, "bad_account", "account id longer than 128 characters", field="account_id")
    try:
        data = await request.app[STORE].account(acct, limit=_limit(request))
    except StoreError as exc:
        return json_error(503, "store_unavailable", str(exc), field="$")
    if data is None:
        return json_error(404, "unknown_account", f"no decisions recorded for account {acct!r}", field="account_id")
    return web.json_response(data)


async def get_decisions(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        return web.json_response({"decisions": await request.app[STORE].decisions(limit=_limit(request))})
    except StoreError as exc:  # an outage is the store's 503, never a 500
        return json_error(503, "store_unavailable", str(exc), field="$")


async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response({"ok": True, "signatures": engine.signatures.version, "rules": len(engine.signatures), "pid": os.getpid()})


def add_api_routes(app: web.Application) -> None:
    app.router.add_route("*", "/v1/decide", decide)
    app.router.add_route("*", "/v1/decide/{tail:.*}", decide)  # Envoy ext_authz path_prefix
    app.router.add_get("/v1/accounts/{account_id}", get_account)
    app.router.add_get("/v1/decisions", get_decisions)
    app.router.add_get("/healthz", healthz)
    try:
        from edge.admin_api import add_admin_routes
    except ImportError:  # the admin write API lands separately
        return
    add_admin_routes(app)
