"""Listener limits: what a slow or hostile client can hold of the sidecar, and for how long.

The sidecar sits beside every write endpoint, so a client that ties it up takes the platform's
writes down with it. Each resource a connection holds has a bound (``[limits]``, docs/configuration.md):

* **Request head**: aiohttp starts the keep-alive timer when a connection opens and closes it if no
  complete request head has arrived when the timer fires (``keepalive_timeout_s``), however the
  bytes trickle in. Line, field and header-count limits are the parser's (``max_line_size``,
  ``max_field_size``, ``max_headers``): over them is a 400 from the parser, before Tell code runs.
  Those answers, like any error aiohttp produces outside a handler (a 500 from an unexpected
  exception, a handler timeout), are JSON like every other Tell error (:class:`JsonErrorHandler`), and a
  malformed request is logged at debug, not as an exception with a traceback per request.
* **Request body**: :func:`body_deadline` gives the whole body ``body_timeout_s`` to arrive; a body
  still trickling then is cut off with a JSON 408 and the connection closed.
* **Connections**: :class:`GuardedSite` serves at most ``max_connections`` at once. At the cap a new
  connection displaces the oldest one that has not sent a complete request (a slowloris socket, or
  an idle keep-alive connection); only when every connection is busy with a request is the new one
  answered 503 and closed. An attacker's trickling sockets therefore cannot lock people out: each
  new real request pushes one of them out.
* **Shutdown**: in-flight requests get ``shutdown_timeout_s`` (:func:`serve`).
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from edge.config import Config, LimitsConfig

log = logging.getLogger("tell.limits")


class BodyTimeout(Exception):
    """The request body did not arrive within ``limits.body_timeout_s``."""


def body_deadline(timeout_s: float) -> Callable:
    """Middleware: the body must arrive within ``timeout_s`` of the handler starting, or 408.

    The deadline is on the stream, not on the handler: a handler that reads the body (telemetry,
    admin JSON, a form) has its read fail with ``BodyTimeout`` once the time is up, wherever it
    reads; a request whose body has fully arrived is never affected, however slow the handler.
    """

    @web.middleware
    async def impl(request: web.Request, handler) -> web.StreamResponse:
        content = request.content
        if not request.body_exists or content.is_eof():
            return await handler(request)

        def expire() -> None:
            # A slowloris body: fail the pending (and any later) read of this request's stream.
            if not content.is_eof():
                content.set_exception(BodyTimeout())

        timer = asyncio.get_running_loop().call_later(timeout_s, expire)
        try:
            return await handler(request)
        except BodyTimeout:
            resp = web.json_response({"error": "body_timeout", "field": "$",
                                      "detail": f"request body not received within {timeout_s:g} s"}, status=408)
            resp.force_close()
            return resp
        finally:
            timer.cancel()

    return impl


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than ``limit`` bytes (reading stops there).

    A loop, because ``StreamReader.read(n)`` returns as soon as *some* bytes have arrived: a single
    call sees only the first TCP segment of a body that arrives in several.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


async def count_token_use(app: web.Application, claims: Any) -> None:
    """Count one use of a write token fleet-wide; raise ``TokenError("replayed")`` past
    ``tokens.max_uses``. A token is signed, short-lived and bound to its session; this bounds how
    many writes one page's verdict can carry (a retried submit: yes; a token replayed at volume from
    the same stolen session: no). While the store is down the count is skipped rather than failing
    the write: binding, signature and expiry still hold."""
    from edge.buffer import BUFFER, STORE_FAULTS
    from edge.keys import CONFIG, STORE
    from edge.tokens import TokenError

    cfg = app[CONFIG].tokens
    buf = app.get(BUFFER)
    if not cfg.max_uses or (buf is not None and buf.degraded):
        return
    ttl = max(claims.exp - time.time(), 1.0)
    try:
        uses = await asyncio.wait_for(app[STORE].use_token(claims.jti, cfg.max_uses, ttl), app[CONFIG].ledger.write_timeout_s)
    except STORE_FAULTS:
        return
    if uses > cfg.max_uses:
        raise TokenError("replayed", f"token used {uses} times (at most {cfg.max_uses})")


_REFUSAL = json.dumps({"error": "too_many_connections", "detail": "the sidecar is at its connection limit; retry"}).encode()


class _Refuse(asyncio.Protocol):
    """Answers 503 and closes: for a connection over the cap when no other can be displaced."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"  # type: ignore[attr-defined]
                        b"Retry-After: 1\r\nConnection: close\r\n"
                        b"Content-Length: " + str(len(_REFUSAL)).encode() + b"\r\n\r\n" + _REFUSAL)
        transport.close()


def _waiting_for_request(handler: Any) -> bool:
    """True for a connection that holds no request: still sending its head, or idle keep-alive.
    (aiohttp's handler state; a version without these attributes evicts nothing and refuses.)"""
    return (getattr(handler, "_request_in_progress", True) is False
            and not getattr(handler, "_messages", True))


