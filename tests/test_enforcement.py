"""The enforcement policy on its own: hand-built ledgers in, (state, reason, request ids) out."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.decision import Decision, Enforcement, RuleHit, Verdict
import json

from edge.enforcement import (
    DEFAULT_POLICY,
    Assessment,
    EnforcementPolicy,
    LedgerSummary,
    assess,
    escalate,
    event,
    is_automated,
    level,
)

RULE = RuleHit(id="playwright.fill-without-keys", family="playwright", weight=0.9)
TEST_RULE = RuleHit(id="puppeteer.new-idea", family="puppeteer", weight=0.5, status="test")
DAY = 86400.0


def d(verdict: str = "allow", action: str = "post", ts: float = 0.0, score: float = 0.1, rules=(), rid: str | None = None) -> Decision:
    kw = {"request_id": rid} if rid else {}
    return Decision(decision=Verdict(verdict), score=score, action=action, rules=tuple(rules), ts=ts, account_id="a", **kw)


def bot(action: str = "post", ts: float = 0.0, verdict: str = "challenge", rid: str | None = None) -> Decision:
    return d(verdict, action, ts, 0.6, (RULE,), rid)


def newest_first(*ds: Decision) -> list[Decision]:
    return list(reversed(ds))


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (d("allow", score=0.99, rules=(RULE,)), False),  # allowed writes are never evidence
        (d("challenge", score=0.5, rules=(RULE,)), True),  # a matched rule
        (d("block", score=0.9), True),  # a high score on its own
        (d("challenge", score=0.6), False),  # behaviour alone: a human can trip it
        (d("challenge", score=0.6, rules=(TEST_RULE,)), False),  # test rules do not act
        (d("challenge", score=0.85), True),  # the threshold is inclusive
    ],
)
def test_what_counts_as_automated(decision: Decision, expected: bool) -> None:
    assert is_automated(decision) is expected


def test_no_ledger_no_enforcement() -> None:
    assert assess([]) == (Enforcement.NONE, "", ())


def test_a_blocked_registration_bans_and_names_the_decision() -> None:
    reg = bot("register", verdict="block", rid="r1")
    state, reason, ids = assess(newest_first(reg, d(ts=1), d(ts=2)))
    assert (state, ids) == (Enforcement.BAN, ("r1",))
    assert "registration" in reason


def test_the_registration_ban_can_be_switched_off() -> None:
    policy = EnforcementPolicy(ban_blocked_registration=False)
    assert assess([bot("register", verdict="block")], policy=policy).enforcement is Enforcement.WARN


def test_five_automated_public_writes_in_a_row_ban() -> None:
    writes = [bot(a, ts=i, rid=f"w{i}") for i, a in enumerate(("post", "comment", "message", "post", "post"))]
    state, reason, ids = assess(newest_first(d(ts=-1), *writes))
    assert state is Enforcement.BAN
    assert ids == ("w4", "w3", "w2", "w1", "w0")
    assert reason == "last 5 public writes automated"


def test_registrations_are_not_part_of_the_write_streak() -> None:
    ledger = newest_first(bot("register", ts=0), *(bot(ts=i) for i in range(1, 5)))
    assert assess(ledger).enforcement is Enforcement.LIMIT


FAILED_ATTEMPT = RuleHit(id="tell.challenge-failed", family="none", weight=0.0)


def failed_attempt(action: str = "post", ts: float = 0.0, rid: str | None = None) -> Decision:
    """What edge/challenge.py records when a challenge for a write is failed: the write's action."""
    return d("challenge", action, ts, 0.6, (FAILED_ATTEMPT,), rid)


def test_a_challenge_attempt_is_not_a_public_write() -> None:
    """Three challenged posts, each with a failed challenge after it: three writes, not six — the
    streak of five is not reached (the failures are still automated decisions: limit)."""
    ledger = newest_first(*(x for i in range(3) for x in (bot(ts=2 * i), failed_attempt(ts=2 * i + 1))))
    state, reason, _ = assess(ledger)
    assert state is Enforcement.LIMIT and reason == "6 automated decisions within 7 days"
    # Two more automated posts make five writes in a row.
    assert assess(newest_first(*reversed(ledger), bot(ts=7), bot(ts=8))).enforcement is Enforcement.BAN


def test_a_summary_stored_by_an_older_version_is_rebuilt() -> None:
    summary = LedgerSummary(DEFAULT_POLICY)
    summary.add(bot(ts=1), DEFAULT_POLICY)
    stored = json.loads(json.dumps(summary.to_json()))
    stored[0] = stored[0][:3]  # version 1 shapes had no counting version
    assert LedgerSummary.from_json(stored, DEFAULT_POLICY) is None


