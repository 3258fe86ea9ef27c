"""The Store contract: one suite every backend must pass (see test_store_sqlite / test_store_redis).

A backend's test module defines a ``store_spec`` fixture (a picklable description, so child
processes can open the same store) and subclasses :class:`StoreContract`.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

import pytest

from edge.decision import Decision, Enforcement, RuleHit, Verdict
from edge.enforcement import EnforcementPolicy
from edge.store import Store

DAY = 86400.0
RULE = RuleHit(id="playwright.fill-without-keys", family="playwright", weight=0.9)


def open_spec(spec: tuple, policy: EnforcementPolicy | None = None) -> Store:
    """Open the store a spec describes: ("sqlite", path) or ("redis", url, prefix)."""
    kw: dict[str, Any] = {} if policy is None else {"policy": policy}
    if spec[0] == "sqlite":
        from edge.store.sqlite import SQLiteStore

        return SQLiteStore(spec[1], **kw)
    if spec[0] == "redis":
        from edge.store.redis import RedisStore

        return RedisStore(spec[1], prefix=spec[2], **kw)
    raise ValueError(spec)


def human(account: str | None, action: str = "post", ts: float | None = None) -> Decision:
    return Decision(decision=Verdict.ALLOW, score=0.05, action=action, account_id=account,
                    ts=time.time() if ts is None else ts)


def automated(account: str | None, action: str = "post", ts: float | None = None,
              verdict: Verdict = Verdict.CHALLENGE, score: float = 0.6) -> Decision:
    """A write Tell challenged on rule evidence."""
    return Decision(decision=verdict, score=score, action=action, account_id=account, rules=(RULE,),
                    ts=time.time() if ts is None else ts)


async def record_all(store: Store, decisions: list[Decision]) -> list[Enforcement]:
    return [await store.record(d) for d in decisions]


def _child(spec: tuple, account: str, n: int, barrier: Any, out: Any) -> None:
    """A separate OS process: record ``n`` automated posts, wait for the sibling, read back."""

    async def main() -> None:
        store = open_spec(spec)
        try:
            ids = []
            for _ in range(n):
                d = automated(account)
                await store.record(d)
                ids.append(d.request_id)
            await asyncio.to_thread(barrier.wait, 60)
            out.put((ids, (await store.enforcement(account)).value))
        finally:
            await store.close()

    try:
        asyncio.run(main())
    except BaseException as exc:
        # Fail the parent fast instead of leaving it and the sibling waiting on a timeout.
        barrier.abort()
        out.put(([], f"error: {exc!r}"))
        raise


class StoreContract:
    @pytest.fixture
    async def store(self, store_spec: tuple) -> Store:
        s = open_spec(store_spec)
        yield s
        await s.close()

    # -- the enforcement paths ---------------------------------------------------------------

    async def test_automated_registration_is_banned(self, store: Store) -> None:
        d = automated("a1", action="register", verdict=Verdict.BLOCK, score=0.9)
        assert await store.record(d) is Enforcement.BAN
        assert await store.enforcement("a1") is Enforcement.BAN
        [ev] = await store.events("a1")
        assert (ev["from"], ev["to"], ev["actor"]) == ("none", "ban", "policy")
        assert "registration" in ev["reason"]
        assert ev["request_ids"] == [d.request_id]

    async def test_challenged_registration_alone_only_warns(self, store: Store) -> None:
        assert await store.record(automated("a1", action="register")) is Enforcement.WARN

    async def test_last_five_public_writes_automated_is_a_ban(self, store: Store) -> None:
        writes = [automated("a1", action=a) for a in ("post", "comment", "message", "post", "post")]
        states = await record_all(store, writes)
        assert states == [Enforcement.WARN, Enforcement.WARN, Enforcement.LIMIT, Enforcement.LIMIT, Enforcement.BAN]
        events = await store.events("a1")
        assert [e["to"] for e in events] == ["ban", "limit", "warn"]  # newest first
        assert sorted(events[0]["request_ids"]) == sorted(d.request_id for d in writes)
        assert "last 5 public writes" in events[0]["reason"]

    async def test_a_human_write_breaks_the_streak(self, store: Store) -> None:
        t = time.time()
        ds = [automated("a1", ts=t + i) for i in range(4)] + [human("a1", ts=t + 5)] + [automated("a1", ts=t + 6)]
        assert (await record_all(store, ds))[-1] is Enforcement.LIMIT

    async def test_occasional_automated_writes_warn_then_limit_within_the_window(self, store: Store) -> None:
        t0 = time.time() - 30 * DAY
        # One automated write, a human streak, then another 10 days later: still only a warning,
        # because the first one has left the 7-day window.
        assert await store.record(automated("a1", ts=t0)) is Enforcement.WARN
        await record_all(store, [human("a1", ts=t0 + i) for i in range(1, 4)])
        assert await store.record(automated("a1", ts=t0 + 10 * DAY)) is Enforcement.WARN
        assert await store.record(human("a1", ts=t0 + 11 * DAY)) is Enforcement.WARN
        # Recurring within the window: the third automated write inside 7 days limits.
        assert await store.record(automated("a1", ts=t0 + 12 * DAY)) is Enforcement.WARN
        assert await store.record(automated("a1", ts=t0 + 13 * DAY)) is Enforcement.LIMIT
        assert [e["to"] for e in await store.events("a1")] == ["limit", "warn"]

    async def test_reported_accounts_are_judged_more_strictly(self, store: Store) -> None:
        # Unreported: two automated writes are a warning.
        await record_all(store, [automated("plain"), automated("plain")])
        assert await store.enforcement("plain") is Enforcement.WARN
        # Reported: two are a limit, three in a row a ban.
        await store.report("r1", "rep", "spam replies")
        assert await store.record(automated("rep")) is Enforcement.WARN
        assert await store.record(automated("rep")) is Enforcement.LIMIT
        assert await store.record(automated("rep")) is Enforcement.BAN
        assert "reported" in (await store.events("rep"))[0]["reason"]

    async def test_a_report_tightens_the_policy_on_evidence_already_recorded(self, store: Store) -> None:
        await record_all(store, [automated("a1") for _ in range(3)])
        assert await store.enforcement("a1") is Enforcement.LIMIT
        out = await store.report("r1", "a1", "bot")
        assert out["enforcement"] == "ban"
        assert await store.enforcement("a1") is Enforcement.BAN

    async def test_ban_is_sticky(self, store: Store) -> None:
        await store.record(automated("a1", action="register", verdict=Verdict.BLOCK))
        await record_all(store, [human("a1") for _ in range(10)])
        await store.report("r1", "a1")
        assert await store.enforcement("a1") is Enforcement.BAN
        assert [e["to"] for e in await store.events("a1")] == ["ban"]

    async def test_override_lifts_a_ban_with_an_audit_trail(self, store: Store) -> None:
        await store.record(automated("a1", action="register", verdict=Verdict.BLOCK))
        out = await store.override("a1", Enforcement.NONE, "appeal accepted: assistive tech", "alice")
        assert (out["previous"], out["enforcement"]) == ("ban", "none")
        assert await store.enforcement("a1") is Enforcement.NONE
        ev = (await store.events("a1"))[0]
        assert (ev["from"], ev["to"], ev["actor"], ev["note"]) == ("ban", "none", "alice", "appeal accepted: assistive tech")
        # The evidence a person already weighed does not re-ban; new evidence counts afresh.
        assert await store.record(human("a1")) is Enforcement.NONE
        assert await store.record(automated("a1")) is Enforcement.WARN
        acct = await store.account("a1")
        assert [e["to"] for e in acct["events"]] == ["warn", "none", "ban"]

    async def test_override_can_ban_an_unseen_account(self, store: Store) -> None:
        await store.override("new", Enforcement.BAN, "known spam ring", "bob")
        assert await store.enforcement("new") is Enforcement.BAN
        assert (await store.account("new"))["enforcement"] == "ban"

    # -- reports and review --------------------------------------------------------------------

    async def test_a_reporter_counts_once(self, store: Store) -> None:
        first = await store.report("r1", "a1", "spam")
        again = await store.report("r1", "a1", "spam again")
        other = await store.report("r2", "a1")
        assert (first["reports"], first["new"]) == (1, True)
        assert (again["reports"], again["new"]) == (1, False)
        assert (other["reports"], other["new"]) == (2, True)
        assert first["account_id"] == "a1"
        assert (await store.account("a1"))["reports"] == 2

    async def test_review_orders_reported_accounts_by_evidence(self, store: Store) -> None:
        await record_all(store, [automated("unreported") for _ in range(3)])
        for r in ("r1", "r2", "r3"):
            await store.report(r, "most-reported")
        await store.report("r1", "quiet")
        await store.report("r1", "one-automated-low")
        await store.record(automated("one-automated-low", score=0.5))
        await store.report("r1", "one-automated-high")
        await store.record(automated("one-automated-high", score=0.95))
        await store.report("r1", "two-automated")
        await record_all(store, [human("two-automated"), automated("two-automated"), automated("two-automated")])
        order = [r["account_id"] for r in await store.review(10)]
        assert order == ["most-reported", "two-automated", "one-automated-high", "one-automated-low", "quiet"]
        top = (await store.review(2))
        assert [r["account_id"] for r in top] == ["most-reported", "two-automated"]
        assert (top[1]["reports"], top[1]["automated"], top[1]["decisions_total"]) == (1, 2, 3)

    async def test_review_is_empty_without_reports(self, store: Store) -> None:
        await store.record(automated("a1"))
        assert await store.review(10) == []

    # -- ledger reads ------------------------------------------------------------------------

    async def test_decisions_are_newest_first(self, store: Store) -> None:
        t = time.time()
        ds = [human("a1", ts=t - 30), human(None, ts=t - 20), human("a2", ts=t - 10)]
        # Recorded out of time order: "newest" is the order the ledger received them.
        await record_all(store, [ds[1], ds[0], ds[2]])
        ids = [d["request_id"] for d in await store.decisions(limit=10)]
        assert ids == [ds[2].request_id, ds[0].request_id, ds[1].request_id]
        assert [d["request_id"] for d in await store.decisions(limit=2)] == ids[:2]
        assert [d["request_id"] for d in await store.decisions(limit=10, since=t - 25)] == [ds[2].request_id, ds[1].request_id]

    async def test_a_decision_without_account_is_recorded_with_no_enforcement(self, store: Store) -> None:
        d = automated(None, action="register", verdict=Verdict.BLOCK)
        assert await store.record(d) is Enforcement.NONE
        assert (await store.decisions(limit=1))[0]["request_id"] == d.request_id

    async def test_account_view(self, store: Store) -> None:
        assert await store.account("nobody") is None
        assert await store.enforcement("nobody") is Enforcement.NONE
        ds = [human("a1"), automated("a1", score=0.7)]
        await record_all(store, ds)
        await store.report("r1", "a1", "weird")
        acct = await store.account("a1", limit=1)
        assert acct["account_id"] == "a1"
        assert acct["enforcement"] == "warn"
        assert acct["reports"] == 1
        assert [d["request_id"] for d in acct["decisions"]] == [ds[1].request_id]
        assert acct["decisions"][0] == ds[1].to_json()
        assert [e["to"] for e in acct["events"]] == ["warn"]
        assert (acct["decisions_total"], acct["automated"], acct["max_score"]) == (2, 1, 0.7)

    @pytest.mark.parametrize("limit", [0, -1])
    async def test_a_zero_or_negative_limit_returns_nothing(self, store: Store, limit: int) -> None:
        await store.record(automated("a1"))
        await store.report("r1", "a1")
        acct = await store.account("a1", limit=limit)
        assert (acct["decisions"], acct["events"]) == ([], [])
        assert await store.decisions(limit=limit) == []
        assert await store.review(limit) == []
        assert await store.events("a1", limit) == []

    async def test_concurrent_records_for_one_account_lose_nothing(self, store: Store) -> None:
        ds = [automated("hot") for _ in range(25)]
        await asyncio.gather(*(store.record(d) for d in ds))
        acct = await store.account("hot", limit=100)
        assert acct["decisions_total"] == 25
        assert sorted(d["request_id"] for d in acct["decisions"]) == sorted(d.request_id for d in ds)
        assert acct["enforcement"] == "ban"
        assert [e["to"] for e in acct["events"]] == ["ban", "limit", "warn"]

    # -- the same decision twice ----------------------------------------------------------------

    async def test_a_decision_recorded_twice_is_stored_and_counted_once(self, store: Store) -> None:
        # A gateway's retry, or the write buffer replaying a write that had in fact landed.
        first = automated("a1")
        assert await store.record(first) is Enforcement.WARN
        assert await store.record(first) is Enforcement.WARN
        await asyncio.gather(*(store.record(first) for _ in range(5)))
        acct = await store.account("a1", limit=100)
        assert (acct["decisions_total"], acct["automated"]) == (1, 1)
        assert [d["request_id"] for d in acct["decisions"]] == [first.request_id]
        assert [d["request_id"] for d in await store.decisions(limit=10)] == [first.request_id]
        # Replays do not build a streak: four more distinct automated writes make five, and the ban.
        for _ in range(3):
            d = automated("a1")
            await store.record(d)
            await store.record(d)
        assert await store.enforcement("a1") is Enforcement.LIMIT
        assert await store.record(automated("a1")) is Enforcement.BAN

    async def test_a_decision_without_account_recorded_twice_is_stored_once(self, store: Store) -> None:
        d = human(None)
        await store.record(d)
        await store.record(d)
        assert [x["request_id"] for x in await store.decisions(limit=10)] == [d.request_id]

    # -- token uses ---------------------------------------------------------------------------

    async def test_use_token_counts_uses_until_it_expires(self, store: Store) -> None:
        assert [await store.use_token("t1", 2, 0.5) for _ in range(3)] == [1, 2, 3]
        assert await store.use_token("t2", 2, 0.5) == 1
        await asyncio.sleep(0.7)
        assert await store.use_token("t1", 2, 0.5) == 1

    async def test_use_token_counts_concurrent_uses_exactly(self, store: Store) -> None:
        counts = await asyncio.gather(*(store.use_token("t", 1, 30) for _ in range(20)))
        assert sorted(counts) == list(range(1, 21))

    # -- several processes ----------------------------------------------------------------------

    def test_two_processes_see_the_same_enforcement(self, store_spec: tuple) -> None:
        ctx = multiprocessing.get_context("spawn")
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_child, args=(store_spec, "shared", 3, barrier, out)) for _ in range(2)]
        for p in procs:
            p.start()
        results = [out.get(timeout=90) for _ in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        # Six automated posts from two processes: the fifth bans, whichever process wrote it.
        assert [state for _, state in results] == ["ban", "ban"]

        async def check() -> dict:
            store = open_spec(store_spec)
            try:
                return await store.account("shared", limit=100)
            finally:
                await store.close()

        acct = asyncio.run(check())
        assert acct["decisions_total"] == 6
        assert sorted(d["request_id"] for d in acct["decisions"]) == sorted(i for ids, _ in results for i in ids)
        assert [e["to"] for e in acct["events"]] == ["ban", "limit", "warn"]
        ban_ids = set(acct["events"][0]["request_ids"])
        assert len(ban_ids) == 5 and all(ban_ids & set(ids) for ids, _ in results)
