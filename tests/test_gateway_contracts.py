"""The /v1/decide contract as each gateway speaks it, at the HTTP level (no Envoy or Traefik binary):

- nginx auth_request: ``X-Original-Method`` / ``X-Original-URI`` on a body-less subrequest.
- Envoy ext_authz (HTTP service): the original method and headers, the original path appended to
  ``path_prefix: /v1/decide``, ``Content-Length: 0``; 200 lets the request through with the
  ``allowed_upstream_headers``, anything else is sent to the client.
- Traefik forwardAuth: a GET to the address with ``X-Forwarded-Method/-Proto/-Host/-Uri/-For``;
  2xx lets it through with the ``authResponseHeaders``.

Each row: the request a gateway makes, the status it must get, and the headers it copies upstream.
"""
from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge import httpsig
from edge.app import make_app
from edge.config import load_config
from edge.telemetry import encode
from tests.payloads import browser_headers, headless_playwright, person

ADMIN = {"Authorization": "Bearer admin-secret"}
TELL_HEADERS = ("X-Tell-Decision", "X-Tell-Score", "X-Tell-Rules", "X-Tell-Request-Id", "X-Tell-Enforcement")
BROWSER = browser_headers(origin="https://social.example")


def nginx(method: str, uri: str) -> tuple[str, str, dict]:
    return "GET", "/v1/decide", {"X-Original-Method": method, "X-Original-URI": uri, "X-Forwarded-Proto": "https",
                                 "X-Forwarded-Host": "social.example", "X-Forwarded-For": "203.0.113.7"}


def envoy(method: str, uri: str) -> tuple[str, str, dict]:
    # Host is the original :authority; x-forwarded-for/-proto as the HTTP connection manager sets them.
    return method, "/v1/decide" + uri, {"Host": "social.example", "Content-Length": "0", "X-Forwarded-Proto": "https",
                                        "X-Forwarded-For": "203.0.113.7", "X-Request-Id": "5b8a0c1e-envoy"}


def traefik(method: str, uri: str) -> tuple[str, str, dict]:
    return "GET", "/v1/decide", {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, "X-Forwarded-Proto": "https",
                                 "X-Forwarded-Host": "social.example", "X-Forwarded-For": "203.0.113.7"}


GATEWAYS = {"nginx": nginx, "envoy": envoy, "traefik": traefik}


async def _token(client, payload) -> str:
    r = await client.post("/edge/telemetry", data=encode(payload),
                          headers={"Content-Type": "application/msgpack", **browser_headers(payload["device"]["ua"], origin="https://social.example")})
    assert r.status == 200, await r.text()
    return (await r.json())["token"]


async def _ledger(client, request_id: str) -> dict:
    ds = (await (await client.get("/v1/decisions?limit=1000", headers=ADMIN)).json())["decisions"]
    return next(d for d in ds if d["request_id"] == request_id)


@pytest.mark.parametrize("gateway", GATEWAYS)
@pytest.mark.parametrize(
    "method, uri, token, status, decision, action, rules",
    [
        ("POST", "/post", None, 401, "challenge", "post", {"tell.missing-telemetry"}),
        ("POST", "/comment?post=7", None, 401, "challenge", "comment", {"tell.missing-telemetry"}),
        ("POST", "/message/bob", None, 401, "challenge", "message", {"tell.missing-telemetry"}),
        ("POST", "/post", "person", 200, "allow", "post", set()),
        ("POST", "/register?next=%2F", "person", 200, "allow", "register", set()),
        ("POST", "/register", "headless", 403, "block", "register", {"headless.webdriver-flag", "network.ch-headless-brand"}),
        ("POST", "/post", "garbage", 401, "challenge", "post", {"tell.token-invalid"}),
    ],
)
async def test_gateway_contract(client, gateway, method, uri, token, status, decision, action, rules):
    verb, path, headers = GATEWAYS[gateway](method, uri)
    ua = headless_playwright()["device"]["ua"] if token == "headless" else person()["device"]["ua"]
    headers = {**browser_headers(ua, origin="https://social.example"), **headers}
    if token in ("person", "headless"):
        headers["X-Tell-Token"] = await _token(client, person() if token == "person" else headless_playwright())
    elif token:
        headers["X-Tell-Token"] = "not-a-token"
    r = await client.request(verb, path, headers=headers)
    body = await r.json()
    assert r.status == status, body
    # What the gateway copies upstream (nginx auth_request_set, Envoy allowed_upstream_headers,
    # Traefik authResponseHeaders): all present, all consistent with the body.
    for name in TELL_HEADERS:
        assert name in r.headers, name
    assert r.headers["X-Tell-Decision"] == decision == body["decision"]
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Tell-Request-Id"]) and r.headers["X-Tell-Request-Id"] == body["request_id"]
    assert 0.0 <= float(r.headers["X-Tell-Score"]) <= 1.0
    assert r.headers["X-Tell-Enforcement"] in ("none", "warn", "limit", "ban")
    named = set(filter(None, r.headers["X-Tell-Rules"].split(",")))
    assert rules <= named, named
    if status == 200:
        assert not {n for n in named if n.startswith("network.")}, named  # a real browser's headers raise nothing
    recorded = await _ledger(client, body["request_id"])
    assert recorded["action"] == action


