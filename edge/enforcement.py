"""Account enforcement: a pure policy from an account's recent ledger to none/warn/limit/ban.

The stores keep the ledger and call :func:`assess` inside the same transaction that appends a
decision, then :func:`escalate` to turn the assessment into a state change (or none). Nothing here
does I/O, so the policy is tested with hand-built ledgers and is identical on every backend.

The ladder (defaults in :class:`EnforcementPolicy`, documented in docs/enforcement.md):

* a registration decided ``block`` is an automated registration: ``ban``;
* every one of the account's last ``streak`` public writes (post/comment/message; a challenge
  attempt is not a write) automated: ``ban``;
* ``limit_after`` automated decisions within ``window_s``: ``limit``;
* ``warn_after`` automated decisions within ``window_s``: ``warn``.

A decision is *automated* when Tell challenged or blocked it on evidence: a matched (non-test) rule,
or a score of at least ``automated_score``. A challenge on behaviour alone is not enough, because a
human can trip it. Reported accounts (``reports >= reported_min_reports``) use the stricter
``reported_*`` counts.

Automatic enforcement only ever goes up: a warned account that goes quiet stays warned, and a ban is
sticky. Only a manual override lowers a state, and the stores then judge only decisions recorded
after that override, so the evidence that was already weighed by a person does not re-ban at once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

from edge.decision import Decision, Enforcement, Verdict

PUBLIC_WRITES = ("post", "comment", "message")
# edge/challenge.py records each challenge attempt under the action of the write it was for, with
# one of these evidence ids. An attempt is not a write: it does not count in the public-writes streak
# (a failed one still counts as an automated decision for warn/limit: failing a challenge is evidence).
CHALLENGE_PASSED = "tell.challenge-passed"
CHALLENGE_FAILED = "tell.challenge-failed"
_ATTEMPTS = frozenset({CHALLENGE_PASSED, CHALLENGE_FAILED})
# Part of every summary's shape: a summary stored under another version is rebuilt from the ledger.
SUMMARY_VERSION = 2

_LEVEL = {Enforcement.NONE: 0, Enforcement.WARN: 1, Enforcement.LIMIT: 2, Enforcement.BAN: 3}


def level(e: Enforcement) -> int:
    """Severity order of enforcement states: none < warn < limit < ban."""
    return _LEVEL[e]


@dataclass(frozen=True, slots=True)
class EnforcementPolicy:
    # A challenge/block counts as automated with a rule match or at least this score.
    automated_score: float = 0.85
    # A blocked registration is an account born from a script: ban it outright.
    ban_blocked_registration: bool = True
    # Ban when each of the last ``streak`` public writes was automated (0 disables).
    streak: int = 5
    # Warn / limit when this many automated decisions fall within ``window_s``.
    warn_after: int = 1
    limit_after: int = 3
    window_s: float = 7 * 86400.0
    # Reported accounts: a report from this many distinct reporters switches to the stricter counts.
    reported_min_reports: int = 1
    reported_streak: int = 3
    reported_warn_after: int = 1
    reported_limit_after: int = 2
    # How many of the account's most recent decisions the policy reads.
    ledger_depth: int = 100

    def __post_init__(self) -> None:
        problems = []
        for name in ("streak", "reported_streak", "warn_after", "limit_after",
                     "reported_warn_after", "reported_limit_after", "reported_min_reports"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if not 1 <= self.warn_after <= self.limit_after:
            problems.append("need 1 <= warn_after <= limit_after")
        if not 1 <= self.reported_warn_after <= self.reported_limit_after:
            problems.append("need 1 <= reported_warn_after <= reported_limit_after")
        if self.window_s <= 0:
            problems.append("window_s must be > 0")
        if not 0 <= self.automated_score <= 1:
            problems.append("automated_score must be within [0, 1]")
        need = max(self.streak, self.reported_streak, self.limit_after, self.reported_limit_after)
        if self.ledger_depth < need:
            problems.append(f"ledger_depth must be >= {need} (the largest count it has to see)")
        if problems:
            raise ValueError("enforcement policy: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "EnforcementPolicy":
        """Build from a config table; unknown keys are an error that names the key."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        for k in data:
            if k not in known:
                raise ValueError(f"enforcement.{k}: unknown policy key")
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            default = known[k].default
            try:
                kwargs[k] = type(default)(v) if not isinstance(default, bool) else _bool(v)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"enforcement.{k}: cannot read {v!r}") from exc
        return cls(**kwargs)


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(v)
    return bool(v)


DEFAULT_POLICY = EnforcementPolicy()


class Assessment(NamedTuple):
    """What the evidence supports: the state, why, and the decisions behind it."""

    enforcement: Enforcement
    reason: str
    request_ids: tuple[str, ...]


NO_EVIDENCE = Assessment(Enforcement.NONE, "", ())