def test_the_streak_can_be_switched_off() -> None:
    ledger = newest_first(*(bot(ts=i) for i in range(10)))
    assert assess(ledger, policy=EnforcementPolicy(streak=0)).enforcement is Enforcement.LIMIT


@pytest.mark.parametrize(
    ("gaps_days", "expected"),
    [
        ((0,), Enforcement.WARN),
        ((0, 1), Enforcement.WARN),
        ((0, 1, 2), Enforcement.LIMIT),  # recurs within 7 days
        ((0, 8, 16), Enforcement.WARN),  # spread out: never three in a window
        ((0, 6.9, 6.95), Enforcement.LIMIT),
    ],
)
def test_occasional_automation_warns_and_recurring_automation_limits(gaps_days, expected) -> None:
    ledger: list[Decision] = []
    for g in gaps_days:
        ledger += [bot(ts=g * DAY), d(ts=g * DAY + 1), d(ts=g * DAY + 2)]
    ledger.sort(key=lambda x: -x.ts)
    state, reason, ids = assess(ledger)
    assert state is expected
    assert "within 7 days" in reason
    assert len(ids) == (3 if expected is Enforcement.LIMIT else 1)


def test_the_window_is_anchored_at_now_when_given() -> None:
    ledger = newest_first(bot(ts=0), bot(ts=1), bot(ts=2), d(ts=3))
    assert assess(ledger).enforcement is Enforcement.LIMIT
    assert assess(ledger, now=30 * DAY).enforcement is Enforcement.NONE


@pytest.mark.parametrize(
    ("ledger", "plain", "reported"),
    [
        ([bot(ts=2), bot(ts=1)], Enforcement.WARN, Enforcement.LIMIT),
        ([bot(ts=3), bot(ts=2), bot(ts=1)], Enforcement.LIMIT, Enforcement.BAN),
        ([bot(ts=3), d(ts=2), bot(ts=1)], Enforcement.WARN, Enforcement.LIMIT),
        ([d(ts=1)], Enforcement.NONE, Enforcement.NONE),  # a report alone is not evidence
    ],
)
def test_reported_accounts_are_judged_more_strictly(ledger, plain, reported) -> None:
    assert assess(ledger).enforcement is plain
    got = assess(ledger, reports=1)
    assert got.enforcement is reported
    if reported is not Enforcement.NONE:
        assert got.reason.endswith("(reported by 1)")


def test_how_many_reports_make_an_account_reported_is_configurable() -> None:
    policy = EnforcementPolicy(reported_min_reports=3)
    ledger = [bot(ts=2), bot(ts=1)]
    assert assess(ledger, reports=2, policy=policy).enforcement is Enforcement.WARN
    assert assess(ledger, reports=3, policy=policy).enforcement is Enforcement.LIMIT


def test_only_the_newest_ledger_depth_decisions_are_read() -> None:
    policy = EnforcementPolicy(ledger_depth=5)
    ledger = newest_first(*(bot(ts=i) for i in range(3)), *(d(ts=10 + i) for i in range(5)))
    assert assess(ledger, policy=policy).enforcement is Enforcement.NONE


@pytest.mark.parametrize(
    ("current", "proposed", "changes"),
    [
        (Enforcement.NONE, Enforcement.WARN, True),
        (Enforcement.WARN, Enforcement.LIMIT, True),
        (Enforcement.LIMIT, Enforcement.BAN, True),
        (Enforcement.WARN, Enforcement.WARN, False),
        (Enforcement.LIMIT, Enforcement.WARN, False),  # states do not lapse on their own
        (Enforcement.BAN, Enforcement.NONE, False),  # a ban is sticky
        (Enforcement.BAN, Enforcement.BAN, False),
    ],
)
def test_policy_changes_only_escalate(current, proposed, changes) -> None:
    got = escalate(current, Assessment(proposed, "why", ("r1",)))
    assert (got is not None) is changes


def test_an_event_records_the_change_and_who_made_it() -> None:
    ev = event(Enforcement.BAN, Enforcement.NONE, "manual override", (), ts=5.0, actor="alice", note="appeal")
    assert ev == {"ts": 5.0, "from": "ban", "to": "none", "reason": "manual override", "request_ids": [],
                  "actor": "alice", "note": "appeal"}


