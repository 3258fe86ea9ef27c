"""Prometheus metrics after real requests through ``make_app``."""
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from edge import metrics
from edge.app import make_app
from edge.config import load_config
from edge.metrics import METRICS, make_metrics_app, telemetry_error_reason
from edge.reload import reload_signatures
from edge.store import StoreError
from edge.store.sqlite import SQLiteStore
from edge.telemetry import encode
from tests.payloads import browser_headers, headless_playwright

ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture
def config(tmp_path):
    return load_config(env={"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32,
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3", "TELL_SIGNATURES_POLL_S": "0",
                            "TELL_LEDGER_FLUSH_ON_SHUTDOWN_S": "0.2"})


async def scrape(client, path="/metrics") -> dict[tuple[str, frozenset], float]:
    r = await client.get(path)
    assert r.status == 200
    assert r.content_type == "text/plain"
    out = {}
    for fam in text_string_to_metric_families(await r.text()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_decisions_rules_and_latency_are_counted(client):
    r = await client.post("/v1/decide", headers={"X-Tell-Action": "post"})  # no telemetry: challenge
    assert r.status == 401
    r = await client.post("/edge/telemetry", data=encode(headless_playwright()),
                          headers={"Content-Type": "application/msgpack", **browser_headers(headless_playwright()["device"]["ua"])})
    token = (await r.json())["token"]
    r = await client.post("/v1/decide", headers={"X-Tell-Token": token, "X-Tell-Action": "register", "X-Tell-Account": "bot"})
    assert r.status == 403
    s = await scrape(client)
    assert value(s, "tell_decisions_total", action="post", decision="challenge") == 1
    assert value(s, "tell_decisions_total", action="register", decision="block") == 1
    assert value(s, "tell_rule_hits_total", rule="tell.missing-telemetry", family="none") == 1
    assert value(s, "tell_rule_hits_total", rule="headless.webdriver-flag", family="headless") == 1
    assert value(s, "tell_decision_seconds_count") == 2
    assert 0 < value(s, "tell_decision_seconds_sum") < 1
    assert any(name == "tell_process_cpu_seconds_total" for name, _ in s)


@pytest.mark.parametrize("body, reason", [
    (b"", "empty"),
    (b"\xc1", "not_msgpack"),
    (encode({"v": 9}), "v"),
    (encode({"v": 1, "events": [["zz", 1, 1]]}), "events"),
    (encode({"v": 1, "device": {"ua": 5}}), "device"),
])
async def test_telemetry_errors_are_counted_by_a_bounded_reason(client, body, reason):
    r = await client.post("/edge/telemetry", data=body, headers={"Content-Type": "application/msgpack"})
    assert r.status == 400
    s = await scrape(client)
    assert value(s, "tell_telemetry_errors_total", reason=reason) == 1


async def test_inline_telemetry_errors_are_counted(client):
    r = await client.post("/v1/decide", headers={"X-Tell-Action": "post", "X-Tell-Telemetry": "!!not base64!!"})
    assert r.status == 400
    assert value(await scrape(client), "tell_telemetry_errors_total", reason="not_base64") == 1


@pytest.mark.parametrize("field, detail, reason", [
    ("events[3][1]", "timestamps must not go backwards", "events"),
    ("device.ua", "expected a string", "device"),
    ("$", "body larger than 262144 bytes", "too_large"),
    ("$", "trailing bytes after the telemetry map", "trailing_bytes"),
    ("<script>", "anything", "other"),
    ("X-Tell-Telemetry", "inline telemetry larger than 262144 bytes", "too_large"),
])
def test_telemetry_error_reason_is_one_of_a_fixed_set(field, detail, reason):
    assert telemetry_error_reason(field, detail) == reason


async def test_signature_set_and_reloads(client):
    app = client.server.app
    version = app[metrics.METRICS]._version or None
    s = await scrape(client)
    live = [dict(lbl)["version"] for name, lbl in s if name == "tell_signature_set_info"]
    assert len(live) == 1 and (version is None or live == [version])
    assert value(s, "tell_signature_reloads_total", result="ok") == 0
    ok, _ = await reload_signatures(app, "test")
    assert ok
    s = await scrape(client)
    assert value(s, "tell_signature_reloads_total", result="ok") == 1
    assert value(s, "tell_signature_reloads_total", result="refused") == 0


class BrokenStore(SQLiteStore):
    async def record(self, decision):
        raise StoreError("down")


async def test_store_errors_and_buffer_gauge(aiohttp_client, config, tmp_path):
    client = await aiohttp_client(make_app(config, store=BrokenStore(str(tmp_path / "x.sqlite3"))))
    r = await client.post("/v1/decide", headers={"X-Tell-Action": "post"})
    assert "store unavailable (fail_open)" in (await r.json())["reasons"]
    s = await scrape(client)
    assert value(s, "tell_store_buffered_writes") == 1  # the write buffer holds the decision for the store
    metrics.set_buffered_writes(client.server.app, 7)
    metrics.count_challenge(client.server.app, "passed")
    metrics.count_challenge(client.server.app, "<made up>")
    s = await scrape(client)
    assert value(s, "tell_store_errors_total") >= 1  # the failed write (and any failed replay of it)
    assert value(s, "tell_store_buffered_writes") == 7
    assert value(s, "tell_challenge_outcomes_total", outcome="passed") == 1
    assert value(s, "tell_challenge_outcomes_total", outcome="other") == 1
    metrics.set_buffered_writes(client.server.app, lambda: 3)
    assert value(await scrape(client), "tell_store_buffered_writes") == 3


async def test_apps_have_separate_registries(aiohttp_client, config):
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    await a.post("/v1/decide", headers={"X-Tell-Action": "post"})
    assert value(await scrape(a), "tell_decisions_total", action="post", decision="challenge") == 1
    assert value(await scrape(b), "tell_decisions_total", action="post", decision="challenge") == 0


async def test_metrics_mount_on_a_separate_listener(aiohttp_client, config):
    tell = make_app(config)
    ops = await aiohttp_client(make_metrics_app(tell))
    tell[METRICS].decisions.labels("post", "allow").inc()
    assert value(await scrape(ops), "tell_decisions_total", action="post", decision="allow") == 1


async def test_hooks_are_noops_on_an_app_without_metrics():
    app = web.Application()
    metrics.count_store_error(app)
    metrics.count_challenge(app, "passed")
    metrics.set_buffered_writes(app, 1)
    metrics.count_reload(app, "ok", "abc")
