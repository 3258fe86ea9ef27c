"""edge/challenge.py: proof of work, reading the interaction from events, the verdict on an attempt,
localisation, and the routes over HTTP (issue → parameters → solve → ledger)."""
from __future__ import annotations

import hashlib
import json
import re

import pytest

from edge import challenge as chl
from edge.app import make_app
from edge.config import load_config
from edge.decision import RuleHit
from edge.demo import make_demo_app
from edge.engine import Assessment
from edge.telemetry import encode
from tests.payloads import browser_headers, person

ADMIN = {"Authorization": "Bearer admin-secret"}


# --- proof of work --------------------------------------------------------------------------------

@pytest.mark.parametrize("digest, bits", [
    (b"\x80" + b"\x00" * 31, 0), (b"\x01" + b"\xff" * 31, 7), (b"\x00\x00\x0f" + b"\xff" * 29, 20),
    (b"\x00" * 32, 256),
])
def test_leading_zero_bits(digest, bits):
    assert chl.leading_zero_bits(digest) == bits


def solve_pow(nonce: bytes, bits: int) -> int:
    return next(c for c in range(1 << 24)
                if chl.leading_zero_bits(hashlib.sha256(chl.pow_input(nonce, c)).digest()) >= bits)


def test_pow_is_checked_against_the_challenge_nonce():
    nonce = bytes(range(16))
    c = solve_pow(nonce, 10)
    assert chl.pow_valid(nonce, str(c), 10)
    assert not chl.pow_valid(bytes(16), str(c), 10) or solve_pow(bytes(16), 10) == c  # another nonce
    assert not chl.pow_valid(nonce, str(c), 30)


@pytest.mark.parametrize("counter", [None, "", "-1", "1e3", "0x10", "１２", "9" * 17, str(2**53)])
def test_pow_counter_must_be_a_plain_small_integer(counter):
    assert not chl.pow_valid(bytes(16), counter, 0)


# --- the interaction ----------------------------------------------------------------------------------

def approach(t0: float = 100.0, x: float = 200.0, y: float = 400.0, steps: int = 5) -> tuple[list[list], float, float, float]:
    events, t = [], t0
    for i in range(steps):
        t += 16.7
        x += 30 - 4 * i
        y -= 20 - 3 * i
        events.append(["mm", round(t, 1), 1, round(x, 1), round(y, 1), 0, 0, x, y + 80])
    return events, t, x, y


def mouse_hold(held: float, *, trusted: int = 1, ox: float = 37.3, oy: float = -6.2, release: bool = True) -> list[list]:
    events, t, x, y = approach()
    t += 80
    events += [["pd", t, trusted, x, y, "mouse", 0.5, 1, 1, 1], ["md", t, trusted, x, y, 0, ox, oy, 300, 56]]
    if release:
        events.append(["mu", round(t + held, 1), trusted, x, y, 0])
    return events


def key_hold(held: float, cls: str = "s", code_empty: int = 0, repeats: int = 0) -> list[list]:
    t = 400.0
    ev = [["kd", t, 1, "t", 0, 0, 0], ["ku", t + 90, 1, "t", 0, 0, 0], ["kd", t + 700, 1, cls, code_empty, 0, 0]]
    for i in range(repeats):
        ev.append(["kd", t + 1200 + 33 * i, 1, cls, code_empty, 1, 0])
    ev.append(["ku", t + 700 + held, 1, cls, code_empty, 0, 0])
    return ev


def drag(px: float, duration: float) -> list[list]:
    events, t, x, y = approach()
    t += 60
    events.append(["md", t, 1, x, y, 0, 3.1, 2.4, 56, 56])
    steps = 12
    for i in range(1, steps + 1):
        u = i / steps
        events.append(["mm", round(t + duration * u, 1), 1, round(x + px * (3 * u * u - 2 * u ** 3), 1), y, 0, 0, 0, 0])
    events.append(["mu", round(t + duration + 40, 1), 1, x + px, y, 0])
    return events