@pytest.mark.parametrize(
    "kwargs",
    [{"warn_after": 0}, {"warn_after": 4, "limit_after": 3}, {"reported_limit_after": 0}, {"window_s": 0},
     {"automated_score": 1.5}, {"streak": -1}, {"ledger_depth": 4}],
)
def test_an_inconsistent_policy_is_refused(kwargs) -> None:
    with pytest.raises(ValueError, match="enforcement policy"):
        EnforcementPolicy(**kwargs)


def test_policy_from_a_config_table() -> None:
    p = EnforcementPolicy.from_mapping({"streak": "3", "window_s": 3600, "ban_blocked_registration": "no"})
    assert (p.streak, p.window_s, p.ban_blocked_registration) == (3, 3600.0, False)
    with pytest.raises(ValueError, match="enforcement.strek: unknown"):
        EnforcementPolicy.from_mapping({"strek": 3})
    with pytest.raises(ValueError, match="enforcement.streak: cannot read"):
        EnforcementPolicy.from_mapping({"streak": "five"})


decisions = st.builds(
    d,
    verdict=st.sampled_from(["allow", "challenge", "block"]),
    action=st.sampled_from(["register", "post", "comment", "message"]),
    ts=st.floats(0, 30 * DAY),
    score=st.floats(0, 1),
    rules=st.sampled_from([(), (RULE,), (TEST_RULE,)]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(decisions, max_size=30), st.integers(0, 5))
def test_reports_never_make_the_policy_more_lenient(ledger, reports) -> None:
    ledger.sort(key=lambda x: -x.ts)
    plain = assess(ledger, policy=DEFAULT_POLICY)
    reported = assess(ledger, reports=reports)
    assert level(reported.enforcement) >= level(plain.enforcement)
    # Whatever the state, the decisions behind it are in the ledger.
    assert set(reported.request_ids) <= {x.request_id for x in ledger}
    assert (reported.enforcement is Enforcement.NONE) == (reported.request_ids == ())


# -- the incremental policy the stores run: equal to assess() on the same ledger ----------------

policies = st.builds(
    EnforcementPolicy,
    streak=st.integers(0, 4),
    reported_streak=st.integers(0, 4),
    warn_after=st.just(1),
    limit_after=st.integers(1, 3),
    reported_limit_after=st.integers(1, 3),
    window_s=st.sampled_from([DAY, 7 * DAY]),
    ban_blocked_registration=st.booleans(),
    ledger_depth=st.integers(4, 8),
)


# Mostly automated, many registrations: streaks that straddle the depth read, windows that fill;
# failed challenge attempts among them.
stored_decisions = st.one_of(
    decisions,
    st.builds(failed_attempt, action=st.sampled_from(["post", "comment", "register"]), ts=st.floats(0, 30 * DAY)),
    st.builds(bot, action=st.sampled_from(["register", "post", "register", "comment"]),
              ts=st.floats(0, 30 * DAY), verdict=st.sampled_from(["challenge", "block"])),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(stored_decisions, max_size=40), policies, st.integers(0, 2))
def test_the_summary_assesses_exactly_like_the_ledger(ledger, policy, reports) -> None:
    """After every decision (recorded in any time order, like a replayed buffer), the summary the
    stores keep gives the same state, reason and request ids as assess() of the ledger, and
    survives its JSON round trip."""
    summary = LedgerSummary(policy)
    recorded: list[Decision] = []
    for x in ledger:
        recorded.insert(0, x)
        summary.add(x, policy)
        summary = LedgerSummary.from_json(json.loads(json.dumps(summary.to_json())), policy)
        for r in (0, reports):
            assert summary.assess(reports=r, policy=policy) == assess(recorded[: policy.ledger_depth], reports=r, policy=policy)
    assert LedgerSummary.rebuild(recorded, policy).assess(reports=reports, policy=policy) == \
        summary.assess(reports=reports, policy=policy)


def test_a_summary_of_another_policy_shape_is_rebuilt() -> None:
    summary = LedgerSummary(DEFAULT_POLICY)
    summary.add(bot(ts=1), DEFAULT_POLICY)
    stored = json.loads(json.dumps(summary.to_json()))
    assert LedgerSummary.from_json(stored, DEFAULT_POLICY) is not None
    assert LedgerSummary.from_json(stored, EnforcementPolicy(ledger_depth=50)) is None
    assert LedgerSummary.from_json(stored, EnforcementPolicy(automated_score=0.9)) is None
    assert LedgerSummary.from_json(None, DEFAULT_POLICY) is None
