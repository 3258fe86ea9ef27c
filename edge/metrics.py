"""Prometheus metrics, one registry per app.

Every Tell app gets its own ``CollectorRegistry`` (``app[METRICS].registry``), never the global one:
tests and several apps in one process (the demo embeds the sidecar; a test suite builds hundreds)
would otherwise collide on metric names. Names are prefixed ``tell_``; label values come from
bounded sets (actions, verdicts, rule ids of the loaded set, fixed reason categories), never from
the client, so a hostile client cannot blow up the number of series.

The hooks below take the app and do nothing when it has no metrics (``edge.setup`` embedded in
someone else's app without ``add_metrics``), so callers never need to check.

``GET /metrics`` is unauthenticated: keep it off the public listener (see docs/operations.md), or
serve it on a separate admin listener with :func:`make_metrics_app`.
"""
from __future__ import annotations

import re
from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from edge.decision import Decision

# Deciding is pure CPU work measured in tens to hundreds of microseconds; the upper buckets catch
# a blocked event loop or a slow first compile.
DECISION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

CHALLENGE_OUTCOMES = ("issued", "passed", "failed", "expired", "abandoned")
RELOAD_RESULTS = ("ok", "refused")

# Top-level telemetry keys (docs/telemetry.md): a TelemetryError's field is mapped to the first
# of these it starts with, so the label set stays fixed whatever path a client invents.
_TELEMETRY_SECTIONS = ("v", "sid", "page", "sent_ms", "device", "markers", "probes", "events", "dropped", "fields")
_BODY_REASONS = (("empty", "empty"), ("larger than", "too_large"), ("trailing", "trailing_bytes"),
                 ("not base64", "not_base64"), ("msgpack", "not_msgpack"), ("duplicate", "duplicate_key"))
_HEAD = re.compile(r"[A-Za-z_]+")