@pytest.mark.parametrize("name, kind, events, sent_ms, complete, modality, why", [
    ("mouse hold", "hold", mouse_hold(1600), None, True, "pointer", ""),
    ("released early", "hold", mouse_hold(700), None, False, "pointer", "held 700 ms"),
    ("still held when sent", "hold", mouse_hold(0, release=False), 300 + 1600, True, "pointer", ""),
    ("scripted press", "hold", mouse_hold(1600, trusted=0), None, False, "pointer", "isTrusted false"),
    ("computed click point", "hold", mouse_hold(1600, ox=0.0, oy=0.3), None, False, "pointer", "exact centre"),
    ("space held", "hold", key_hold(1550, repeats=10), None, True, "keyboard", ""),
    ("enter held", "hold", key_hold(1600, cls="e"), None, True, "keyboard", ""),
    ("a letter is not the control's key", "hold", key_hold(1600, cls="l"), None, False, None, "no press"),
    ("synthetic key without a code", "hold", key_hold(1600, code_empty=1), None, False, "keyboard", "isTrusted false"),
    ("drag to the end", "drag", drag(chl.DRAG_PX, 700), None, True, "pointer", ""),
    ("drag halfway", "drag", drag(chl.DRAG_PX / 2, 700), None, False, "pointer", "moved 90"),
    ("drag flick", "drag", drag(chl.DRAG_PX, 100), None, False, "pointer", "moved 180"),
    ("keyboard path of a drag", "drag", key_hold(1600), None, True, "keyboard", ""),
    ("nothing", "hold", [["mm", 10.0, 1, 1, 1, 0, 0, 1, 1]], None, False, None, "no press"),
])
def test_find_interaction(name, kind, events, sent_ms, complete, modality, why):
    got = chl.find_interaction(events, kind=kind, hold_ms=1500, sent_ms=sent_ms)
    assert (got.complete, got.modality) == (complete, modality), got
    assert why in got.reason


def test_pd_coordinates_place_a_whole_pixel_click_at_the_exact_centre():
    # Chromium: md.clientY whole pixels (295), pd fractional (295.9); the box centre is at 295.9.
    events = [["mm", 10.0, 1, 640, 295, 0, 0, 640, 392], ["pd", 12.0, 1, 640, 295.9, "mouse", 0.5, 1, 1, 1],
              ["md", 13.0, 1, 640, 295, 0, 0, -0.9, 590, 56], ["mu", 1713.0, 1, 640, 295, 0]]
    got = chl.find_interaction(events, kind="hold", hold_ms=1500)
    assert not got.complete and "exact centre" in got.reason


# --- the verdict on one attempt ---------------------------------------------------------------------

def assessment(hits=(), beh=0.1, reasons=()) -> Assessment:
    return Assessment(tuple(hits), beh, tuple(reasons), "v1")


DONE = chl.Interaction(True, "pointer", 1600.0, 0.0, "")
WEBDRIVER = RuleHit("headless.webdriver-flag", "headless", 0.9)
SOFT_GL = RuleHit("headless.software-webgl", "headless", 0.15)


@pytest.mark.parametrize("name, a, interaction, pow_ok, probes, passed, why", [
    ("a person", assessment([SOFT_GL]), DONE, True, {}, True, ""),
    ("no proof of work", assessment(), DONE, False, {}, False, "proof of work"),
    ("not held", assessment(), chl.Interaction(False, "pointer", 200, 0, "held 200 ms of 1500 ms"), True, {}, False, "held 200"),
    ("machine input", assessment(beh=0.8, reasons=("keys held 2 ms",)), DONE, True, {}, False, "does not look like a hand"),
    ("webdriver", assessment([WEBDRIVER]), DONE, True, {}, False, "device evidence"),
    ("hidden page", assessment(), DONE, True, {"chl_hidden": True}, False, "hidden"),
    ("worker disagrees on the UA", assessment([SOFT_GL]), DONE, True, {"chl_worker_mismatch": ["ua"]}, True, "worker disagrees"),
    ("worker disagreement plus a medium rule", assessment([RuleHit("x.y", "x", 0.4)]), DONE, True,
     {"chl_worker_mismatch": ["ua", "platform"]}, False, "device evidence"),
])
def test_judge(name, a, interaction, pow_ok, probes, passed, why):
    out = chl.judge(a, {"probes": probes}, interaction, pow_ok, block_at=0.75, behaviour_max=0.5, behaviour_weight=0.9)
    assert out.passed is passed, out.reasons
    assert any(why in r for r in out.reasons) if why else True


