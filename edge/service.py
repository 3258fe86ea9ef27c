"""Wiring: build the engine and store for an app, and the one function every entry point uses to
decide a protected write (the middleware, the sidecar API and the demo all call ``decide_write``)."""
from __future__ import annotations

import base64
import collections
import binascii
import logging
import time
from typing import AsyncIterator

from aiohttp import web

from edge import logs as oplog
from edge import metrics
from edge import telemetry as tm
from edge import challenge, tokens, velocity
from edge.buffer import add_ledger, write_decision
from edge.limits import count_token_use
from edge.config import Config
from edge.decision import Decision, Enforcement, Verdict
from edge.engine import Assessment, Engine
from edge.keys import CONFIG, STORE
from edge.store import Store, StoreError, open_store
from fingerprints import RequestInfo
from signatures import SignatureSet

log = logging.getLogger("tell")

ENGINE = web.AppKey("tell_engine", Engine)


class KnownEnforcement:
    """The enforcement of accounts this process has seen under enforcement, remembered so that a
    banned account stays blocked while the store is down (the fail mode would otherwise let it
    write). Filled from each recorded decision and from admin overrides made through this process;
    accounts back at ``none`` are forgotten. Bounded: past ``cap`` accounts the least recently seen
    is dropped. Each worker remembers what it has seen itself."""

    def __init__(self, cap: int = 100_000):
        self.cap = cap
        self._known: collections.OrderedDict[str, Enforcement] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def note(self, account_id: str | None, enforcement: Enforcement) -> None:
        if not account_id:
            return
        if enforcement is Enforcement.NONE:
            self._known.pop(account_id, None)
            return
        self._known[account_id] = enforcement
        self._known.move_to_end(account_id)
        if len(self._known) > self.cap:
            self._known.popitem(last=False)

    def get(self, account_id: str | None) -> Enforcement:
        return self._known.get(account_id or "", Enforcement.NONE)


KNOWN = web.AppKey("tell_known_enforcement", KnownEnforcement)


def setup(app: web.Application, config: Config, *, store: Store | None = None) -> Engine:
    """Attach Tell to an aiohttp app: config, engine, store (opened on startup), and the collector
    and telemetry routes under ``/edge/``. Returns the engine."""
    from edge.api import add_edge_routes

    engine = Engine(config, SignatureSet.load(config.signatures))
    app[CONFIG] = config
    app[ENGINE] = engine
    app[KNOWN] = KnownEnforcement()

    async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
        from edge.enforcement import EnforcementPolicy

        policy = EnforcementPolicy.from_mapping(config.enforcement)
        app[STORE] = store if store is not None else open_store(config.store, policy=policy)
        yield
        await app[STORE].close()

    app.cleanup_ctx.append(_store_ctx)
    add_ledger(app)  # after the store: the buffer starts once it is open and flushes before it closes
    add_edge_routes(app)
    return engine


def request_info(request: web.Request, *, trust_forwarded: bool = True) -> RequestInfo:
    ip = request.remote or ""
    if trust_forwarded:
        fwd = request.headers.get("X-Forwarded-For")
        if fwd:
            ip = fwd.split(",")[0].strip()
    return RequestInfo.from_headers(request.method, request.path, request.headers, ip)


