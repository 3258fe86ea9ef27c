"""A real nginx, configured by the committed docs/gateways/nginx.conf, in front of a tiny platform,
asking a real Tell sidecar about every write (auth_request). Everything on 127.0.0.1, ephemeral
ports, every file under tmp_path."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge import httpsig
from edge.app import make_app
from edge.config import load_config
from edge.telemetry import encode
from tests.payloads import browser_headers, headless_playwright, person

TEMPLATE = Path(__file__).resolve().parent.parent / "docs" / "gateways" / "nginx.conf"
ADMIN = {"Authorization": "Bearer admin-secret"}


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if not found:
        pytest.fail("nginx is not installed: the gateway test needs a real nginx with auth_request "
                    "(Debian: apt-get install nginx-light; scripts/test installs it)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(template: str, *, listen: int, tell: int, platform: int) -> str:
    """The docs config with this test's ports: each default must be there exactly once, so the test
    breaks loudly if the template changes shape instead of silently testing something else."""
    out = template
    for old, new in (("listen 8000;", f"listen 127.0.0.1:{listen};"),
                     ("server 127.0.0.1:8787;", f"server 127.0.0.1:{tell};"),
                     ("server 127.0.0.1:8080;", f"server 127.0.0.1:{platform};")):
        assert template.count(old) == 1, f"docs/gateways/nginx.conf should contain {old!r} once"
        out = out.replace(old, new)
    return out


async def _start(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


class Platform:
    """The protected application: records what reached it, echoes the X-Tell-* headers it got."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()

        async def any_route(request: web.Request) -> web.Response:
            await request.read()
            tell = {k: v for k, v in request.headers.items() if k.lower().startswith("x-tell-")}
            self.seen.append({"method": request.method, "path": request.path, **tell})
            return web.json_response({"path": request.path, "tell": tell})

        app.router.add_route("*", "/{tail:.*}", any_route)
        return app