# --- localisation ---------------------------------------------------------------------------------

def test_catalogs_have_the_same_keys_and_fill_every_placeholder():
    cats = chl.catalogs()
    assert {"en", "zh-CN"} <= set(cats)
    keys = {k: set(v) for k, v in cats.items()}
    assert all(k == keys["en"] for k in keys.values())
    cfg = load_config(env={})
    for lang in cats:
        for action in ("register", "post", "comment", "message"):
            s = chl.strings(lang, action, cfg.challenge)
            assert not any(re.search(r"\{\w+\}", v) for v in s.values()), (lang, s)


@pytest.mark.parametrize("prefs, expected", [
    (("zh-CN,zh;q=0.9,en;q=0.8",), "zh-CN"),
    (("zh",), "zh-CN"),
    (("zh-Hans-CN",), "zh-CN"),
    (("zh-TW,en;q=0.5",), "en"),
    (("en-GB",), "en"),
    (("fr-FR, zh;q=0.4",), "zh-CN"),
    (("de", "zh-CN"), "zh-CN"),  # navigator.languages first, then Accept-Language
    (("en-US", "zh-CN"), "en"),
    (("zh-CN;q=0, en",), "en"),
    (("", None), "en"),
    (("<script>",), "en"),
])
def test_negotiate(prefs, expected):
    assert chl.negotiate(*prefs, default="en") == expected


# --- over HTTP ------------------------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path):
    return load_config(env={"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32,
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3", "TELL_CHALLENGE_POW_BITS": "8"})


@pytest.fixture
async def client(aiohttp_client, config):
    c = await aiohttp_client(make_app(config))
    assert (await c.get("/edge/collector.js")).status == 200  # the session cookie
    return c


def hold_telemetry(**kw) -> dict:
    t = person(7)
    t["page"] = "/post"
    t["events"] = mouse_hold(1600, **kw)
    t["sent_ms"] = t["events"][-1][1] + 5
    t["fields"] = []
    return t


async def challenged(client, account: str = "alice", uri: str = "/post") -> str:
    r = await client.post("/v1/decide", headers={"X-Original-URI": uri, "X-Tell-Account": account})
    assert r.status == 401
    body = await r.json()
    assert body["challenge_url"] == r.headers["X-Tell-Challenge"]
    assert body["challenge_url"].startswith("/edge/challenge?c=")
    return body["challenge_url"]


async def attempt(client, url: str, telemetry: dict, *, pow_ok: bool = True):
    params = await (await client.get(url, headers={"Accept-Language": "zh-CN"})).json()
    counter = solve_pow(bytes.fromhex(params["nonce"]), params["bits"]) if pow_ok else 0
    if not pow_ok and chl.pow_valid(bytes.fromhex(params["nonce"]), "0", params["bits"]):
        counter = solve_pow(bytes.fromhex(params["nonce"]), 64)  # pragma: no cover - 1 in 256
    c = url.split("c=", 1)[1]
    return await client.post(f"/edge/challenge/solve?c={c}", data=encode(telemetry),
                             headers={"Content-Type": "application/msgpack", "X-Tell-Pow": str(counter),
                                      **browser_headers()})


async def test_params_describe_the_challenge_in_the_negotiated_language(client):
    url = await challenged(client)
    r = await client.get(url + "&lang=zh-CN,en")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    p = await r.json()
    assert p["bits"] == 8 and len(p["nonce"]) == 32 and p["interaction"] == "hold" and p["hold_ms"] == 1500
    assert p["lang"] == "zh-CN" and p["strings"]["hold_label"] == "按住" and p["action"] == "post"


async def test_a_solved_challenge_yields_a_clearance_that_allows_the_write_once(client):
    url = await challenged(client)
    r = await attempt(client, url, hold_telemetry())
    body = await r.json()
    assert r.status == 200, body
    assert body["ok"] and body["clearance"].startswith("v1.") and body["token"].startswith("v1.")
    ok = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "alice",
                                                  "X-Tell-Token": body["token"], "X-Tell-Clearance": body["clearance"]})
    assert ok.status == 200, await ok.text()
    assert "tell.clearance" in ok.headers["X-Tell-Rules"]
    again = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "alice",
                                                     "X-Tell-Clearance": body["clearance"]})
    assert again.status == 401
    assert "clearance rejected (replayed)" in (await again.json())["reasons"]
    ledger = await (await client.get("/v1/accounts/alice", headers=ADMIN)).json()
    rules = [[r["id"] for r in d["rules"] if r["id"].startswith("tell.")] for d in ledger["decisions"]]
    assert rules[-2:] == [["tell.challenge-passed"], ["tell.missing-telemetry"]]


