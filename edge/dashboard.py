"""The operations dashboard at ``/admin``: server-rendered HTML, no JavaScript, no CDN.

Pages: the overview (decisions over time as an SVG chart drawn here, top rules and tool families,
recent enforcement changes, the review queue, the latest decisions) and one page per account (its
timeline of decisions, enforcement changes and reports).

Threats and answers:
* Account ids, rule reasons and notes are attacker-influenced: every value is HTML-escaped at the
  point it enters the markup (``_e``), and URLs are built with ``quote`` before escaping.
* Sign-in: the admin token is compared in constant time and kept in an HttpOnly, SameSite=Strict
  cookie scoped to ``/admin``; no GET changes state; the two POSTs (sign in, sign out) refuse a
  cross-origin ``Origin``.
* A ``Content-Security-Policy`` that allows only 'self' on every ``/admin`` response: even an
  escaping bug could not run an injected script or load anything from elsewhere.
"""
from __future__ import annotations

import hmac
import html
import string
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote, urlsplit

from aiohttp import web

from edge.auth import admin_token_ok
from edge.keys import CONFIG, STORE

HERE = Path(__file__).resolve().parent
CSS = HERE / "static" / "dashboard.css"
COOKIE = "tell_admin"
SESSION_S = 12 * 3600
OUTCOMES = ("allow", "challenge", "block")
# range name -> (seconds, buckets)
RANGES = {"1h": (3600, 12), "24h": (86400, 24), "7d": (7 * 86400, 28)}
SCAN_LIMIT = 10_000  # decisions read for the overview's aggregates
MAX_ID = 128

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _template(name: str) -> string.Template:
    return string.Template((HERE / "templates" / name).read_text(encoding="utf-8"))


LAYOUT = _template("dashboard.html")
LOGIN = _template("login.html")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _acct_url(account_id: str) -> str:
    return "/admin/accounts/" + quote(account_id, safe="")


def _acct_link(account_id: str | None) -> str:
    if not account_id:
        return '<span class="muted">—</span>'
    return f'<a class="mono" href="{_e(_acct_url(account_id))}" title="{_e(account_id)}">{_e(account_id)}</a>'


