"""``edge.guard``: protect an aiohttp app's write routes with Tell.

    tell = edge.setup(app, edge.load_config())
    app.middlewares.append(edge.guard({"POST /post": "post"}, account=lambda r: r.cookies.get("user")))

An allowed write reaches the handler with ``request[edge.keys.DECISION]`` set; a challenged or blocked
one is answered by Tell (401 / 403, HTML for browsers, JSON otherwise) and the handler never runs.
"""
from __future__ import annotations

import html
import inspect
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from edge import telemetry as tm
from edge.challenge import Challenge
from edge.challenge import issue as issue_challenge
from edge.challenge import page as challenge_page
from edge.decision import ACTIONS, Decision, Verdict
from edge.api import TOKEN_COOKIE
from edge.keys import CONFIG, DECISION
from edge.service import STATUS, decide_write, decision_headers, request_info

AccountResolver = Callable[[web.Request], "str | None | Awaitable[str | None]"]
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _parse_protect(protect: Mapping[str, str]) -> dict[tuple[str, str], str]:
    table = {}
    for key, action in protect.items():
        method, _, path = key.partition(" ") if " " in key else ("POST", "", key)
        if action not in ACTIONS:
            raise ValueError(f"guard: {key!r} maps to unknown action {action!r} (one of {', '.join(ACTIONS)})")
        table[(method.upper(), path)] = action
    return table


def guard(protect: Mapping[str, str], *, account: AccountResolver | None = None) -> Callable:
    """Middleware factory. ``protect`` maps ``"METHOD /path"`` (method defaults to POST) to an action."""
    table = _parse_protect(protect)

    @web.middleware
    async def impl(request: web.Request, handler):
        action = table.get((request.method, request.path))
        if action is None:
            return await handler(request)
        cfg = request.app[CONFIG]
        token = request.headers.get("X-Tell-Token")
        clearance = request.headers.get("X-Tell-Clearance")
        inline = form = None
        if request.content_type in FORM_TYPES:
            form = await request.post()  # cached: the handler reads the same parsed form
            token = token or _field(form.get("tell_token"))
            inline = _field(form.get("tell_telemetry"))
            clearance = clearance or _field(form.get("tell_clearance"))
        # Last, the collector's tell_token cookie: bound to tell_sid like the header and the field.
        token = token or request.cookies.get(TOKEN_COOKIE) or None
        account_id = None
        if account is not None:
            account_id = account(request)
            if inspect.isawaitable(account_id):
                account_id = await account_id
        try:
            decision = await decide_write(
                request.app, action, request_info(request, trust_forwarded=cfg.trust_forwarded_for),
                token=token, inline_telemetry=inline, account_id=account_id,
                session_cookie=request.cookies.get(cfg.tokens.cookie),
                clearance=clearance,
            )
        except tm.TelemetryError as exc:
            return web.json_response(exc.to_json(), status=400)
        request[DECISION] = decision
        if decision.decision is Verdict.ALLOW:
            response = await handler(request)
            response.headers.update(client_headers(decision, cfg.expose_evidence))
            return response
        ch = await issue_challenge(request.app, decision, request.cookies.get(cfg.tokens.cookie), uri=request.path_qs)
        return refusal(request, decision, cfg.expose_evidence, challenge=ch, form=form)

    return impl


def _field(v) -> str | None:
    return v if isinstance(v, str) and v else None


def _wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept or request.content_type in FORM_TYPES and "application/json" not in accept


def client_headers(d: Decision, expose_evidence: bool) -> dict[str, str]:
    """What the client may see of a decision: the verdict and a request id for support, and the
    evidence only where configured (the demo)."""
    if expose_evidence:
        return decision_headers(d)
    return {"X-Tell-Decision": d.decision.value, "X-Tell-Request-Id": d.request_id}


def _client_json(d: Decision, expose_evidence: bool) -> dict:
    if expose_evidence:
        return d.to_json()
    return {"decision": d.decision.value, "action": d.action, "request_id": d.request_id}


def refusal(request: web.Request, d: Decision, expose_evidence: bool = False, *,
            challenge: Challenge | None = None, form: Mapping[str, Any] | None = None) -> web.Response:
    """The answer to a challenged or blocked write: a page for a browser's form post, JSON otherwise.
    A challenge is named in ``X-Tell-Challenge`` and ``challenge_url``; for a form post the page runs
    it and sends the form (``form``, echoed from this request) again once it is passed."""
    headers = client_headers(d, expose_evidence)
    if challenge is not None:
        headers["X-Tell-Challenge"] = challenge.url
    if not _wants_html(request):
        body = _client_json(d, expose_evidence)
        if challenge is not None:
            body["challenge_url"] = challenge.url
        return web.json_response(body, status=STATUS[d.decision], headers=headers)
    if challenge is not None:
        return challenge_page(request, d, challenge, form=form, headers=headers, expose_evidence=expose_evidence)
    title = "Please confirm you are here" if d.decision is Verdict.CHALLENGE else "This action was blocked"
    families = ", ".join(d.families) or "—"
    if expose_evidence:
        items = "".join(f"<li>{html.escape(r)}</li>" for r in d.reasons) or "<li>no details</li>"
        evidence = (f'<ul id="reasons">{items}</ul><p><code>request {d.request_id} · signatures {d.set_version} · '
                    f'tool family: {html.escape(families)}</code></p>')
    else:
        families = ""
        evidence = (f"<p>If you think this is a mistake, contact support and quote this reference:</p>"
                    f"<p><code>{d.request_id}</code></p>")
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}}
.card{{border:1px solid #d0d7de;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px #0001}}
.badge{{display:inline-block;padding:.15rem .6rem;border-radius:999px;font-weight:600;font-size:.85rem}}
.block{{background:#ffebe9;color:#a40e26}}.challenge{{background:#fff8c5;color:#7d4e00}}
code{{font-size:.85rem;color:#57606a}}</style></head><body><div class="card">
<h1>{title}</h1>
<p><span id="decision" class="badge {d.decision.value}" data-decision="{d.decision.value}" data-score="{d.score:.3f}"
 data-families="{html.escape(families)}">{d.decision.value}</span></p>
<p>Tell, this site's protection against AI-managed accounts, stopped this {html.escape(d.action)}.</p>
{evidence}
</div></body></html>"""
    return web.Response(text=body, status=STATUS[d.decision], content_type="text/html", headers=headers)