async def test_one_attempt_per_challenge(client):
    url = await challenged(client)
    assert (await attempt(client, url, hold_telemetry())).status == 200
    r = await attempt(client, url, hold_telemetry())
    assert r.status == 409 and (await r.json())["error"] == "challenge_used"


@pytest.mark.parametrize("telemetry, pow_ok, why", [
    (hold_telemetry(), False, "proof of work missing or wrong"),
    (hold_telemetry(ox=0.2, oy=0.0), True, "exact centre"),
    (hold_telemetry(trusted=0), True, "isTrusted false"),
])
async def test_failed_attempts_are_evidence_and_add_up_to_a_block(aiohttp_client, tmp_path, telemetry, pow_ok, why):
    # A long enforcement streak: each failed challenge is an automated decision of its own, and the
    # default streak (5) would ban the account before the third failure (docs/challenge.md).
    config = load_config(env={"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32, "TELL_CHALLENGE_POW_BITS": "8",
                              "TELL_STORE": f"sqlite:///{tmp_path}/t.sqlite3", "TELL_ENFORCEMENT": '{"streak": 20}'})
    client = await aiohttp_client(make_app(config))
    await client.get("/edge/collector.js")
    for i in range(3):  # failures_before_block = 3
        url = await challenged(client)
        r = await attempt(client, url, telemetry, pow_ok=pow_ok)
        body = await r.json()
        assert r.status == 403 and body["error"] == "challenge_failed"
        assert body["blocked"] is (i == 2)
        assert "reasons" not in body  # evidence stays server-side unless expose_evidence
    blocked = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "alice"})
    assert blocked.status == 403
    assert "tell.challenge-exhausted" in blocked.headers["X-Tell-Rules"]
    ledger = await (await client.get("/v1/accounts/alice", headers=ADMIN)).json()
    failed = [d for d in ledger["decisions"] if any(r["id"] == "tell.challenge-failed" for r in d["rules"])]
    assert len(failed) == 3 and all(any(why in x for x in d["reasons"]) for d in failed)


async def test_challenges_never_attempted_count_as_failures(client):
    for _ in range(3):
        await challenged(client)
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "bob"})
    assert r.status == 403  # another account name, the same session: three skipped challenges
    assert "tell.challenge-exhausted" in r.headers["X-Tell-Rules"]


async def test_one_skipped_challenge_is_named_on_the_next(client):
    await challenged(client)
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "alice"})
    assert r.status == 401 and "tell.challenge-skipped" in r.headers["X-Tell-Rules"]


@pytest.mark.parametrize("mutate, status, error", [
    (lambda c: c[:-3] + ("AAA" if not c.endswith("AAA") else "BBB"), 403, "challenge_forged"),
    (lambda c: "nope", 400, "challenge_malformed"),
])
async def test_a_tampered_challenge_is_refused(client, mutate, status, error):
    url = await challenged(client)
    c = mutate(url.split("c=", 1)[1])
    r = await client.get(f"/edge/challenge?c={c}")
    assert r.status == status and (await r.json())["error"] == error


async def test_a_challenge_is_bound_to_the_session(client, aiohttp_client, config):
    url = await challenged(client)
    client.session.cookie_jar.clear()
    r = await client.get(url)
    assert r.status == 403 and (await r.json())["error"] == "challenge_wrong_session"