def _utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "—" if not ts else time.strftime(fmt, time.gmtime(ts))


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return "—"
    s = max(0.0, now - ts)
    if s < 45:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{int(s // size)} {unit} ago"
    return f"{int(s)} s ago"


def verdict_badge(v: str) -> str:
    cls = v if v in OUTCOMES else "allow"
    return f'<span class="badge {cls}">{_e(v)}</span>'


def enforcement_badge(e: str) -> str:
    cls = e if e in ("none", "warn", "limit", "ban") else "none"
    return f'<span class="badge e-{cls}">{_e(e)}</span>'


def _rule_chips(rules: Iterable[dict]) -> str:
    chips = []
    for r in rules:
        cls = "chip test" if r.get("status") == "test" else "chip"
        chips.append(f'<span class="{cls}" title="{_e(r.get("family"))}">{_e(r.get("id"))}</span>')
    return "".join(chips) or '<span class="muted">—</span>'


def _share_bar(n: int, total: int, width: int = 80) -> str:
    w = 0 if total <= 0 else max(2, round(width * n / total))
    return (f'<svg width="{width}" height="8" viewBox="0 0 {width} 8" aria-hidden="true">'
            f'<rect class="share" width="{width}" height="8" rx="4"/><rect class="share-fill" width="{w}" height="8" rx="4"/></svg>')


# --- the chart ---------------------------------------------------------------------------------

def _nice_step(raw: float) -> float:
    if raw <= 1:
        return 1
    mag = 10 ** (len(str(int(raw))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def bucket_counts(decisions: Iterable[dict], now: float, span: float, buckets: int) -> tuple[float, float, list[list[int]]]:
    """Count decisions per (bucket, outcome). Buckets are aligned to the wall clock, the last one
    holding ``now``. Returns ``(start, width, counts)``."""
    width = span / buckets
    end = (now // width + 1) * width
    start = end - span
    counts = [[0, 0, 0] for _ in range(buckets)]
    for d in decisions:
        i = int((d.get("ts", 0) - start) // width)
        if 0 <= i < buckets and d.get("decision") in OUTCOMES:
            counts[i][OUTCOMES.index(d["decision"])] += 1
    return start, width, counts


def decision_chart(decisions: Iterable[dict], now: float, span: float, buckets: int) -> str:
    """Stacked bars of decisions per time bucket, allow at the bottom, block on top: one
    ``<rect class="seg {outcome}">`` per non-empty (bucket, outcome)."""
    start, width, counts = bucket_counts(decisions, now, span, buckets)
    W, H, left, right, top, bottom = 960, 260, 44, 12, 12, 28
    pw, ph = W - left - right, H - top - bottom
    step = _nice_step(max((sum(c) for c in counts), default=0) / 4)
    ymax = step * 4
    out = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="Decisions over time by outcome" data-buckets="{buckets}">']
    for k in range(5):
        y = top + ph - ph * k / 4
        label = f"{step * k:g}"
        out.append(f'<line class="grid-line" x1="{left}" x2="{W - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    slot = pw / buckets
    bar = slot * 0.64
    fmt = "%a %H:%M" if span > 86400 else "%H:%M"
    every = max(1, buckets // 8)
    for i, c in enumerate(counts):
        x = left + i * slot + (slot - bar) / 2
        y = top + ph
        t0 = start + i * width
        for k, n in enumerate(c):
            if not n:
                continue
            h = ph * n / ymax
            y -= h
            out.append(f'<rect class="seg {OUTCOMES[k]}" data-bucket="{i}" data-outcome="{OUTCOMES[k]}" data-count="{n}" '
                       f'x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" rx="2">'
                       f'<title>{_utc(t0, fmt)}–{_utc(t0 + width, "%H:%M")} UTC: {n} {OUTCOMES[k]}</title></rect>')
        if i % every == 0:
            out.append(f'<text class="axis" x="{left + i * slot + slot / 2:.1f}" y="{H - 8}" text-anchor="middle">{_utc(t0, fmt)}</text>')
    out.append("</svg>")
    return "".join(out)


# --- pages -------------------------------------------------------------------------------------

def _page(request: web.Request, title: str, content: str, *, nav: str = "", status: int = 200) -> web.Response:
    from edge.service import ENGINE

    engine = request.app.get(ENGINE)
    text = LAYOUT.substitute(title=_e(title), content=content, nav_overview="active" if nav == "overview" else "",
                             version=_e(engine.signatures.version if engine else "—"), now=_utc(time.time(), "%Y-%m-%d %H:%M:%S UTC"))
    return web.Response(text=text, content_type="text/html", status=status)


def _login_page(error: str = "", status: int = 200) -> web.Response:
    alert = f'<div class="alert" role="alert">{_e(error)}</div>' if error else ""
    return web.Response(text=LOGIN.substitute(error=alert), content_type="text/html", status=status)


def _gate(request: web.Request) -> web.Response | None:
    """None when the request may see the dashboard; otherwise the answer to give instead."""
    if not request.app[CONFIG].admin_token:
        return web.Response(text="The dashboard is disabled: set TELL_ADMIN_TOKEN.", status=403)
    if not admin_token_ok(request):
        raise web.HTTPSeeOther("/admin/login")
    return None


def _same_origin(request: web.Request) -> bool:
    # Browsers send Origin on every POST; a different one is a cross-site form (login CSRF, forced
    # logout). No Origin at all is a non-browser client, which cookies do not help anyway. (The
    # Referrer-Policy is same-origin, not no-referrer: under no-referrer Chromium sends "null".)
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def login_form(request: web.Request) -> web.Response:
    if not request.app[CONFIG].admin_token:
        return _login_page("The dashboard is disabled: set TELL_ADMIN_TOKEN.", 403)
    if admin_token_ok(request):
        raise web.HTTPSeeOther("/admin")
    return _login_page()


async def login(request: web.Request) -> web.Response:
    expected = request.app[CONFIG].admin_token
    if not expected:
        return _login_page("The dashboard is disabled: set TELL_ADMIN_TOKEN.", 403)
    if not _same_origin(request):
        return _login_page("Cross-origin sign-in refused.", 403)
    form = await request.post()
    presented = form.get("token")
    presented = presented.strip() if isinstance(presented, str) else ""
    # compare_digest: the time taken must not reveal how much of the token was right.
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return _login_page("That token is not right.", 401)
    resp = web.HTTPSeeOther("/admin")
    resp.set_cookie(COOKIE, expected, max_age=SESSION_S, path="/admin", httponly=True, samesite="Strict",
                    secure=request.secure)
    raise resp


async def logout(request: web.Request) -> web.Response:
    if not _same_origin(request):
        return web.Response(text="Cross-origin sign-out refused.", status=403)
    resp = web.HTTPSeeOther("/admin/login")
    resp.del_cookie(COOKIE, path="/admin")
    raise resp


async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(CSS, headers={"Content-Type": "text/css; charset=utf-8", "Cache-Control": "private, max-age=300"})


async def find_account(request: web.Request) -> web.Response:
    if (denied := _gate(request)) is not None:
        return denied
    wanted = request.query.get("id", "").strip()[:MAX_ID]
    raise web.HTTPSeeOther(_acct_url(wanted) if wanted else "/admin")


def _stat(label: str, value: Any, hint: str = "", cls: str = "") -> str:
    return (f'<div class="card stat {cls}"><div class="label">{_e(label)}</div>'
            f'<div class="value">{_e(value)}</div><div class="hint">{hint}</div></div>')


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}% of decisions" if total else "no decisions"


def _tally(decisions: list[dict], since: float) -> tuple[Counter, Counter, dict[str, str], set[str]]:
    rules: Counter = Counter()
    fams: Counter = Counter()
    fam_of: dict[str, str] = {}
    test: set[str] = set()
    for d in decisions:
        if d.get("ts", 0) < since:
            continue
        for r in d.get("rules", ()):
            rules[r["id"]] += 1
            fam_of[r["id"]] = r.get("family", "")
            if r.get("status") == "test":
                test.add(r["id"])
        # "none" labels Tell's own evidence (missing telemetry, a refused token): not a tool family.
        fams.update(f for f in d.get("families", ()) if f != "none")
    return rules, fams, fam_of, test


def _top_tables(decisions: list[dict], now: float) -> str:
    r1, f1, _, _ = _tally(decisions, now - 3600)
    r24, f24, fam_of, test = _tally(decisions, now - 86400)
    total = max(r24.values(), default=0)
    rows = "".join(
        f'<tr><td><span class="{"chip test" if rid in test else "chip"}">{_e(rid)}</span></td><td><span class="chip fam">{_e(fam_of[rid])}</span></td>'
        f'<td class="num">{r1[rid]}</td><td class="num">{n}</td><td class="bar-cell">{_share_bar(n, total)}</td></tr>'
        for rid, n in r24.most_common(10)
    ) or '<tr><td colspan="5" class="empty">No rule matched in the last 24 hours.</td></tr>'
    ftotal = max(f24.values(), default=0)
    frows = "".join(
        f'<tr><td><span class="chip fam">{_e(f)}</span></td><td class="num">{f1[f]}</td><td class="num">{n}</td>'
        f'<td class="bar-cell">{_share_bar(n, ftotal)}</td></tr>'
        for f, n in f24.most_common(10)
    ) or '<tr><td colspan="4" class="empty">No tool family seen in the last 24 hours.</td></tr>'
    return (
        '<div class="grid two">'
        '<section class="card" id="top-rules"><h2>Top rules</h2><p class="sub">Matches in decisions; dashed: test-status rules</p>'
        '<table><thead><tr><th>Rule</th><th>Family</th><th class="num">1 h</th><th class="num">24 h</th><th></th></tr></thead>'
        f'<tbody>{rows}</tbody></table></section>'
        '<section class="card" id="top-families"><h2>Tool families</h2><p class="sub">Decisions with evidence from each family</p>'
        '<table><thead><tr><th>Family</th><th class="num">1 h</th><th class="num">24 h</th><th></th></tr></thead>'
        f'<tbody>{frows}</tbody></table></section></div>'
    )


async def _enforcement_changes(store, decisions: list[dict], review: list[dict], now: float) -> list[tuple[str, dict]]:
    # The store keeps events per account: look at the accounts active lately and those reported.
    seen: dict[str, None] = {}
    for d in decisions:
        if d.get("account_id"):
            seen.setdefault(d["account_id"], None)
        if len(seen) >= 60:
            break
    for r in review:
        seen.setdefault(r["account_id"], None)
    changes = []
    for acct in seen:
        for ev in await store.events(acct, limit=3):
            if ev["ts"] >= now - 7 * 86400:
                changes.append((acct, ev))
    changes.sort(key=lambda c: c[1]["ts"], reverse=True)
    return changes[:12]


def _changes_card(changes: list[tuple[str, dict]], now: float) -> str:
    rows = "".join(
        f'<tr><td class="acct">{_acct_link(acct)}<div class="small muted why">{_e(ev["reason"])}'
        f'{" · " + _e(ev["actor"]) if ev.get("actor") and ev["actor"] != "policy" else ""}</div></td>'
        f'<td class="nowrap">{enforcement_badge(ev["from"])}<span class="arrow">→</span>{enforcement_badge(ev["to"])}</td>'
        f'<td class="muted nowrap num" title="{_utc(ev["ts"])} UTC">{_ago(ev["ts"], now)}</td></tr>'
        for acct, ev in changes
    ) or '<tr><td colspan="3" class="empty">No enforcement changes in the last 7 days.</td></tr>'
    return ('<section class="card" id="changes"><h2>Enforcement changes</h2><p class="sub">Accounts whose state changed in the last 7 days</p>'
            f'<table><thead><tr><th>Account · why</th><th>Change</th><th class="num">When</th></tr></thead><tbody>{rows}</tbody></table></section>')


async def _review_card(store, review: list[dict], now: float) -> str:
    rows = []
    for r in review:
        acct = await store.account(r["account_id"], limit=20)
        fams: Counter = Counter(f for d in (acct or {}).get("decisions", ()) for f in d.get("families", ()) if f != "none")
        evidence = "".join(f'<span class="chip fam">{_e(f)}</span>' for f, _ in fams.most_common(3)) or '<span class="small muted">no rule evidence</span>'
        rows.append(
            f'<tr><td class="acct">{_acct_link(r["account_id"])}<div>{evidence}</div></td>'
            f'<td class="num">{r["reports"]}<div class="small muted">{_ago(r.get("last_report_ts"), now)}</div></td>'
            f'<td class="num">{r["automated"]}/{r["decisions_total"]}<div class="small muted">max {r["max_score"]:.2f}</div></td>'
            f'<td>{enforcement_badge(r["enforcement"])}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="4" class="empty">No reported accounts.</td></tr>'
    return ('<section class="card" id="review"><h2>Review queue</h2><p class="sub">Reported accounts, strongest evidence first</p>'
            '<table><thead><tr><th>Account · evidence</th><th class="num">Reports</th><th class="num">Automated</th>'
            '<th>State</th></tr></thead>'
            f'<tbody>{body}</tbody></table></section>')


def _recent_card(decisions: list[dict], now: float, n: int = 25) -> str:
    rows = "".join(
        f'<tr data-request-id="{_e(d.get("request_id"))}"><td class="muted" title="{_utc(d.get("ts"))} UTC">{_ago(d.get("ts"), now)}</td>'
        f'<td class="acct">{_acct_link(d.get("account_id"))}</td><td>{_e(d.get("action"))}</td><td>{verdict_badge(d.get("decision", ""))}</td>'
        f'<td class="num">{float(d.get("score", 0)):.2f}</td><td>{_rule_chips(d.get("rules", ()))}</td></tr>'
        for d in decisions[:n]
    ) or '<tr><td colspan="6" class="empty">No decisions yet.</td></tr>'
    return ('<section class="card" id="recent"><h2>Latest decisions</h2><p class="sub">Newest first</p>'
            '<table><thead><tr><th>When</th><th>Account</th><th>Action</th><th>Decision</th><th class="num">Score</th><th>Rules</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section>')


async def overview(request: web.Request) -> web.Response:
    if (denied := _gate(request)) is not None:
        return denied
    store = request.app[STORE]
    rng = request.query.get("range", "24h")
    if rng not in RANGES:
        rng = "24h"
    span, buckets = RANGES[rng]
    now = time.time()
    decisions = await store.decisions(limit=SCAN_LIMIT, since=now - max(span, 86400))
    in_range = [d for d in decisions if d.get("ts", 0) >= now - span]
    by = Counter(d.get("decision") for d in in_range)
    total = len(in_range)
    accounts = len({d["account_id"] for d in in_range if d.get("account_id")})
    review = await store.review(limit=15)
    changes = await _enforcement_changes(store, decisions, review, now)
    capped = (f'<p class="sub">Showing the latest {SCAN_LIMIT:,} decisions only.</p>' if len(decisions) >= SCAN_LIMIT else "")
    seg = "".join(f'<a href="/admin?range={k}" class="{"active" if k == rng else ""}">{k}</a>' for k in RANGES)
    content = (
        f'<div class="page-head"><div><h1>Overview</h1><p>Decisions on protected writes over the last {rng}</p></div>'
        f'<div class="seg-control">{seg}</div></div>'
        '<div class="grid stats">'
        + _stat("Decisions", f"{total:,}", f"{rng} window")
        + _stat("Allowed", f"{by['allow']:,}", _pct(by["allow"], total), "allow")
        + _stat("Challenged", f"{by['challenge']:,}", _pct(by["challenge"], total), "challenge")
        + _stat("Blocked", f"{by['block']:,}", _pct(by["block"], total), "block")
        + _stat("Accounts", f"{accounts:,}", f"{len(changes)} state change(s) in 7 d")
        + '</div>'
        '<section class="card chart" id="chart"><div class="card-head"><div><h2>Decisions over time</h2>'
        f'<p class="sub">Per {_e(_span_label(span / buckets))}, by outcome</p>{capped}</div>'
        '<div class="legend"><span class="allow">allow</span><span class="challenge">challenge</span><span class="block">block</span></div></div>'
        f'{decision_chart(in_range, now, span, buckets)}</section>'
        + _top_tables(decisions, now)
        + f'<div class="grid two">{_changes_card(changes, now)}{await _review_card(store, review, now)}</div>'
        + _recent_card(decisions, now)
    )
    return _page(request, "Overview", content, nav="overview")


def _span_label(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _timeline(data: dict[str, Any], now: float) -> str:
    items: list[tuple[float, str]] = []
    for d in data.get("decisions", ()):
        reasons = "".join(f"<li>{_e(r)}</li>" for r in d.get("reasons", ()))
        items.append((d.get("ts", 0), (
            f'<li class="{_e(d.get("decision"))}" data-request-id="{_e(d.get("request_id"))}"><div class="head">{verdict_badge(d.get("decision", ""))}'
            f'<span class="title">{_e(d.get("action"))}</span><span class="muted">score {float(d.get("score", 0)):.2f}</span>'
            f'<span class="when" title="{_utc(d.get("ts"))} UTC">· {_ago(d.get("ts"), now)}</span></div>'
            f'<div>{_rule_chips(d.get("rules", ()))}</div>'
            + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
            + f'<div class="ids mono">request {_e(d.get("request_id"))} · set {_e(d.get("set_version"))}</div></li>')))
    for ev in data.get("events", ()):
        who = f' by {_e(ev.get("actor"))}' if ev.get("actor") else ""
        note = f'<ul class="reasons"><li>{_e(ev["note"])}</li></ul>' if ev.get("note") else ""
        items.append((ev["ts"], (
            f'<li class="event"><div class="head"><span class="title">Enforcement</span>{enforcement_badge(ev["from"])}'
            f'<span class="arrow">→</span>{enforcement_badge(ev["to"])}<span class="when" title="{_utc(ev["ts"])} UTC">· {_ago(ev["ts"], now)}</span></div>'
            f'<div>{_e(ev.get("reason"))}{who}</div>{note}'
            + (f'<div class="ids mono">after {", ".join(_e(r[:12]) for r in ev["request_ids"][:5])}</div>' if ev.get("request_ids") else "")
            + "</li>")))
    if data.get("reports"):
        ts = data.get("last_report_ts") or 0
        items.append((ts, (
            f'<li class="report"><div class="head"><span class="title">Reported</span><span class="muted">by {int(data["reports"])} '
            f'distinct reporter(s)</span><span class="when" title="{_utc(ts)} UTC">· latest {_ago(ts, now)}</span></div></li>')))
    items.sort(key=lambda i: i[0], reverse=True)
    return f'<ul class="timeline">{"".join(h for _, h in items)}</ul>' if items else '<p class="empty">Nothing recorded.</p>'


async def account_page(request: web.Request) -> web.Response:
    if (denied := _gate(request)) is not None:
        return denied
    acct = request.match_info["account_id"]
    if len(acct) > MAX_ID:
        return _page(request, "Account", '<div class="card empty">Account ids are at most 128 characters.</div>', status=400)
    data = await request.app[STORE].account(acct, limit=200)
    if data is None:
        return _page(request, "Unknown account", f'<div class="crumbs"><a href="/admin">Overview</a> / accounts</div>'
                     f'<div class="card empty">No decisions, reports or overrides recorded for <span class="account-id">{_e(acct)}</span>.</div>', status=404)
    now = time.time()
    decisions = data.get("decisions", [])
    rules: Counter = Counter(r["id"] for d in decisions for r in d.get("rules", ()))
    fams: Counter = Counter(f for d in decisions for f in d.get("families", ()) if f != "none")
    verdicts: Counter = Counter(d.get("decision") for d in decisions)
    facts = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in (
        ("State", enforcement_badge(data.get("enforcement", "none"))),
        ("Decisions", f'{int(data.get("decisions_total", 0)):,}'),
        ("Automated", f'{int(data.get("automated", 0)):,}'),
        ("Max score", f'{float(data.get("max_score") or 0):.2f}'),
        ("Reports", f'{int(data.get("reports", 0)):,}'),
        ("First seen", _e(_utc(data.get("first_ts")))),
        ("Last seen", _e(_utc(data.get("last_ts")))),
    ))
    mix = " ".join(f'{verdict_badge(v)} <span class="muted">{verdicts[v]}</span>' for v in OUTCOMES if verdicts[v])
    evidence = ("".join(f'<span class="chip fam">{_e(f)} · {n}</span>' for f, n in fams.most_common(8))
                + "<div></div>" + "".join(f'<span class="chip">{_e(r)} · {n}</span>' for r, n in rules.most_common(12))) \
        or '<span class="muted">No rule evidence.</span>'
    content = (
        '<div class="crumbs"><a href="/admin">Overview</a> / accounts</div>'
        f'<div class="page-head"><div><h1 class="account-id" id="account-id">{_e(acct)}</h1>'
        f'<p>{len(decisions)} most recent decisions, enforcement changes and reports</p></div>'
        f'<div>{enforcement_badge(data.get("enforcement", "none"))}</div></div>'
        '<div class="grid side">'
        f'<section class="card"><h2>Timeline</h2><p class="sub">Newest first · {mix or "no decisions"}</p>{_timeline(data, now)}</section>'
        f'<div><section class="card"><h2>Account</h2><p class="sub">From the ledger</p><dl class="facts">{facts}</dl></section>'
        f'<section class="card"><h2>Evidence</h2><p class="sub">Families and rules across these decisions</p>{evidence}</section></div>'
        '</div>'
    )
    return _page(request, acct, content)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/admin" or request.path.startswith("/admin/"):
        response.headers.update(SECURITY_HEADERS)


def add_dashboard(app: web.Application) -> None:
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/admin", overview)
    app.router.add_get("/admin/login", login_form)
    app.router.add_post("/admin/login", login)
    app.router.add_post("/admin/logout", logout)
    app.router.add_get("/admin/static/dashboard.css", stylesheet)
    app.router.add_get("/admin/accounts", find_account)
    app.router.add_get("/admin/accounts/{account_id:.+}", account_page)
