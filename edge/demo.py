"""The demo site: a tiny community whose writes Tell protects (``tell demo``).

Register, post, comment — each form carries ``data-tell-protect`` so the collector sends telemetry
and a token with it; the middleware decides; the page after a write shows the decision in
``#decision[data-decision]``. The account id of a demo write is the username. The demo keeps no
passwords: the field exists so that agents have something realistic to type into.
"""
from __future__ import annotations

import dataclasses
import html
import itertools
import re
from dataclasses import dataclass, field

from aiohttp import web

from edge.app import make_app
from edge.config import Config
from edge.decision import Decision
from edge.keys import DECISION
from edge.middleware import guard
from edge.store import Store

USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
MAX_BODY = 2000


@dataclass
class Post:
    id: int
    author: str
    body: str
    comments: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Board:
    posts: dict[int, Post] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))


BOARD = web.AppKey("demo_board", Board)

_CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
header{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #d0d7de;margin-bottom:1rem}
header h1{font-size:1.4rem;margin:.5rem 0}form{display:grid;gap:.6rem;max-width:28rem}
input,textarea{font:inherit;padding:.5rem;border:1px solid #d0d7de;border-radius:8px}
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:8px;background:#ff2442;color:#fff;cursor:pointer}
.post{border:1px solid #d0d7de;border-radius:12px;padding:1rem;margin:.8rem 0}.muted{color:#57606a;font-size:.9rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:999px;font-weight:600;font-size:.85rem}
.allow{background:#dafbe1;color:#116329}.challenge{background:#fff8c5;color:#7d4e00}.block{background:#ffebe9;color:#a40e26}"""


def page(title: str, content: str, user: str | None) -> web.Response:
    who = f"signed in as <b>{html.escape(user)}</b>" if user else '<a href="/register">register</a>'
    text = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Tell demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>
<script src="/edge/collector.js" defer></script></head><body>
<header><h1><a href="/" style="color:inherit;text-decoration:none">Tell demo community</a></h1>
<nav><a href="/post">new post</a> · {who}</nav></header>
{content}</body></html>"""
    return web.Response(text=text, content_type="text/html")


def decision_block(d: Decision | None) -> str:
    if d is None:
        return ""
    fam = ", ".join(d.families) or "—"
    return (f'<p>Tell: <span id="decision" class="badge {d.decision.value}" data-decision="{d.decision.value}" '
            f'data-score="{d.score:.3f}" data-families="{html.escape(fam)}">{d.decision.value}</span> '
            f'<span class="muted">score {d.score:.2f} · request {d.request_id[:8]}</span></p>')


def _user(request: web.Request) -> str | None:
    u = request.cookies.get("demo_user")
    return u if u and USERNAME.match(u) else None


def _bad(request: web.Request, field: str, detail: str) -> web.Response:
    resp = page("Bad input", f'<p id="error" data-field="{field}">{html.escape(detail)}</p>', _user(request))
    resp.set_status(400)
    return resp


async def index(request: web.Request) -> web.Response:
    board = request.app[BOARD]
    items = "".join(
        f'<div class="post"><div class="muted">#{p.id} by {html.escape(p.author)}</div><p>{html.escape(p.body)}</p>'
        + "".join(f'<div class="muted">↳ {html.escape(a)}: {html.escape(c)}</div>' for a, c in p.comments)
        + f'<a href="/comment?post={p.id}">comment</a></div>'
        for p in reversed(board.posts.values())
    ) or '<p class="muted">No posts yet.</p>'
    return page("Home", items, _user(request))


REGISTER_FORM = """<h2>Register</h2><form method="post" action="/register" data-tell-protect="register">
<label>Username <input name="username" id="username" autocomplete="username" required maxlength="32"></label>
<label>Password <input name="password" id="password" type="password" autocomplete="new-password" required></label>
<button id="submit" type="submit">Create account</button></form>"""


async def register_form(request: web.Request) -> web.Response:
    return page("Register", REGISTER_FORM, _user(request))


async def register(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))
    if not USERNAME.match(username):
        return _bad(request, "username", "username: 1-32 letters, digits, '_', '.', '-'")
    d = request.get(DECISION)
    resp = page("Registered", f"<h2>Welcome, {html.escape(username)}</h2>{decision_block(d)}"
                '<p><a href="/post" id="next">Write your first post</a></p>', username)
    resp.set_cookie("demo_user", username, httponly=True, samesite="Lax")
    return resp


def _post_form(action: str, protect: str, label: str) -> str:
    return (f'<form method="post" action="{action}" data-tell-protect="{protect}">'
            f'<label>{label} <textarea name="body" id="body" rows="4" required maxlength="{MAX_BODY}"></textarea></label>'
            '<button id="submit" type="submit">Publish</button></form>')


async def post_form(request: web.Request) -> web.Response:
    return page("New post", "<h2>New post</h2>" + _post_form("/post", "post", "What's on your mind?"), _user(request))


def _body(form) -> str | None:
    body = str(form.get("body", "")).strip()
    return body if 0 < len(body) <= MAX_BODY else None


async def create_post(request: web.Request) -> web.Response:
    user = _user(request)
    if user is None:
        raise web.HTTPSeeOther("/register")
    body = _body(await request.post())
    if body is None:
        return _bad(request, "body", f"body: 1-{MAX_BODY} characters")
    board = request.app[BOARD]
    p = Post(next(board.ids), user, body)
    board.posts[p.id] = p
    return page("Posted", f'<h2>Posted #{p.id}</h2>{decision_block(request.get(DECISION))}'
                f'<p><a id="next" href="/comment?post={p.id}">Comment on it</a></p>', user)


def _post_of(request: web.Request) -> Post:
    raw = request.query.get("post", "")
    post = request.app[BOARD].posts.get(int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if post is None:
        raise web.HTTPNotFound(text="no such post")
    return post


async def comment_form(request: web.Request) -> web.Response:
    p = _post_of(request)
    return page("Comment", f'<div class="post"><p>{html.escape(p.body)}</p></div>'
                + _post_form(f"/comment?post={p.id}", "comment", "Your comment"), _user(request))


async def create_comment(request: web.Request) -> web.Response:
    user = _user(request)
    if user is None:
        raise web.HTTPSeeOther("/register")
    p = _post_of(request)
    body = _body(await request.post())
    if body is None:
        return _bad(request, "body", f"body: 1-{MAX_BODY} characters")
    p.comments.append((user, body))
    return page("Commented", f'<h2>Comment added</h2>{decision_block(request.get(DECISION))}'
                '<p><a id="next" href="/">Home</a></p>', user)


async def _account(request: web.Request) -> str | None:
    if request.path == "/register":
        form = await request.post()
        name = form.get("username")
        return str(name)[:128] if name else None
    return _user(request)


def make_demo_app(config: Config, *, store: Store | None = None) -> web.Application:
    # The demo exists to show the evidence behind each decision; a real site keeps it server-side.
    config = dataclasses.replace(config, expose_evidence=True)
    protect = {"POST /register": "register", "POST /post": "post", "POST /comment": "comment"}
    app = make_app(config, store=store, middlewares=[guard(protect, account=_account)])
    app[BOARD] = Board()
    app.router.add_get("/", index)
    app.router.add_get("/register", register_form)
    app.router.add_post("/register", register)
    app.router.add_get("/post", post_form)
    app.router.add_post("/post", create_post)
    app.router.add_get("/comment", comment_form)
    app.router.add_post("/comment", create_comment)
    return app
