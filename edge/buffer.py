"""The ledger write path when the store is down or slow: a bounded in-memory buffer, replayed.

Deciding never waits on the store for long. ``write_decision`` hands each decision to the store;
when the store fails (``StoreError``) or has not acknowledged within ``ledger.write_timeout_s``,
the write is answered under ``policy.fail_mode`` (edge/service.py) and the decision waits here:

* **Bounded.** At most ``ledger.buffer_max`` decisions, oldest first. A full buffer drops its
  oldest decision and counts it (``dropped``): memory stays bounded however long the outage.
* **In order.** While anything is buffered, new decisions queue behind it instead of racing it to
  the store, so each account's ledger keeps the order its decisions were made in.
* **Replayed.** One background task hands buffered decisions to the store oldest first, retrying
  with exponential back-off (``retry_initial_s`` doubling to ``retry_max_s``, with jitter) until
  the store takes them. Enforcement escalates as they land, exactly as if recorded live.
* **Not duplicated.** A write that timed out is not retried: it is still running and is buffered
  only if it then fails, so a slow store never sees the same decision twice. And should a decision
  reach the store twice all the same (a failure reported after the write had landed: Redis's reply
  to EXEC lost with its connection, a commit that reports an I/O error after writing), the stores
  keep one copy per ``request_id`` and count it once (docs/enforcement.md).
* **Logged.** The start of an outage, drops, and the recovery (with counts) are logged once each on
  ``tell.ledger``; the buffer size and replay failures go to the metrics when ``edge.metrics`` is
  there (``tell_store_buffered_writes``, ``tell_store_errors``).

What is lost: the buffer lives in the process, so decisions still buffered when the process dies
(``kill -9``, or a store still down after ``flush_on_shutdown_s`` at shutdown) are gone, and so are
drops past ``buffer_max``; both are logged with counts. The same module purges ledger entries older
than ``ledger.retention_days`` (``Store.purge``).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from typing import AsyncIterator, Callable

from aiohttp import web

from edge.config import LedgerConfig
from edge.decision import Decision, Enforcement
from edge.keys import CONFIG, STORE
from edge.store import Store, StoreError

log = logging.getLogger("tell.ledger")

# Backend faults the buffer absorbs. The stores wrap their own errors in StoreError; OSError and
# TimeoutError are here for a backend that lets one through.
STORE_FAULTS = (StoreError, OSError, ConnectionError, asyncio.TimeoutError)
# Writes that timed out but are still running: past this many the store is treated as down and new
# decisions go straight to the buffer, so a hung store cannot pile up unbounded in-flight writes.
MAX_LATE_WRITES = 256


class StoreUnavailable(StoreError):
    """The decision was not acknowledged by the store; it is buffered (or still being written)."""


class LedgerBuffer:
    def __init__(self, store: Store, cfg: LedgerConfig, *, on_error: Callable[[], None] | None = None):
        self.store = store
        self.cfg = cfg
        self._pending: collections.deque[Decision] = collections.deque()
        self._late = 0
        self._inflight: Decision | None = None  # the buffered decision the replay task is writing now
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task | None = None
        self._on_error = on_error or (lambda: None)
        self.dropped = 0
        self.replayed = 0
        self.buffered_total = 0
        self._outage_since: float | None = None

    # -- state -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Decisions not yet in the store: those waiting, and the one being replayed right now."""
        return len(self._pending) + (self._inflight is not None)

    @property
    def degraded(self) -> bool:
        """True while decisions are waiting for the store (new ones then queue behind them)."""
        return len(self) > 0 or self._late >= MAX_LATE_WRITES

    def stats(self) -> dict[str, int | bool]:
        return {"buffered": len(self), "dropped": self.dropped, "replayed": self.replayed,
                "buffered_total": self.buffered_total, "late_writes": self._late, "degraded": self.degraded}

    # -- the write path ----------------------------------------------------------------------

    async def write(self, decision: Decision) -> Enforcement:
        """Record through the store, or buffer and raise ``StoreUnavailable``."""
        if self.degraded:
            self._add(decision)
            raise StoreUnavailable(f"store outage in progress; {len(self)} decisions buffered")
        task = asyncio.ensure_future(self.store.record(decision))
        try:
            # shield: a timeout (or the request being cancelled) must not cancel a write that may
            # already have reached the store; it finishes on its own and is buffered if it fails.
            return await asyncio.wait_for(asyncio.shield(task), self.cfg.write_timeout_s)
        except asyncio.TimeoutError:
            if task.done():  # it finished, with a backend timeout of its own
                return self._settle_failed(task, decision)
            self._late += 1
            task.add_done_callback(lambda t: self._late_done(t, decision))
            raise StoreUnavailable(f"store did not acknowledge within {self.cfg.write_timeout_s:g} s") from None
        except asyncio.CancelledError:
            if not task.done():
                self._late += 1
                task.add_done_callback(lambda t: self._late_done(t, decision))
            raise
        except STORE_FAULTS as exc:
            self._add(decision)
            self._outage(exc)
            raise StoreUnavailable(str(exc)) from exc

    def _settle_failed(self, task: asyncio.Task, decision: Decision) -> Enforcement:
        exc = task.exception()
        if exc is None:
            return task.result()
        self._add(decision)
        self._outage(exc)
        raise StoreUnavailable(str(exc)) from exc

    def _late_done(self, task: asyncio.Task, decision: Decision) -> None:
        self._late -= 1
        if task.cancelled():
            self._add(decision)
            return
        exc = task.exception()
        if exc is not None:
            self._add(decision)
            self._outage(exc)

    def _add(self, decision: Decision) -> None:
        if self.cfg.buffer_max and len(self) >= self.cfg.buffer_max and self._pending:
            self._pending.popleft()
            self.dropped += 1
            # Logged at the first drop and then every 1000th: an outage must not flood the log.
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("ledger buffer full (%d decisions): dropped the oldest; %d dropped so far",
                          self.cfg.buffer_max, self.dropped)
        self._pending.append(decision)
        self.buffered_total += 1
        self._drained.clear()
        self._wake.set()

    def _outage(self, exc: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning("store unavailable (%s): decisions answered under the fail mode, ledger writes buffered "
                        "(at most %d) and replayed when it is back", exc, self.cfg.buffer_max)

    # -- replay ------------------------------------------------------------------------------

    async def _replay(self) -> None:
        delay = self.cfg.retry_initial_s
        while True:
            if not self._pending:
                if self._outage_since is not None and self._late == 0:
                    log.info("store is back after %.1f s: %d buffered decisions replayed, %d dropped",
                             time.monotonic() - self._outage_since, self.replayed, self.dropped)
                    self._outage_since = None
                self._drained.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            d = self._inflight = self._pending.popleft()
            try:
                await self.store.record(d)
            except STORE_FAULTS as exc:
                self._inflight = None
                # Back to the front, unless the buffer filled meanwhile (then it is the oldest: dropped).
                if self.cfg.buffer_max and len(self._pending) >= self.cfg.buffer_max:
                    self.dropped += 1
                else:
                    self._pending.appendleft(d)
                self._on_error()
                self._outage(exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.cfg.retry_max_s)
                continue
            self._inflight = None
            self.replayed += 1
            delay = self.cfg.retry_initial_s

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._replay(), name="tell-ledger-replay")

    async def wait_drained(self, timeout: float) -> bool:
        """Wait until nothing is buffered (True) or ``timeout`` passes (False)."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return len(self) == 0

    async def stop(self, flush_s: float = 0.0) -> None:
        """Give the store ``flush_s`` to take what is buffered, then stop the replay task."""
        if len(self) and flush_s > 0:
            await self.wait_drained(flush_s)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if len(self):
            log.error("shutting down with %d buffered decisions the store did not take: they are lost", len(self))


BUFFER = web.AppKey("tell_ledger_buffer", LedgerBuffer)


async def write_decision(app: web.Application, decision: Decision) -> Enforcement:
    """Append a decision to the ledger through the app's buffer (the store directly without one)."""
    buf = app.get(BUFFER)
    if buf is None:
        return await app[STORE].record(decision)
    return await buf.write(decision)


