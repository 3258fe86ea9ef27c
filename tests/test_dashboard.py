"""The /admin dashboard: sign-in, escaping, the chart, security headers."""
import re
import time

import pytest

from edge.app import make_app
from edge.config import load_config
from edge.dashboard import RANGES, bucket_counts, decision_chart
from edge.decision import Decision, Enforcement, RuleHit, Verdict
from edge.keys import STORE

TOKEN = "dash-admin-token-0123456789"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def config(tmp_path):
    return load_config(env={"TELL_ADMIN_TOKEN": TOKEN, "TELL_SECRET": "s" * 32, "TELL_SIGNATURES_POLL_S": "0",
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3"})


async def signed_in(client):
    r = await client.post("/admin/login", data={"token": TOKEN}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin"
    return client


def _d(verdict: str, ts: float, account: str | None = "alice", rules=(), reasons=()) -> Decision:
    return Decision(Verdict(verdict), 0.9 if verdict == "block" else 0.1, "post", tuple(rules), tuple(reasons), "v1",
                    account_id=account, ts=ts)


@pytest.mark.parametrize("path", ["/admin", "/admin/accounts/alice", "/admin/accounts?id=alice"])
async def test_pages_need_sign_in(client, path):
    r = await client.get(path, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin/login"
    r = await client.get(path, allow_redirects=False, cookies={"tell_admin": "wrong"})
    assert r.status == 303


async def test_dashboard_is_off_without_an_admin_token(aiohttp_client, tmp_path):
    cfg = load_config(env={"TELL_STORE": f"sqlite:///{tmp_path}/t.sqlite3", "TELL_SIGNATURES_POLL_S": "0"})
    client = await aiohttp_client(make_app(cfg))
    assert (await client.get("/admin", allow_redirects=False)).status == 403
    assert (await client.post("/admin/login", data={"token": ""})).status == 403


async def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_clears_it(client):
    r = await client.post("/admin/login", data={"token": TOKEN}, allow_redirects=False)
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("tell_admin=")
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/admin"):
        assert attr in cookie
    assert (await client.get("/admin")).status == 200
    r = await client.get("/admin/login", allow_redirects=False)
    assert r.status == 303  # already signed in
    r = await client.post("/admin/logout", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin/login"
    assert (await client.get("/admin", allow_redirects=False)).status == 303


@pytest.mark.parametrize("token, status", [("", 401), ("dash-admin-token-012345678", 401), (TOKEN + "x", 401), (TOKEN, 303)])
async def test_sign_in_checks_the_token(client, token, status):
    r = await client.post("/admin/login", data={"token": token}, allow_redirects=False)
    assert r.status == status
    if status == 401:
        assert "not right" in await r.text() and "Set-Cookie" not in r.headers


async def test_cross_origin_sign_in_and_out_are_refused(client):
    r = await client.post("/admin/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert r.status == 403 and "Set-Cookie" not in r.headers
    await signed_in(client)
    r = await client.post("/admin/logout", headers={"Origin": "null"}, allow_redirects=False)
    assert r.status == 403
    r = await client.post("/admin/logout", headers={"Origin": str(client.make_url(""))}, allow_redirects=False)
    assert r.status == 303


async def test_bearer_token_also_opens_the_dashboard(client):
    r = await client.get("/admin", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status == 200


async def test_every_admin_response_carries_a_self_only_csp(client):
    for path in ("/admin/login", "/admin", "/admin/static/dashboard.css", "/admin/nope"):
        r = await client.get(path, allow_redirects=False)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    await signed_in(client)
    r = await client.get("/admin")
    assert "Content-Security-Policy" in r.headers and r.headers["Cache-Control"] == "no-store"
    html = await r.text()
    assert "<script" not in html and "http://" not in html and "https://" not in html  # nothing from elsewhere


async def test_hostile_account_id_and_reasons_are_escaped(client):
    store = client.server.app[STORE]
    now = time.time()
    await store.record(_d("block", now, HOSTILE, rules=[RuleHit("x.<b>y</b>", "<i>f</i>", 0.9)], reasons=['"><img src=x onerror=alert(2)>']))
    await store.report("r1", HOSTILE, "<script>alert(3)</script>")
    await store.override(HOSTILE, Enforcement.WARN, "<svg onload=alert(4)>", "mod<1>")
    await signed_in(client)
    pages = [await (await client.get("/admin")).text()]
    r = await client.get("/admin/accounts/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert r.status == 200
    pages.append(await r.text())
    for page in pages:
        assert "<script" not in page and "<img" not in page and "<svg onload" not in page and "<b>y" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="/admin/accounts/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in pages[0]
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in pages[1]
    assert "&lt;svg onload=alert(4)&gt;" in pages[1] and "mod&lt;1&gt;" in pages[1]


async def test_account_page_shows_the_timeline(client):
    store = client.server.app[STORE]
    now = time.time()
    await store.record(_d("allow", now - 120, "bob"))
    await store.record(_d("block", now - 60, "bob", rules=[RuleHit("headless.webdriver-flag", "headless", 0.9)],
                          reasons=["navigator.webdriver is true"]))
    await store.report("r1", "bob", "spam")
    await signed_in(client)
    page = await (await client.get("/admin/accounts/bob")).text()
    assert page.count('<li class="allow"') == 1 and page.count('<li class="block"') == 1
    assert "headless.webdriver-flag" in page and "navigator.webdriver is true" in page
    assert '<li class="report">' in page and 'class="event"' in page  # the block warned bob
    assert page.index('<li class="block"') < page.index('<li class="allow"')  # newest first
    r = await client.get("/admin/accounts/nobody")
    assert r.status == 404 and "nobody" in await r.text()
    r = await client.get("/admin/accounts?id=bob", allow_redirects=False)
    assert r.headers["Location"] == "/admin/accounts/bob"


async def test_overview_chart_has_one_segment_per_bucket_and_outcome(client):
    store = client.server.app[STORE]
    now = time.time()
    hour = 3600
    # Three different hours; in the middle one two outcomes; decisions older than 24 h are left out.
    seeds = [("allow", now - 3 * hour), ("allow", now - 3 * hour), ("allow", now - 5 * hour), ("block", now - 5 * hour),
             ("challenge", now - 30), ("allow", now - 30 * hour)]
    for verdict, ts in seeds:
        await store.record(_d(verdict, ts, "carol"))
    await signed_in(client)
    page = await (await client.get("/admin")).text()
    svg = re.search(r'<svg viewBox="0 0 960 260".*?</svg>', page, re.S).group(0)
    assert 'data-buckets="24"' in svg
    segs = re.findall(r'<rect class="seg (\w+)" data-bucket="(\d+)" data-outcome="\w+" data-count="(\d+)"', svg)
    assert sorted((o, int(n)) for o, _, n in segs) == [("allow", 1), ("allow", 2), ("block", 1), ("challenge", 1)]
    assert len({b for _, b, _ in segs}) == 3
    assert '<div class="label">Decisions</div><div class="value">5</div>' in page  # the 24 h window
    page = await (await client.get("/admin?range=1h")).text()
    svg = re.search(r'<svg viewBox.*?</svg>', page, re.S).group(0)
    assert 'data-buckets="12"' in svg and len(re.findall(r'<rect class="seg ', svg)) == 1


def test_buckets_align_to_the_clock_and_hold_now():
    now = 1_800_000_123.0
    start, width, counts = bucket_counts([{"ts": now, "decision": "block"}, {"ts": now - 86400 - 10, "decision": "allow"}],
                                         now, *RANGES["24h"])
    assert width == 3600 and start % 3600 == 0 and start < now - 86400 + 3600
    assert counts[-1] == [0, 0, 1] and sum(map(sum, counts)) == 1


def test_empty_chart_still_draws_axes():
    svg = decision_chart([], time.time(), *RANGES["7d"])
    assert 'data-buckets="28"' in svg and "<rect" not in svg and svg.count('class="grid-line"') == 5


async def test_overview_lists_review_queue_and_enforcement_changes(client):
    store = client.server.app[STORE]
    now = time.time()
    await store.record(_d("block", now - 10, "dave", rules=[RuleHit("selenium.cdc-globals", "selenium", 0.95)]))
    await store.report("r1", "dave", "bot")
    await signed_in(client)
    page = await (await client.get("/admin")).text()
    review = page.split('id="review"')[1].split("</section>")[0]
    assert "dave" in review and "selenium" in review
    changes = page.split('id="changes"')[1].split("</section>")[0]
    assert "dave" in changes and "e-warn" in changes
    top = page.split('id="top-rules"')[1].split("</section>")[0]
    assert "selenium.cdc-globals" in top


async def test_no_state_changing_gets(client):
    # Sign-out and sign-in are POST only: a GET (an <img src> on another site) does nothing.
    await signed_in(client)
    r = await client.get("/admin/logout", allow_redirects=False)
    assert r.status in (404, 405)
    assert (await client.get("/admin")).status == 200