def is_public_write(d: Decision) -> bool:
    """A post, comment or message the account made (not the record of a challenge attempt for one)."""
    return d.action in PUBLIC_WRITES and not any(r.id in _ATTEMPTS for r in d.rules)


def is_automated(d: Decision, policy: EnforcementPolicy = DEFAULT_POLICY) -> bool:
    if d.decision is Verdict.ALLOW:
        return False
    return bool(d.acted_rules) or d.score >= policy.automated_score


def assess(
    ledger: Sequence[Decision],
    *,
    reports: int = 0,
    policy: EnforcementPolicy = DEFAULT_POLICY,
    now: float | None = None,
) -> Assessment:
    """The enforcement the ledger supports on its own.

    ``ledger`` is the account's decisions, newest first (the stores pass those recorded since the
    last manual override, at most ``policy.ledger_depth``). ``now`` anchors the window; it defaults
    to the newest decision's time so that a replayed ledger is judged as it was then.
    """
    ledger = ledger[: policy.ledger_depth]
    if not ledger:
        return NO_EVIDENCE
    reported = policy.reported_min_reports > 0 and reports >= policy.reported_min_reports
    streak = policy.reported_streak if reported else policy.streak
    warn_after = policy.reported_warn_after if reported else policy.warn_after
    limit_after = policy.reported_limit_after if reported else policy.limit_after
    suffix = f" (reported by {reports})" if reported else ""

    if policy.ban_blocked_registration:
        for d in ledger:
            if d.action == "register" and d.decision is Verdict.BLOCK:
                return Assessment(Enforcement.BAN, "automated registration (registration blocked)", (d.request_id,))

    if streak > 0:
        writes = [d for d in ledger if is_public_write(d)][:streak]
        if len(writes) == streak and all(is_automated(d, policy) for d in writes):
            return Assessment(
                Enforcement.BAN,
                f"last {streak} public writes automated{suffix}",
                tuple(d.request_id for d in writes),
            )

    anchor = ledger[0].ts if now is None else now
    recent = [d for d in ledger if is_automated(d, policy) and d.ts >= anchor - policy.window_s]
    days = policy.window_s / 86400
    window = f"{days:g} days" if days >= 1 else f"{policy.window_s:g} s"
    if len(recent) >= limit_after:
        return Assessment(
            Enforcement.LIMIT,
            f"{len(recent)} automated decisions within {window}{suffix}",
            tuple(d.request_id for d in recent[:limit_after]),
        )
    if len(recent) >= warn_after:
        return Assessment(
            Enforcement.WARN,
            f"{len(recent)} automated decision{'s' if len(recent) > 1 else ''} within {window}{suffix}",
            tuple(d.request_id for d in recent[:warn_after]),
        )
    return NO_EVIDENCE


def escalate(current: Enforcement, assessment: Assessment) -> Assessment | None:
    """The state change the policy makes, or None. Automatic changes only raise the state, so a
    ban is sticky and a warn/limit does not lapse by itself; lowering is a manual override."""
    if level(assessment.enforcement) > level(current):
        return assessment
    return None


def event(
    previous: Enforcement,
    new: Enforcement,
    reason: str,
    request_ids: Sequence[str] = (),
    *,
    ts: float,
    actor: str = "policy",
    note: str = "",
) -> dict[str, Any]:
    """One enforcement change, as every backend stores and returns it."""
    return {
        "ts": ts,
        "from": previous.value,
        "to": new.value,
        "reason": reason,
        "request_ids": list(request_ids),
        "actor": actor,
        "note": note,
    }


# -- the policy, one decision at a time ------------------------------------------------------