async def _purge_loop(store: Store, cfg: LedgerConfig) -> None:
    while True:
        before = time.time() - cfg.retention_days * 86400
        try:
            n = await store.purge(before)
        except STORE_FAULTS as exc:
            log.warning("ledger retention purge failed (retried in %g s): %s", cfg.purge_interval_s, exc)
        else:
            if n:
                log.info("ledger retention: purged %d decisions older than %g days", n, cfg.retention_days)
        await asyncio.sleep(cfg.purge_interval_s)


def add_ledger(app: web.Application) -> None:
    """Give the app its write buffer and retention purge. Register after the store's cleanup
    context: the buffer then starts after the store opens and flushes before it closes."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            from edge import metrics
        except ImportError:  # pragma: no cover - metrics land separately
            metrics = None
        cfg = app[CONFIG].ledger
        buf = LedgerBuffer(app[STORE], cfg, on_error=(lambda: metrics.count_store_error(app)) if metrics else None)
        app[BUFFER] = buf
        if metrics is not None:
            metrics.set_buffered_writes(app, lambda: float(len(buf)))
        buf.start()
        purge = asyncio.create_task(_purge_loop(app[STORE], cfg), name="tell-ledger-purge") if cfg.retention_days > 0 else None
        yield
        if purge is not None:
            purge.cancel()
            try:
                await purge
            except asyncio.CancelledError:
                pass
        await buf.stop(cfg.flush_on_shutdown_s)

    app.cleanup_ctx.append(ctx)