async def test_a_challenge_token_is_not_a_telemetry_token(client):
    url = await challenged(client)
    c = url.split("c=", 1)[1]
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "alice", "X-Tell-Token": c})
    assert r.status == 401
    assert "token rejected (wrong_purpose)" in (await r.json())["reasons"]


async def test_no_session_no_challenge_url(aiohttp_client, config):
    client = await aiohttp_client(make_app(config))
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/post", "X-Tell-Account": "alice"})
    assert r.status == 401 and "X-Tell-Challenge" not in r.headers and "challenge_url" not in await r.json()


async def test_actions_without_challenges_get_none(aiohttp_client, tmp_path):
    config = load_config(env={"TELL_SECRET": "s" * 32, "TELL_STORE": f"sqlite:///{tmp_path}/t.sqlite3",
                              "TELL_CHALLENGE_ACTIONS": "register"})
    client = await aiohttp_client(make_app(config))
    await client.get("/edge/collector.js")
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/post"})
    assert r.status == 401 and "X-Tell-Challenge" not in r.headers


async def test_static_scripts_are_served(client):
    for path in ("/edge/challenge.js", "/edge/challenge-worker.js"):
        r = await client.get(path)
        assert r.status == 200 and r.content_type == "application/javascript"


# --- the guard's challenge page ---------------------------------------------------------------------------

async def test_a_challenged_form_post_gets_the_challenge_page_with_its_fields_echoed(aiohttp_client, config):
    client = await aiohttp_client(make_demo_app(config))
    await client.get("/edge/collector.js")
    client.session.cookie_jar.update_cookies({"demo_user": "carol"})
    r = await client.post("/post", data={"body": 'quote " and <tag> & more'},
                          headers={"Accept": "text/html", "Accept-Language": "zh-CN,zh;q=0.9"})
    assert r.status == 401
    text = await r.text()
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Content-Language"] == "zh-CN"
    url = r.headers["X-Tell-Challenge"]
    assert f'data-tell-challenge="{url.replace("&", "&amp;")}"' in text
    assert '<input type="hidden" name="body" value="quote &quot; and &lt;tag&gt; &amp; more">' in text
    assert 'id="tell-resubmit" method="post" action="/post"' in text
    assert "请确认是您本人在操作" in text and 'data-decision="challenge"' in text
    assert 'src="/edge/challenge.js"' in text and 'src="/edge/collector.js"' in text


async def test_the_guard_answers_json_clients_with_the_challenge_url(aiohttp_client, config):
    client = await aiohttp_client(make_demo_app(config))
    await client.get("/edge/collector.js")
    client.session.cookie_jar.update_cookies({"demo_user": "carol"})
    r = await client.post("/post", data=json.dumps({"body": "x"}), headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert r.status == 401
    assert (await r.json())["challenge_url"] == r.headers["X-Tell-Challenge"]


async def test_behind_a_gateway_the_form_page_is_built_from_the_forwarded_post(client):
    r = await client.post("/v1/decide", headers={"X-Original-URI": "/post?draft=1", "X-Original-Method": "POST"})
    url = r.headers["X-Tell-Challenge"]
    page = await client.post("/edge/challenge/form", data={"body": "hello <b>", "tell_token": "x"},
                             headers={"X-Tell-Challenge": url})
    assert page.status == 401 and page.headers["X-Tell-Challenge"] == url
    text = await page.text()
    assert 'action="/post?draft=1"' in text and 'data-tell-via="cookie"' in text
    assert 'value="hello &lt;b&gt;"' in text and 'name="tell_token"' not in text


@pytest.mark.parametrize("header, error", [(None, "challenge_missing"), ("/edge/challenge?c=v1.k1.x.y", "challenge_malformed"),
                                            ("/elsewhere", "challenge_missing")])
async def test_the_gateway_form_page_without_a_valid_challenge_is_still_a_401(client, header, error):
    r = await client.post("/edge/challenge/form", data={"body": "x"}, headers={"X-Tell-Challenge": header} if header else {})
    assert r.status == 401 and (await r.json())["error"] == error