class LedgerSummary:
    """What :func:`assess` reads of an account's ledger, kept up to date one decision at a time.

    The stores keep one per account (beside the enforcement state) so that recording a write does
    not re-read and re-parse the account's recent decisions: :meth:`add` folds in the decision just
    recorded, :meth:`assess` gives exactly what ``assess(ledger[:policy.ledger_depth], reports=…)``
    gives for the same ledger (tests/test_enforcement.py compares the two on random ledgers).

    It holds, for the decisions recorded since the last override, numbered ``1..n`` in ledger order:

    * ``anchor``: the time of the newest one (the window's anchor);
    * ``automated``: ``(number, ts, request_id)`` of the automated ones among the last
      ``ledger_depth`` (at most ``ledger_depth`` entries, oldest first);
    * ``writes``: ``(number, automated, request_id)`` of the last ``max(streak, reported_streak)``
      public writes, oldest first;
    * ``registration``: ``(number, request_id)`` of the newest blocked registration.

    A summary is built for one policy *shape* (``ledger_depth``, the longest streak, and
    ``automated_score``, which decides what is automated). A store that finds a summary of another
    shape (the configuration changed) rebuilds it from the ledger with :meth:`rebuild`.
    """

    __slots__ = ("shape", "n", "anchor", "automated", "writes", "registration")

    def __init__(self, policy: EnforcementPolicy = DEFAULT_POLICY):
        self.shape = summary_shape(policy)
        self.n = 0
        self.anchor = 0.0
        self.automated: list[tuple[int, float, str]] = []
        self.writes: list[tuple[int, bool, str]] = []
        self.registration: tuple[int, str] | None = None

    @classmethod
    def rebuild(cls, ledger: Sequence[Decision], policy: EnforcementPolicy = DEFAULT_POLICY) -> "LedgerSummary":
        """From the ledger since the last override, newest first (only the newest ``ledger_depth`` count)."""
        s = cls(policy)
        for d in reversed(ledger[: policy.ledger_depth]):
            s.add(d, policy)
        return s

    def add(self, d: Decision, policy: EnforcementPolicy = DEFAULT_POLICY, automated: bool | None = None) -> None:
        """Fold in ``d``, the decision recorded after every one already summarised."""
        self.n += 1
        n = self.n
        self.anchor = d.ts
        auto = is_automated(d, policy) if automated is None else automated
        depth, longest = self.shape[0], self.shape[1]
        if auto:
            self.automated.append((n, d.ts, d.request_id))
        if self.automated and self.automated[0][0] <= n - depth:
            self.automated = [a for a in self.automated if a[0] > n - depth]
        if longest > 0 and is_public_write(d):
            self.writes.append((n, auto, d.request_id))
            if len(self.writes) > longest:
                del self.writes[: len(self.writes) - longest]
        if d.action == "register" and d.decision is Verdict.BLOCK:
            self.registration = (n, d.request_id)

    def assess(self, *, reports: int = 0, policy: EnforcementPolicy = DEFAULT_POLICY) -> Assessment:
        """``assess()`` of the summarised ledger; ``policy`` must have this summary's shape."""
        if self.n == 0:
            return NO_EVIDENCE
        oldest = self.n - policy.ledger_depth  # numbers above this are within the depth read
        reported = policy.reported_min_reports > 0 and reports >= policy.reported_min_reports
        streak = policy.reported_streak if reported else policy.streak
        warn_after = policy.reported_warn_after if reported else policy.warn_after
        limit_after = policy.reported_limit_after if reported else policy.limit_after
        suffix = f" (reported by {reports})" if reported else ""

        if policy.ban_blocked_registration and self.registration is not None and self.registration[0] > oldest:
            return Assessment(Enforcement.BAN, "automated registration (registration blocked)", (self.registration[1],))

        if streak > 0:
            writes = [w for w in reversed(self.writes) if w[0] > oldest][:streak]
            if len(writes) == streak and all(w[1] for w in writes):
                return Assessment(Enforcement.BAN, f"last {streak} public writes automated{suffix}",
                                  tuple(w[2] for w in writes))

        since = self.anchor - policy.window_s
        recent = [a for a in reversed(self.automated) if a[0] > oldest and a[1] >= since]
        days = policy.window_s / 86400
        window = f"{days:g} days" if days >= 1 else f"{policy.window_s:g} s"
        if len(recent) >= limit_after:
            return Assessment(Enforcement.LIMIT, f"{len(recent)} automated decisions within {window}{suffix}",
                              tuple(a[2] for a in recent[:limit_after]))
        if len(recent) >= warn_after:
            return Assessment(
                Enforcement.WARN,
                f"{len(recent)} automated decision{'s' if len(recent) > 1 else ''} within {window}{suffix}",
                tuple(a[2] for a in recent[:warn_after]),
            )
        return NO_EVIDENCE

    # Stored as compact JSON in the account's row (SQLite) or state hash (Redis).
    def to_json(self) -> list[Any]:
        return [list(self.shape), self.n, self.anchor, self.automated, self.writes, self.registration]

    @classmethod
    def from_json(cls, data: Any, policy: EnforcementPolicy = DEFAULT_POLICY) -> "LedgerSummary | None":
        """The stored summary, or None when it is missing or of another shape (rebuild it)."""
        if not data:
            return None
        shape, n, anchor, automated, writes, registration = data
        if tuple(shape) != summary_shape(policy):
            return None
        s = cls.__new__(cls)
        s.shape = summary_shape(policy)
        s.n, s.anchor = n, anchor
        s.automated = [tuple(a) for a in automated]  # type: ignore[misc]
        s.writes = [tuple(w) for w in writes]  # type: ignore[misc]
        s.registration = tuple(registration) if registration else None  # type: ignore[assignment]
        return s


def summary_shape(policy: EnforcementPolicy) -> tuple[int, int, float, int]:
    """What a :class:`LedgerSummary` depends on: the depth read, the longest streak, the score
    threshold, and the rules of counting (:data:`SUMMARY_VERSION`)."""
    return (policy.ledger_depth, max(policy.streak, policy.reported_streak), policy.automated_score, SUMMARY_VERSION)