class Metrics:
    """The service's metrics, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(namespace="tell", registry=r)
        self.decisions = Counter("tell_decisions", "Decisions on protected writes.", ["action", "decision"], registry=r)
        self.rule_hits = Counter("tell_rule_hits", "Rule matches in decisions (test-status rules included).",
                                 ["rule", "family"], registry=r)
        self.decision_seconds = Histogram("tell_decision_seconds", "Time to decide a write, ledger write excluded.",
                                          buckets=DECISION_BUCKETS, registry=r)
        self.telemetry_errors = Counter("tell_telemetry_errors", "Telemetry refused as malformed, by category.",
                                        ["reason"], registry=r)
        self.store_errors = Counter("tell_store_errors", "Ledger operations that failed (store unreachable or refused).",
                                    registry=r)
        self.store_buffered_writes = Gauge("tell_store_buffered_writes", "Decisions waiting in the write buffer for the store.",
                                           registry=r)
        self.signature_set = Gauge("tell_signature_set_info", "The signature set in use (value 1).", ["version"], registry=r)
        self.signature_reloads = Counter("tell_signature_reloads", "Signature reload attempts by result.", ["result"], registry=r)
        self.challenge_outcomes = Counter("tell_challenge_outcomes", "Challenges by outcome.", ["outcome"], registry=r)
        self.velocity_exceeded = Counter("tell_velocity_exceeded", "Writes challenged for exceeding their action's [velocity] limit.",
                                         ["action"], registry=r)
        self._version = ""
        for result in RELOAD_RESULTS:  # present at zero, so rate() and alerts work from the start
            self.signature_reloads.labels(result)

    def observe(self, d: Decision) -> None:
        self.decisions.labels(d.action, d.decision.value).inc()
        for h in d.rules:
            self.rule_hits.labels(h.id, h.family).inc()

    def set_signature_version(self, version: str) -> None:
        if version == self._version:
            return
        if self._version:
            self.signature_set.remove(self._version)
        self.signature_set.labels(version).set(1)
        self._version = version

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("tell_metrics", Metrics)


def telemetry_error_reason(field: str, detail: str) -> str:
    """A short, bounded category for a ``TelemetryError``: the telemetry section it names, or for
    whole-body problems (field ``$`` or an inline source) what was wrong with the body."""
    head = _HEAD.match(field)
    if head and head.group(0) in _TELEMETRY_SECTIONS and field not in ("X-Tell-Telemetry", "tell_telemetry"):
        return head.group(0)
    low = detail.lower()
    for needle, reason in _BODY_REASONS:
        if needle in low:
            return reason
    return "body" if field == "$" else "other"


# --- hooks for the rest of the service (no-ops on an app without metrics) --------------------

def _m(app: web.Application) -> Metrics | None:
    return app.get(METRICS)


def observe_decision(app: web.Application, d: Decision) -> None:
    if (m := _m(app)) is not None:
        m.observe(d)


def observe_decide_seconds(app: web.Application, seconds: float) -> None:
    if (m := _m(app)) is not None:
        m.decision_seconds.observe(seconds)


def count_telemetry_error(app: web.Application, field: str, detail: str) -> None:
    if (m := _m(app)) is not None:
        m.telemetry_errors.labels(telemetry_error_reason(field, detail)).inc()


def count_store_error(app: web.Application) -> None:
    if (m := _m(app)) is not None:
        m.store_errors.inc()


def set_buffered_writes(app: web.Application, n: int | float | Callable[[], float]) -> None:
    """For the store write buffer: the number of decisions waiting, or a function the scrape calls."""
    if (m := _m(app)) is None:
        return
    # Always through set_function: a plain set() would be ignored once a function was installed.
    value = float(n) if not callable(n) else None
    m.store_buffered_writes.set_function(n if callable(n) else (lambda: value))


def count_reload(app: web.Application, result: str, version: str | None = None) -> None:
    """``result`` is ``ok`` or ``refused``; ``version`` the set in use afterwards."""
    if (m := _m(app)) is None:
        return
    m.signature_reloads.labels(result if result in RELOAD_RESULTS else "refused").inc()
    if version:
        m.set_signature_version(version)


def count_challenge(app: web.Application, outcome: str) -> None:
    """For the challenge flow: one of :data:`CHALLENGE_OUTCOMES`; anything else counts as ``other``."""
    if (m := _m(app)) is not None:
        m.challenge_outcomes.labels(outcome if outcome in CHALLENGE_OUTCOMES else "other").inc()


def count_velocity_exceeded(app: web.Application, action: str) -> None:
    if (m := _m(app)) is not None:
        m.velocity_exceeded.labels(action).inc()  # the action is one of ACTIONS: decided before this


# --- HTTP ------------------------------------------------------------------------------------

def metrics_handler(source: web.Application) -> Callable[[web.Request], "web.Response"]:
    """A ``GET /metrics`` handler exposing ``source``'s metrics; mount it on any app or listener."""

    async def handler(request: web.Request) -> web.Response:
        m = source[METRICS]
        from edge.service import ENGINE

        engine = source.get(ENGINE)
        if engine is not None:  # whatever swapped the set in, the scrape reports the one in use
            m.set_signature_version(engine.signatures.version)
        resp = web.Response(body=m.render(), headers={"Cache-Control": "no-store"})
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        resp.charset = "utf-8"
        return resp

    return handler


def add_metrics(app: web.Application, *, path: str | None = "/metrics") -> Metrics:
    """Give ``app`` its metrics registry; serve it at ``path`` (None: do not mount a route)."""
    m = Metrics()
    app[METRICS] = m
    if path:
        app.router.add_get(path, metrics_handler(app))
    return m


def make_metrics_app(source: web.Application, path: str = "/metrics") -> web.Application:
    """A tiny app serving only ``source``'s metrics, for a separate admin/monitoring listener."""
    app = web.Application()
    app.router.add_get(path, metrics_handler(source))
    return app
