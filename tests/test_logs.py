"""Structured logs: one JSON line per decision, and no secret in any line."""
import io
import json
import logging

import pytest

from edge import logs
from edge.app import make_app
from edge.config import load_config
from edge.decision import Decision, RuleHit, Verdict
from edge.store import StoreError
from edge.store.sqlite import SQLiteStore
from edge.telemetry import encode
from tests.payloads import browser_headers, headless_playwright

ADMIN_TOKEN = "admin-Zk3v9QmW7xTq2LpR8sYd"
SECRET = "S" * 40


@pytest.fixture
def config(tmp_path):
    return load_config(env={"TELL_ADMIN_TOKEN": ADMIN_TOKEN, "TELL_SECRET": SECRET, "TELL_SIGNATURES_POLL_S": "0",
                            "TELL_LEDGER_FLUSH_ON_SHUTDOWN_S": "0.2",
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3"})


@pytest.fixture
def captured(config):
    out = io.StringIO()
    logs.configure("debug", secrets=[config.admin_token, *config.tokens.keys.values()], stream=out)
    yield out
    logs.unconfigure()


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


async def test_each_decision_is_one_json_line_with_its_fields(aiohttp_client, config, captured):
    client = await aiohttp_client(make_app(config))
    r = await client.post("/v1/decide", headers={"X-Tell-Action": "comment", "X-Tell-Account": "alice"})
    body = await r.json()
    [line] = [x for x in lines(captured) if x["logger"] == "tell.decision"]
    assert line["level"] == "info" and line["msg"] == "decision"
    assert line["request_id"] == body["request_id"]
    assert (line["action"], line["account"], line["decision"]) == ("comment", "alice", "challenge")
    assert line["rules"] == [r["id"] for r in body["rules"]] and "tell.missing-telemetry" in line["rules"]
    assert line["families"] == body["families"]
    assert line["set_version"] == body["set_version"] and line["enforcement"] == body["enforcement"]
    assert line["score"] == round(body["score"], 4)
    assert 0 <= line["latency_ms"] < 10_000
    assert isinstance(line["ts"], float) and line["time"].endswith("Z")


async def test_no_token_or_secret_reaches_the_log_in_a_full_cycle(aiohttp_client, config, captured):
    client = await aiohttp_client(make_app(config))
    payload = headless_playwright()
    r = await client.post("/edge/telemetry", data=encode(payload),
                          headers={"Content-Type": "application/msgpack", **browser_headers(payload["device"]["ua"])})
    token = (await r.json())["token"]
    sid = r.cookies["tell_sid"].value
    for account in ("mallory", "bob"):
        await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Tell-Action": "register",
                                                 "X-Tell-Account": account, "Cookie": f"tell_sid={sid}; password=hunter22"})
    await client.post("/v1/decide", headers={"X-Tell-Token": token + "x", "X-Tell-Action": "post"})
    await client.get("/v1/decisions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    await client.post("/admin/login", data={"token": ADMIN_TOKEN})
    await client.get("/admin", headers={"Cookie": f"tell_admin={ADMIN_TOKEN}"})
    logging.getLogger("tell").warning("careless message with %s and Bearer %s and %s", ADMIN_TOKEN, "abc.def", token)
    text = captured.getvalue()
    decided = {x["account"] for x in lines(captured) if x["logger"] == "tell.decision"}
    assert {"mallory", "bob"} <= decided
    for secret in (token, ADMIN_TOKEN, SECRET, sid, "hunter22", payload["device"]["webgl_renderer"]):
        assert secret not in text
    assert "careless message with *** and Bearer *** and ***" in text


async def test_store_errors_are_logged_as_json(aiohttp_client, config, captured, tmp_path):
    class Broken(SQLiteStore):
        async def record(self, decision):
            raise StoreError("disk on fire")

    client = await aiohttp_client(make_app(config, store=Broken(str(tmp_path / "b.sqlite3"))))
    await client.post("/v1/decide", headers={"X-Tell-Action": "post"})
    problems = [x for x in lines(captured) if x["level"] in ("warning", "error")]
    assert problems and all(x["logger"].startswith("tell") for x in problems)
    assert any("disk on fire" in x["msg"] or "store unavailable" in x["msg"] for x in problems)
    decision = [x for x in lines(captured) if x["logger"] == "tell.decision"][0]
    assert "store unavailable (fail_open)" in decision["reasons"]


def test_level_filters_decision_lines(config):
    out = io.StringIO()
    logs.configure("warning", stream=out)
    try:
        logs.log_decision(Decision(Verdict.ALLOW, 0.0, "post"))
        assert out.getvalue() == ""
    finally:
        logs.unconfigure()


def test_file_destination(tmp_path):
    path = tmp_path / "tell.log"
    logs.configure("info", str(path))
    try:
        logs.log_decision(Decision(Verdict.BLOCK, 0.9, "register", rules=(RuleHit("a.b", "a", 0.9),)), 1.5)
    finally:
        logs.unconfigure()
    [line] = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["decision"] == "block" and line["rules"] == ["a.b"] and line["families"] == ["a"] and line["latency_ms"] == 1.5


@pytest.mark.parametrize("level, ok", [("info", True), ("DEBUG", True), ("loud", False)])
def test_configured_level_is_checked(level, ok):
    if ok:
        logs.configure(level, stream=io.StringIO())
        logs.unconfigure()
    else:
        with pytest.raises(ValueError, match="log.level"):
            logs.configure(level, stream=io.StringIO())


def test_config_section_and_environment(tmp_path):
    cfg = load_config(env={"TELL_LOG_LEVEL": "warning", "TELL_LOG_DESTINATION": str(tmp_path / "x.log")})
    assert (cfg.log.level, cfg.log.destination) == ("warning", str(tmp_path / "x.log"))
    assert load_config(env={}).log.level == "info"


@pytest.mark.parametrize("text", [
    "decision", "account bot_42 blocked", "Authorization: BEARER abc.def", "x tell_sid=0123456789abcdef&y=1",
    "PASSWORD=hunter2", "v1.k1.AAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBB", "s3cr3t-s3cr3t in the middle", "v1.short",
])
def test_the_fast_path_of_redaction_changes_nothing_it_should_not(text):
    from edge.logs import _PATTERNS, Redact

    slow = text.replace("s3cr3t-s3cr3t", "***")
    for pattern, replacement in _PATTERNS:
        slow = pattern.sub(replacement, slow)
    assert Redact(["s3cr3t-s3cr3t"]).scrub(text) == slow