_ERROR_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large",
                431: "request_header_fields_too_large", 500: "internal_error", 504: "timeout"}


class JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, with errors answered outside the app (the HTTP parser refusing
    a request, an exception no handler caught, a handler timeout) as JSON ``{"error", "detail"}``
    like every other Tell error, instead of aiohttp's plain text.

    A 5xx still goes to the server's log with its traceback and tells the client nothing more; a
    malformed request (4xx) is the client's doing and is logged at debug only, so a flood of them
    cannot flood the log.
    """

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            detail = "the server could not answer this request"
        else:
            log.debug("malformed request from %s refused (%d): %s", request.remote, status, message or exc)
            detail = (message or (str(exc) if exc else "") or "malformed request").strip()[:300]
        if request.writer.output_size > 0:  # part of a response is out already: the connection is broken
            raise ConnectionError("response already started, cannot send the error")
        body = json.dumps({"error": _ERROR_CODES.get(status, "error"), "detail": detail})
        resp = web.Response(status=status, text=body, content_type="application/json")
        resp.force_close()
        return resp


class GuardedSite(web.TCPSite):
    """A TCP listener that serves at most ``max_connections`` connections at once (see module doc)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int, **kwargs: Any):
        super().__init__(runner, host, port, **kwargs)
        self.max_connections = max_connections
        self.evicted = 0
        self.refused = 0

    def _factory(self) -> Callable[[], asyncio.BaseProtocol]:
        server = self._runner.server
        assert server is not None

        def factory() -> asyncio.BaseProtocol:
            conns = server.connections  # oldest first: the server keeps them in arrival order
            if len(conns) >= self.max_connections:
                victim = next((h for h in conns if _waiting_for_request(h)), None)
                if victim is None:
                    self.refused += 1
                    return _Refuse()
                victim.force_close()
                self.evicted += 1
                if self.evicted == 1 or self.evicted % 1000 == 0:
                    log.warning("connection limit (%d) reached: displaced %d waiting connections so far",
                                self.max_connections, self.evicted)
            # What web.Server.__call__ builds, with the JSON error answers.
            return JsonErrorHandler(server, loop=server._loop, **server._kwargs)

        return factory

    async def start(self) -> None:
        # TCPSite.start with the guarded protocol factory in place of the bare server.
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._factory(), self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def runner_kwargs(limits: LimitsConfig) -> dict[str, Any]:
    """``web.AppRunner`` arguments that apply ``[limits]`` to every connection."""
    return {
        "access_log": None,
        "keepalive_timeout": limits.keepalive_timeout_s,
        "max_line_size": limits.max_line_size,
        "max_field_size": limits.max_field_size,
        "max_headers": limits.max_headers,
        "shutdown_timeout": limits.shutdown_timeout_s,
    }


async def start_listener(app: web.Application, host: str, port: int, limits: LimitsConfig, *,
                         reuse_port: bool = False) -> tuple[web.AppRunner, GuardedSite]:
    runner = web.AppRunner(app, **runner_kwargs(limits))
    await runner.setup()
    site = GuardedSite(runner, host, port, max_connections=limits.max_connections, backlog=limits.backlog,
                       reuse_port=reuse_port or None)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site


async def serve(config: Config, make_public: Callable[[], web.Application],
                make_admin: Callable[[web.Application], web.Application] | None = None, *,
                reuse_port: bool = False, ready: Callable[[str], Any] = print,
                stop: Awaitable[Any] | None = None) -> None:
    """Run the public listener (and the admin listener when ``config.admin_port`` is set) until
    SIGTERM/SIGINT (or ``stop``); then stop taking connections and let requests finish."""
    public = make_public()
    runners: list[web.AppRunner] = []
    try:
        runner, site = await start_listener(public, config.host, config.port, config.limits, reuse_port=reuse_port)
        runners.append(runner)
        ready(f"tell: serving on http://{config.host}:{site.port}")
        if config.admin_port and make_admin is not None:
            # Started after the public app: it shares the public app's store, engine and state.
            runner, site = await start_listener(make_admin(public), config.admin_host, config.admin_port,
                                                config.limits, reuse_port=reuse_port)
            runners.append(runner)
            ready(f"tell: admin API on http://{config.admin_host}:{site.port}")
        # Everything loaded so far (modules, the compiled signature set, caches) lives as long as the
        # process: moved out of the collector's generations, full collections stop walking it.
        # Measured: one full collection under load 23 ms → 0.6 ms (the p99 of large decisions).
        gc.collect()
        gc.freeze()
        if stop is None:
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, done.set)
            await done.wait()
        else:
            await stop
    finally:
        for runner in reversed(runners):  # the admin app first: it borrows the public app's store
            await runner.cleanup()