@pytest.mark.parametrize(
    "verb, path, headers, status, field",
    [
        ("POST", "/v1/decide/", {"Host": "social.example"}, 400, "X-Tell-Action"),  # Envoy, a path no route maps
        ("POST", "/v1/decide/login", {"Host": "social.example"}, 400, "X-Tell-Action"),
        ("GET", "/v1/decide", {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/about"}, 400, "X-Tell-Action"),
        ("GET", "/v1/decide", {"X-Forwarded-Uri": "/post", "X-Tell-Account": "a" * 200}, 400, "X-Tell-Account"),
    ],
)
async def test_unmapped_writes_are_a_clear_4xx(client, verb, path, headers, status, field):
    r = await client.request(verb, path, headers=headers)
    assert r.status == status and (await r.json())["field"] == field


@pytest.mark.parametrize("gateway", ["nginx", "traefik"])
async def test_header_uri_wins_over_the_path(client, gateway):
    """A sidecar mounted under a prefix still reads the original URI from the gateway's header."""
    verb, _, headers = GATEWAYS[gateway]("POST", "/comment")
    r = await client.request(verb, "/v1/decide/post", headers={**BROWSER, **headers})
    assert (await _ledger(client, r.headers["X-Tell-Request-Id"]))["action"] == "comment"


async def test_script_behind_envoy_is_named_by_its_headers(client):
    """Envoy forwards the headers in allowed_headers: an API script's bare Chrome UA shows."""
    verb, path, headers = envoy("POST", "/post")
    r = await client.request(verb, path, headers={**headers, "User-Agent": person()["device"]["ua"]})
    named = r.headers["X-Tell-Rules"].split(",")
    assert r.status in (401, 403)
    assert {"tell.missing-telemetry", "network.browser-ua-without-sec-fetch", "network.browser-ua-without-accept-language"} <= set(named)


@pytest.mark.parametrize("gateway", GATEWAYS)
async def test_declared_agent_signature_covers_the_original_request(aiohttp_client, tmp_path, gateway):
    """@method, @authority and @path come from what the gateway says of the original request."""
    key = Ed25519PrivateKey.generate()
    keydir = tmp_path / "agents"
    keydir.mkdir()
    x = base64.urlsafe_b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).rstrip(b"=").decode()
    (keydir / "agent.json").write_text(json.dumps({"agent": "Gateway Agent", "keys": [{"kty": "OKP", "crv": "Ed25519", "x": x}]}))
    config = load_config(env={"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32,
                              "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3", "TELL_NETWORK_AGENT_KEYS_DIR": str(keydir)})
    client = await aiohttp_client(make_app(config))
    agent_dir = '"https://agent.example/.well-known/http-message-signatures-directory"'
    msg = httpsig.Message(method="POST", authority="social.example", path="/comment", query="post=7",
                          headers={"signature-agent": agent_dir})
    sig = httpsig.sign(msg, key, components=("@method", "@authority", "@path", "@query", "signature-agent"))
    verb, path, headers = GATEWAYS[gateway]("POST", "/comment?post=7")
    r = await client.request(verb, path, headers={**headers, "Signature-Agent": agent_dir, "User-Agent": "GatewayAgent/1.0", **sig})
    named = r.headers["X-Tell-Rules"].split(",")
    assert "declared-agent.verified" in named, (await r.json())["reasons"]
    assert r.status == 401  # network.declared_agent_writes defaults to challenge: never silently allowed