def _inline_assessment(engine: Engine, b64: str, info: RequestInfo, source: str) -> Assessment:
    if len(b64) > tm.MAX_BODY_BYTES * 4 // 3 + 4:
        raise tm.TelemetryError(source, f"inline telemetry larger than {tm.MAX_BODY_BYTES} bytes")
    try:
        # validate=True: without it, characters outside the alphabet are silently dropped.
        body = base64.b64decode(b64 + "=" * (-len(b64) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise tm.TelemetryError(source, "not base64url") from None
    return engine.assess(tm.decode(body), info)


async def decide_write(
    app: web.Application,
    action: str,
    info: RequestInfo,
    *,
    token: str | None,
    inline_telemetry: str | None = None,
    inline_source: str = "tell_telemetry",
    account_id: str | None = None,
    session_cookie: str | None = None,
    clearance: str | None = None,
) -> Decision:
    """Decide one protected write and record it. Raises ``TelemetryError`` for bad inline telemetry.
    ``clearance``: from a passed challenge (edge/challenge.py), lifts a challenge verdict once."""
    started = time.perf_counter()
    config = app[CONFIG]
    engine = app[ENGINE]
    assessment: Assessment | None = None
    problem: str | None = None
    if token:
        try:
            claims = tokens.verify(config.tokens, token, tokens.session_binding(session_cookie))
            await count_token_use(app, claims)  # at most tokens.max_uses writes per token: "replayed"
            assessment = Assessment.from_claims(claims.data)
        except tokens.TokenError as exc:
            problem = exc.reason
    if assessment is None and inline_telemetry:
        try:
            assessment = _inline_assessment(engine, inline_telemetry, info, inline_source)
        except tm.TelemetryError as exc:
            metrics.count_telemetry_error(app, exc.field, exc.detail)
            raise
        problem = None
    decision = engine.decide(action, assessment, request=info, account_id=account_id, token_problem=problem)
    decision = await velocity.check(app, decision, client=info.client_ip)  # too many writes: challenged
    decision = await challenge.gate(app, decision, session_cookie=session_cookie, clearance=clearance)
    metrics.observe_decide_seconds(app, time.perf_counter() - started)
    return await record(app, decision, started=started)


async def record(app: web.Application, decision: Decision, *, started: float | None = None) -> Decision:
    """Append to the ledger; fold the account's enforcement into the decision; count and log it
    (``started``: ``time.perf_counter()`` when deciding began, for the log's latency)."""
    final = await _record(app, decision)
    metrics.observe_decision(app, final)
    oplog.log_decision(final, None if started is None else (time.perf_counter() - started) * 1000)
    return final


async def _record(app: web.Application, decision: Decision) -> Decision:
    """Store faults follow the configured fail mode instead of failing the write."""
    try:
        # Through the write buffer (edge/buffer.py): a store that is down or slow costs at most
        # ledger.write_timeout_s, and the decision is replayed into the ledger when it is back.
        enforcement = await write_decision(app, decision)
    except (StoreError, OSError, ConnectionError) as exc:
        metrics.count_store_error(app)
        # One line per decision only at debug: edge/buffer.py logs the outage and the recovery.
        log.debug("store unavailable, decision %s answered under %s, ledger write buffered: %s",
                  decision.request_id, app[CONFIG].policy.fail_mode, exc)
        mode = app[CONFIG].policy.fail_mode
        decision = _replace(decision, reasons=decision.reasons + (f"store unavailable ({mode})",))
        known = app[KNOWN].get(decision.account_id) if KNOWN in app else Enforcement.NONE
        if known is Enforcement.BAN and decision.decision is not Verdict.BLOCK:
            return _replace(decision, decision=Verdict.BLOCK, enforcement=known,
                            reasons=decision.reasons + ("account is banned (as last seen by this worker)",))
        if mode == "fail_closed" and decision.decision is Verdict.ALLOW:
            decision = _replace(decision, decision=Verdict.CHALLENGE)
        return _replace(decision, enforcement=known)
    if KNOWN in app:
        app[KNOWN].note(decision.account_id, enforcement)
    if enforcement is Enforcement.BAN and decision.decision is not Verdict.BLOCK:
        decision = _replace(decision, decision=Verdict.BLOCK, reasons=decision.reasons + ("account is banned",))
    return _replace(decision, enforcement=enforcement)


def _replace(d: Decision, **kw) -> Decision:
    import dataclasses

    return dataclasses.replace(d, **kw)


def decision_headers(d: Decision) -> dict[str, str]:
    return {
        "X-Tell-Decision": d.decision.value,
        "X-Tell-Score": f"{d.score:.3f}",
        "X-Tell-Rules": ",".join(h.id for h in d.rules)[:2000],
        "X-Tell-Families": ",".join(d.families),
        "X-Tell-Request-Id": d.request_id,
        "X-Tell-Enforcement": d.enforcement.value,
        "X-Tell-Set-Version": d.set_version,
    }


STATUS = {Verdict.ALLOW: 200, Verdict.CHALLENGE: 401, Verdict.BLOCK: 403}