@pytest.fixture
async def gateway(request, tmp_path):
    binary = nginx_binary()
    env = {"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32, "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3"}
    agent_key = getattr(request, "param", {}).get("agent_key")
    if agent_key is not None:  # a declared agent's key directory, and agents allowed to write
        (tmp_path / "agents").mkdir()
        raw = agent_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
        (tmp_path / "agents" / "agent.json").write_text(json.dumps({"agent": "Nginx Agent", "keys": [jwk]}))
        env.update(TELL_NETWORK_AGENT_KEYS_DIR=str(tmp_path / "agents"), TELL_NETWORK_DECLARED_AGENT_WRITES="allow")
    config = load_config(env=env)
    tell_runner, tell_port = await _start(make_app(config))
    platform = Platform()
    platform_runner, platform_port = await _start(platform.app())
    listen = free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(render(TEMPLATE.read_text(), listen=listen, tell=tell_port, platform=platform_port))
    proc = await asyncio.create_subprocess_exec(binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "startup.log"),
                                                "-g", "daemon off;", stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        await _wait_listening(listen, proc, prefix)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{listen}", cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            yield Gateway(session, platform, prefix, tell_port, listen)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
        await platform_runner.cleanup()
        await tell_runner.cleanup()


async def _wait_listening(port: int, proc, prefix: Path) -> None:
    for _ in range(100):
        if proc.returncode is not None:
            break
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            await w.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    logs = "\n".join(p.read_text() for p in (prefix / "startup.log", prefix / "error.log") if p.exists())
    err = (await proc.stderr.read()).decode() if proc.returncode is not None else ""
    pytest.fail(f"nginx did not start with the rendered docs/gateways/nginx.conf:\n{err}\n{logs}")


class Gateway:
    def __init__(self, session: aiohttp.ClientSession, platform: Platform, prefix: Path, tell_port: int, port: int):
        self.http = session
        self.port = port
        self.platform = platform
        self.prefix = prefix
        self.tell_port = tell_port

    async def token(self, payload: dict) -> str:
        """The page's step: post real msgpack telemetry through nginx to the sidecar."""
        r = await self.http.post("/edge/telemetry", data=encode(payload),
                                 headers={"Content-Type": "application/msgpack", **browser_headers(payload["device"]["ua"])})
        assert r.status == 200, await r.text()
        return (await r.json())["token"]

    async def log_line(self, request_id: str) -> str:
        for _ in range(50):  # nginx writes the access log line as the request ends
            text = (self.prefix / "access.log").read_text() if (self.prefix / "access.log").exists() else ""
            for line in text.splitlines():
                if f"id={request_id}" in line:
                    return line
            await asyncio.sleep(0.02)
        raise AssertionError(f"no access log line for {request_id}:\n{text}")

    async def ledger(self) -> list[dict]:
        async with aiohttp.ClientSession() as s:
            r = await s.get(f"http://127.0.0.1:{self.tell_port}/v1/decisions", headers=ADMIN)
            return (await r.json())["decisions"]


async def test_write_without_token_gets_nginx_challenge_page_and_never_reaches_the_platform(gateway):
    r = await gateway.http.post("/post", data={"body": "hello"}, headers=browser_headers())
    text = await r.text()
    assert r.status == 401
    assert 'id="tell-challenge"' in text and r.headers["X-Tell-Decision"] == "challenge"
    assert "tell.missing-telemetry" not in text and "X-Tell-Rules" not in r.headers  # evidence stays server-side
    assert gateway.platform.seen == []
    request_id = r.headers["X-Tell-Request-Id"]
    line = await gateway.log_line(request_id)
    assert "tell=challenge" in line and "tell.missing-telemetry" in line.split('rules="')[1].split('"')[0].split(",")
    [decision] = [d for d in await gateway.ledger() if d["request_id"] == request_id]
    assert decision["action"] == "post" and "tell.missing-telemetry" in [h["id"] for h in decision["rules"]]


async def test_clean_telemetry_token_is_allowed_and_platform_sees_the_decision(gateway):
    token = await gateway.token(person())
    forged = {"X-Tell-Decision": "forged-by-client", "X-Tell-Rules": "none"}
    r = await gateway.http.post("/post", data={"body": "hello"}, headers={**browser_headers(), "X-Tell-Token": token, **forged})
    body = await r.json()
    assert r.status == 200, body
    [seen] = gateway.platform.seen
    assert seen["method"] == "POST" and seen["path"] == "/post"
    assert seen["X-Tell-Decision"] == "allow"
    assert seen["X-Tell-Request-Id"] and float(seen["X-Tell-Score"]) < 0.45 and seen["X-Tell-Enforcement"] == "none"
    assert "tell.missing-telemetry" not in seen.get("X-Tell-Rules", "")
    assert "X-Tell-Families" not in seen  # empty: nothing acted on, so nginx sends no header


async def test_headless_telemetry_token_is_blocked_with_nginx_block_page(gateway):
    payload = headless_playwright()
    assert payload["markers"]["webdriver"] is True and "HeadlessChrome/" in payload["device"]["ua"]
    token = await gateway.token(payload)
    r = await gateway.http.post("/register", data={"username": "botty"},
                                headers={**browser_headers(payload["device"]["ua"]), "X-Tell-Token": token})
    text = await r.text()
    assert r.status == 403 and 'id="tell-blocked"' in text and r.headers["X-Tell-Decision"] == "block"
    assert gateway.platform.seen == []
    line = await gateway.log_line(r.headers["X-Tell-Request-Id"])
    assert "headless.webdriver-flag" in line


async def test_script_with_chrome_ua_and_a_stolen_clean_token_is_not_allowed(gateway):
    """An API-only script that obtained a clean token still writes with its own headers."""
    token = await gateway.token(person())
    r = await gateway.http.post("/post", data={"body": "spam"},
                                headers={"User-Agent": person()["device"]["ua"], "X-Tell-Token": token})
    assert r.status in (401, 403)
    assert gateway.platform.seen == []
    line = await gateway.log_line(r.headers["X-Tell-Request-Id"])
    assert "network.browser-ua-without-accept-language" in line


async def test_action_comes_from_the_route_not_the_client(gateway):
    r = await gateway.http.post("/register", data={"username": "x"}, headers={**browser_headers(), "X-Tell-Action": "comment"})
    assert r.status == 401
    [decision] = [d for d in await gateway.ledger() if d["request_id"] == r.headers["X-Tell-Request-Id"]]
    assert decision["action"] == "register"


async def test_reading_pages_does_not_ask_tell(gateway):
    r = await gateway.http.get("/post")
    assert r.status == 200 and gateway.platform.seen[0]["method"] == "GET"
    assert "X-Tell-Decision" not in gateway.platform.seen[0]
    assert await gateway.ledger() == []


AGENT_KEY = Ed25519PrivateKey.generate()


@pytest.mark.parametrize("gateway", [{"agent_key": AGENT_KEY}], indirect=True)
async def test_declared_agent_signature_survives_nginx_and_is_labelled_upstream(gateway):
    """Signature-* headers reach Tell through auth_request; @authority is the host the agent used."""
    agent_dir = '"https://agent.example/.well-known/http-message-signatures-directory"'
    msg = httpsig.Message(method="POST", authority=f"127.0.0.1:{gateway.port}", path="/post", scheme="http",
                          headers={"signature-agent": agent_dir})
    sig = httpsig.sign(msg, AGENT_KEY)
    r = await gateway.http.post("/post", data={"body": "from an agent"},
                                headers={"User-Agent": "NginxAgent/1.0", "Signature-Agent": agent_dir, **sig})
    assert r.status == 200, await r.text()
    [seen] = gateway.platform.seen
    assert seen["X-Tell-Decision"] == "allow"  # network.declared_agent_writes = allow, for this test
    assert "declared-agent.verified" in seen["X-Tell-Rules"].split(",")
    assert "declared-agent" in seen["X-Tell-Families"].split(",")
