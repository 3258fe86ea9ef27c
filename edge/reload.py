"""Hot reload of the signature set: on a file change, SIGHUP, or ``POST /v1/signatures/reload``.

A new set is compiled off the event loop and swapped in atomically. A set that fails lint is
refused: the running set stays, and the reason is logged and exposed at ``GET /v1/signatures``.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from edge.auth import require_admin
from edge.keys import CONFIG
from edge.metrics import count_reload
from edge.service import ENGINE
from signatures import SignatureError, SignatureSet
from signatures.matcher import set_files

log = logging.getLogger("tell.signatures")


@dataclass
class ReloadState:
    reloads: int = 0
    refused: int = 0
    last_ok: bool = True
    last_error: list[str] = field(default_factory=list)
    last_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


RELOAD = web.AppKey("tell_reload", ReloadState)


async def reload_signatures(app: web.Application, reason: str) -> tuple[bool, SignatureSet | list[str]]:
    """Compile the configured directory and swap it in; on lint failure keep the running set."""
    state = app[RELOAD]
    engine = app[ENGINE]
    async with state.lock:  # one compile at a time; concurrent requests queue behind it
        state.last_at = time.time()
        try:
            new = await asyncio.to_thread(SignatureSet.load, app[CONFIG].signatures)
        except SignatureError as exc:
            state.refused += 1
            state.last_ok = False
            state.last_error = [str(i) for i in exc.issues]
            log.error("signature reload (%s) refused, keeping %s: %s", reason, engine.signatures.version, exc)
            count_reload(app, "refused")
            return False, state.last_error
        old = engine.swap(new)
        state.reloads += 1
        state.last_ok = True
        state.last_error = []
        count_reload(app, "ok", new.version)
        if old.version != new.version:
            log.info("signatures reloaded (%s): %s -> %s, %d rules", reason, old.version, new.version, len(new))
        return True, new


def _fingerprint(root: str) -> tuple:
    try:
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in set_files(root))
    except OSError:
        return ()


async def _watch(app: web.Application, interval: float, last: tuple) -> None:
    root = app[CONFIG].signatures
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(_fingerprint, root)
        if now != last:
            last = now
            await reload_signatures(app, "file change")


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    sighup = False
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload_signatures(app, "SIGHUP")))
        sighup = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        pass
    interval = app[CONFIG].signatures_poll_s
    # The baseline is taken before the app serves anything, so no change can slip in unseen.
    task = asyncio.create_task(_watch(app, interval, _fingerprint(app[CONFIG].signatures))) if interval > 0 else None
    yield
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    if sighup:
        loop.remove_signal_handler(signal.SIGHUP)


def _status(app: web.Application) -> dict:
    s = app[ENGINE].signatures
    st = app[RELOAD]
    return {"version": s.version, "rules": len(s), "families": list(s.families), "root": str(Path(s.root)),
            "reloads": st.reloads, "refused": st.refused,
            "last_reload": {"ok": st.last_ok, "at": st.last_at, "errors": st.last_error}}


async def post_reload(request: web.Request) -> web.Response:
    require_admin(request)
    ok, result = await reload_signatures(request.app, "api")
    body = _status(request.app)
    if not ok:
        return web.json_response({"error": "lint_failed", "detail": "the new set was refused; the running set stays", **body}, status=422)
    return web.json_response(body)


async def get_status(request: web.Request) -> web.Response:
    require_admin(request)
    return web.json_response(_status(request.app))


def add_reload(app: web.Application) -> None:
    app[RELOAD] = ReloadState()
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_post("/v1/signatures/reload", post_reload)
    app.router.add_get("/v1/signatures", get_status)
