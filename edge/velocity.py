"""Write velocity: how many writes of one action an account makes in a window.

A person does not publish twenty posts in an hour or answer a hundred messages; an agent running an
account often does, whatever its browser looks like. Velocity is a server-side signal: the collector's
telemetry can be forged, the count of an account's writes cannot. So a write over its action's limit
(``[velocity]``, docs/configuration.md) is challenged, with the count as its reason (a reason, not a
rule hit: writing fast is not by itself evidence of automation, so it does not count toward the
account's enforcement). A person passes the challenge and the clearance lets the write through
(edge/challenge.py); an agent pays a challenge for every write past the limit, and challenges it
fails or skips turn into a block (``challenge.failures_before_block``).

Counting is fleet-wide, in the store (``Store.use_token``: one counter per account, action and
window, expiring with the window), so every worker and sidecar agrees. Windows are fixed (aligned to
the epoch): cheap, one store call per write, at the price that a burst straddling a boundary can
reach twice the limit before it is challenged. ``register`` is counted per client address, as there is
no account yet; it is off by default because many people share an address.

While the store is down the count is skipped (the write is answered under the fail mode like any
other), and a write that is already challenged or blocked is not counted again.

Limits are parsed by the ``limits`` library (``"20/hour"``, ``"5 per 10 minutes"``).
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import time

import limits as _limits
from aiohttp import web

from edge import metrics
from edge.decision import Decision, Verdict

REASON = "velocity:"


@functools.lru_cache(maxsize=64)  # read on every write; the configuration holds a handful of strings
def parse_limit(text: str) -> tuple[int, int] | None:
    """``"20/hour"`` → ``(20, 3600)``; ``""`` → ``None`` (no limit). ``ValueError`` names the problem."""
    text = text.strip()
    if not text:
        return None
    try:
        item = _limits.parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate such as '20/hour' or '5 per 10 minutes'") from None
    if item.amount < 1:
        raise ValueError(f"{text!r}: the amount must be at least 1")
    return item.amount, item.get_expiry()


def _subject(action: str, decision: Decision, client: str) -> str | None:
    who = client if action == "register" else decision.account_id
    if not who:
        return None
    # The counter key holds a digest, not the account id or address itself.
    return hashlib.sha256(f"{action}\0{who}".encode()).hexdigest()[:32]


async def check(app: web.Application, decision: Decision, *, client: str = "") -> Decision:
    """Count this write against its action's limit; over the limit, an allowed write is challenged."""
    from edge.buffer import BUFFER, STORE_FAULTS
    from edge.keys import CONFIG, STORE

    if decision.decision is not Verdict.ALLOW:
        return decision
    cfg = app[CONFIG]
    limit = parse_limit(getattr(cfg.velocity, decision.action, ""))
    subject = _subject(decision.action, decision, client) if limit else None
    if limit is None or subject is None:
        return decision
    buf = app.get(BUFFER)
    if buf is not None and buf.degraded:
        return decision
    amount, window = limit
    slot = int(time.time() // window)
    try:
        count = await asyncio.wait_for(
            app[STORE].use_token(f"vel:{subject}:{window}:{slot}", amount, window + 60), cfg.ledger.write_timeout_s)
    except STORE_FAULTS:
        return decision
    if count <= amount:
        return decision
    metrics.count_velocity_exceeded(app, decision.action)
    per = "client address" if decision.action == "register" else "account"
    return dataclasses.replace(
        decision,
        decision=Verdict.CHALLENGE,
        reasons=decision.reasons + (
            f"{REASON} {decision.action} number {count} from this {per} within {_window(window)} (limit {amount})",),
    )


def _window(seconds: int) -> str:
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % n == 0:
            k = seconds // n
            return f"{k} {unit}s" if k != 1 else f"1 {unit}"
    return f"{seconds} s"
