"""Redis store: a fleet of sidecars sharing one ledger (redis-py, ``redis.asyncio``).

Keys are shaped for Redis Cluster: everything about one account carries the hash tag
``{acct:<id>}`` and so lives in one slot, which lets a single transaction cover it::

    <prefix>:{acct:<id>}:state     hash: enforcement, counters, seq, baseline (seq at last override)
    <prefix>:{acct:<id>}:ledger    list: the account's decisions as JSON, newest first (capped)
    <prefix>:{acct:<id>}:events    list: enforcement changes as JSON, newest first (capped)
    <prefix>:{acct:<id>}:reports   hash: reporter id -> {"reason", "ts"}
    <prefix>:decisions             stream: recent decisions across accounts (XADD MAXLEN ~)
    <prefix>:review                sorted set: reported account -> report count
    <prefix>:{acct:<id>}:rids      sorted set: request ids of the account's decisions -> seq (capped)
    <prefix>:{tok:<id>}            counter: uses of one token id (INCR + PEXPIRE in one script)
    <prefix>:{<prefix>:decisions}:rids
                                   sorted set: request ids of decisions without an account -> ms
                                   (capped at recent_max; its hash tag is the stream's name, so the
                                   two share a slot and one script writes both)

Every change to an account goes through one optimistic transaction on its ``state`` key (WATCH,
read, run the pure policy in Python, MULTI/EXEC, retry when another process got there first), so
several processes recording for the same account never lose an update or skip an escalation.
The policy reads the account's :class:`~edge.enforcement.LedgerSummary` from the state hash (field
``policy``), not the ledger list, and a decision whose request id the account's ``rids`` already
holds (a retry, a replayed write that had landed) is not stored or counted again.
The global stream and the review index are other slots and are written right after the account's
transaction; a crash between the two leaves the account correct and only that index behind.

Durability is the server's: see docs/enforcement.md (``appendonly yes`` + ``appendfsync``).
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, Awaitable, Callable, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from edge.decision import Decision, Enforcement
from edge.enforcement import DEFAULT_POLICY, EnforcementPolicy, LedgerSummary, escalate, event, is_automated
from edge.store import Store, StoreError, dumps, loads

T = TypeVar("T")

# INCR and PEXPIRE as one step: a crash between them must not leave a counter that never expires.
_USE_TOKEN = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# A decision without an account: remembered by request id and appended to the stream in one step,
# so a replay of it is not appended twice. Both keys are in the stream's slot (see the key layout).
_RECORD_UNOWNED = """
if redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[2]) == 0 then return 0 end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[4]) - 1)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'd', ARGV[1])
return 1
"""

_MAX_RETRIES = 64

_dumps = dumps


class RedisStore(Store):
    def __init__(
        self,
        url: str,
        *,
        policy: EnforcementPolicy = DEFAULT_POLICY,
        prefix: str = "tell",
        ledger_max: int = 1000,
        events_max: int = 1000,
        recent_max: int = 100_000,
        socket_timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
    ):
        if ledger_max < policy.ledger_depth:
            raise ValueError(f"ledger_max ({ledger_max}) must be >= policy.ledger_depth ({policy.ledger_depth})")
        self.url = url
        self.policy = policy
        self.prefix = prefix
        self.ledger_max = ledger_max
        self.events_max = events_max
        self.recent_max = recent_max
        # Timeouts: a server that stops answering (paused, partitioned) must turn into a StoreError,
        # never a request that waits forever.
        self._r = aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=socket_timeout_s,
                                          socket_connect_timeout=connect_timeout_s)
        self._use_token = self._r.register_script(_USE_TOKEN)
        self._record_unowned = self._r.register_script(_RECORD_UNOWNED)

    # -- keys -------------------------------------------------------------------------------

    def _acct(self, account_id: str, part: str) -> str:
        return f"{self.prefix}:{{acct:{account_id}}}:{part}"

    @property
    def _stream(self) -> str:
        return f"{self.prefix}:decisions"

    @property
    def _unowned_rids(self) -> str:
        return f"{self.prefix}:{{{self.prefix}:decisions}}:rids"

    @property
    def _review(self) -> str:
        return f"{self.prefix}:review"

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(self, coro: Awaitable[T]) -> T:
        try:
            return await coro
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            # Every backend fault is a StoreError, which the service answers under its fail mode.
            raise StoreError(f"redis {_redact(self.url)}: {exc or type(exc).__name__}") from exc

    async def _transact(self, account_id: str, body: Callable[[Any, dict[str, str]], Awaitable[T]]) -> T:
        """Run ``body(pipe, state)`` with the account's state key watched; ``body`` reads what it
        needs, calls ``pipe.multi()`` and queues its writes. Retries when the state changed."""
        state_key = self._acct(account_id, "state")
        for attempt in range(_MAX_RETRIES):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(state_key)
                    state = await pipe.hgetall(state_key)
                    out = await body(pipe, state)
                    if pipe.explicit_transaction:
                        await pipe.execute()
                    return out
                except WatchError:
                    # Another writer committed first: back off a little so a hot account converges.
                    await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise StoreError(f"redis: account {account_id!r} too contended ({_MAX_RETRIES} retries)")

    async def _ledger_since_baseline(self, pipe: Any, account_id: str, state: dict[str, str], extra: int = 0) -> list[Decision]:
        """The decisions recorded since the last override (newest first), as many as the policy reads."""
        since = int(state.get("seq", 0)) - int(state.get("baseline", 0))
        n = min(since, self.policy.ledger_depth - extra)
        if n <= 0:
            return []
        raw = await pipe.lrange(self._acct(account_id, "ledger"), 0, n - 1)
        return [Decision.from_json(loads(x)) for x in raw]

    async def _summary(self, pipe: Any, account_id: str, state: dict[str, str]) -> LedgerSummary:
        """The stored summary, or one rebuilt from the ledger since the baseline (an account recorded
        by an older Tell, or a policy of another shape)."""
        summary = LedgerSummary.from_json(loads(state["policy"]) if state.get("policy") else None, self.policy)
        if summary is None:
            summary = LedgerSummary.rebuild(await self._ledger_since_baseline(pipe, account_id, state), self.policy)
        return summary

    def _queue_event(self, pipe: Any, account_id: str, ev: dict[str, Any]) -> None:
        key = self._acct(account_id, "events")
        pipe.lpush(key, _dumps(ev))
        pipe.ltrim(key, 0, self.events_max - 1)

    async def close(self) -> None:
        await self._r.aclose()

    # -- Store ------------------------------------------------------------------------------

    async def record(self, decision: Decision) -> Enforcement:
        body = _dumps(decision.to_json())
        automated = is_automated(decision, self.policy)
        if decision.account_id is None:
            await self._call(self._record_unowned(
                keys=[self._stream, self._unowned_rids],
                args=[body, decision.request_id, int(time.time() * 1000), self.recent_max]))
            return Enforcement.NONE
        acct = decision.account_id
        rids = self._acct(acct, "rids")

        async def tx(pipe: Any, state: dict[str, str]) -> tuple[Enforcement, bool]:
            current = Enforcement(state.get("enforcement", "none"))
            if await pipe.zscore(rids, decision.request_id) is not None:
                # Recorded already (a retry, a replayed write that had landed): stored and counted once.
                await pipe.unwatch()
                return current, False
            seq = int(state.get("seq", 0)) + 1
            fields: dict[str, Any] = {
                "seq": seq,
                "decisions": int(state.get("decisions", 0)) + 1,
                "automated": int(state.get("automated", 0)) + int(automated),
                "max_score": max(float(state.get("max_score", 0.0)), decision.score),
                "first_ts": state.get("first_ts", decision.ts),
                "last_ts": decision.ts,
                "enforcement": current.value,
            }
            change = None
            if current is not Enforcement.BAN:  # a banned account's summary is not needed until an override
                summary = LedgerSummary.from_json(loads(state["policy"]) if state.get("policy") else None, self.policy)
                if summary is None:
                    ledger = [decision, *await self._ledger_since_baseline(pipe, acct, state, extra=1)]
                    summary = LedgerSummary.rebuild(ledger, self.policy)
                else:
                    summary.add(decision, self.policy, automated)
                change = escalate(current, summary.assess(reports=int(state.get("reports", 0)), policy=self.policy))
                fields["policy"] = _dumps(summary.to_json())
            pipe.multi()
            pipe.lpush(self._acct(acct, "ledger"), body)
            pipe.ltrim(self._acct(acct, "ledger"), 0, self.ledger_max - 1)
            pipe.zadd(rids, {decision.request_id: seq})
            pipe.zremrangebyrank(rids, 0, -self.ledger_max - 1)
            if change is not None:
                fields["enforcement"] = change.enforcement.value
                self._queue_event(pipe, acct, event(current, change.enforcement, change.reason, change.request_ids, ts=time.time()))
            pipe.hset(self._acct(acct, "state"), mapping=fields)
            return Enforcement(fields["enforcement"]), True

        enforcement, fresh = await self._call(self._transact(acct, tx))
        if fresh:
            await self._call(self._r.xadd(self._stream, {"d": body}, maxlen=self.recent_max, approximate=True))
        return enforcement

    async def enforcement(self, account_id: str) -> Enforcement:
        value = await self._call(self._r.hget(self._acct(account_id, "state"), "enforcement"))
        return Enforcement(value) if value else Enforcement.NONE

    async def account(self, account_id: str, limit: int = 50) -> dict[str, Any] | None:
        last = max(limit, 0) - 1  # LRANGE 0 -1 would mean "everything", not "nothing"

        async def read() -> list[Any]:
            # MULTI/EXEC: one consistent snapshot of the account's keys.
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._acct(account_id, "state"))
                pipe.lrange(self._acct(account_id, "ledger"), 0, last)
                pipe.lrange(self._acct(account_id, "events"), 0, last)
                return await pipe.execute()

        state, ledger, events = await self._call(read())
        if last < 0:
            ledger = events = []
        if not state:
            return None
        return {
            **_summary(account_id, state),
            "decisions": [json.loads(x) for x in ledger],
            "events": [json.loads(x) for x in events],
        }

    async def decisions(self, limit: int = 50, since: float | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        top = "+"
        page = max(limit, 64)
        while len(out) < limit:
            entries = await self._call(self._r.xrevrange(self._stream, max=top, min="-", count=page))
            for entry_id, fields in entries:
                d = json.loads(fields["d"])
                if since is None or d["ts"] >= since:
                    out.append(d)
                    if len(out) == limit:
                        break
            if len(entries) < page or since is None:
                break
            top = "(" + entries[-1][0]
        return out

    async def use_token(self, token_id: str, max_uses: int, ttl_s: float) -> int:
        key = f"{self.prefix}:{{tok:{token_id}}}"
        ttl_ms = max(1, int(ttl_s * 1000))
        return int(await self._call(self._use_token(keys=[key], args=[ttl_ms])))

    async def token_uses(self, token_id: str) -> int:
        value = await self._call(self._r.get(f"{self.prefix}:{{tok:{token_id}}}"))
        return int(value) if value else 0

    async def report(self, reporter_id: str, account_id: str, reason: str = "") -> dict[str, Any]:
        reports_key = self._acct(account_id, "reports")

        async def tx(pipe: Any, state: dict[str, str]) -> dict[str, Any]:
            current = Enforcement(state.get("enforcement", "none"))
            count = int(state.get("reports", 0))
            if await pipe.hexists(reports_key, reporter_id):
                # Dedup: a reporter counts once, however often they press the button.
                await pipe.unwatch()
                return {"account_id": account_id, "reports": count, "new": False, "enforcement": current.value}
            now = time.time()
            count += 1
            change = None
            summary = None
            if current is not Enforcement.BAN:
                summary = await self._summary(pipe, account_id, state)
                change = escalate(current, summary.assess(reports=count, policy=self.policy))
            pipe.multi()
            pipe.hset(reports_key, reporter_id, _dumps({"reason": reason, "ts": now}))
            fields: dict[str, Any] = {"reports": count, "last_report_ts": now, "enforcement": current.value}
            if summary is not None:
                fields["policy"] = _dumps(summary.to_json())
            if change is not None:
                fields["enforcement"] = change.enforcement.value
                self._queue_event(pipe, account_id, event(current, change.enforcement, change.reason, change.request_ids, ts=now))
            pipe.hset(self._acct(account_id, "state"), mapping=fields)
            return {"account_id": account_id, "reports": count, "new": True, "enforcement": fields["enforcement"]}

        out = await self._call(self._transact(account_id, tx))
        if out["new"]:
            await self._call(self._r.zadd(self._review, {account_id: out["reports"]}, gt=True))
        return out

    async def purge(self, before: float) -> int:
        # Stream ids are millisecond timestamps: MINID drops every entry older than ``before``.
        # Per-account ledgers are lists capped at ledger_max; they are not trimmed by age.
        return int(await self._call(self._r.xtrim(self._stream, minid=f"{int(before * 1000)}-0")))

    async def review(self, limit: int = 50) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        top = await self._call(self._r.zrevrange(self._review, 0, limit - 1, withscores=True))
        if not top:
            return []
        # Everyone tied with the last of the top ``limit`` by reports competes on the tie-breakers.
        candidates = await self._call(self._r.zrangebyscore(self._review, top[-1][1], "+inf"))

        async def states() -> list[dict[str, str]]:
            async with self._r.pipeline(transaction=False) as pipe:
                for a in candidates:
                    pipe.hgetall(self._acct(a, "state"))
                return await pipe.execute()

        rows = [_summary(a, s) for a, s in zip(candidates, await self._call(states())) if s]
        rows.sort(key=lambda r: (-r["reports"], -r["automated"], -r["max_score"], r["account_id"]))
        return rows[:limit]

    async def override(self, account_id: str, enforcement: Enforcement, note: str, actor: str) -> dict[str, Any]:
        enforcement = Enforcement(enforcement)

        async def tx(pipe: Any, state: dict[str, str]) -> dict[str, Any]:
            previous = Enforcement(state.get("enforcement", "none"))
            ev = event(previous, enforcement, "manual override", (), ts=time.time(), actor=actor, note=note)
            pipe.multi()
            # The policy judges only what happens after a person looked at the account.
            pipe.hset(self._acct(account_id, "state"), mapping={
                "enforcement": enforcement.value,
                "baseline": int(state.get("seq", 0)),
                "seq": int(state.get("seq", 0)),
                "policy": _dumps(LedgerSummary(self.policy).to_json()),
            })
            self._queue_event(pipe, account_id, ev)
            return {"account_id": account_id, "enforcement": enforcement.value, "previous": previous.value, "event": ev}

        return await self._call(self._transact(account_id, tx))

    async def events(self, account_id: str, limit: int = 50) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        raw = await self._call(self._r.lrange(self._acct(account_id, "events"), 0, limit - 1))
        return [json.loads(x) for x in raw]


def _redact(url: str) -> str:
    """The URL without its password: error messages end up in logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in creds else f"{scheme}{sep}***@{host}"


def _summary(account_id: str, state: dict[str, str]) -> dict[str, Any]:
    def num(key: str, cast: Callable[[str], Any] = int) -> Any:
        v = state.get(key)
        return cast(v) if v not in (None, "") else None

    return {
        "account_id": account_id,
        "enforcement": state.get("enforcement", "none"),
        "reports": num("reports") or 0,
        "decisions_total": num("decisions") or 0,
        "automated": num("automated") or 0,
        "max_score": num("max_score", float) or 0.0,
        "first_ts": num("first_ts", float),
        "last_ts": num("last_ts", float),
        "last_report_ts": num("last_report_ts", float),
    }
