"""Replaying recorded sessions through a decision path: how many humans pass, how many agents don't.

``decide`` is the real decision path, a callable ``payload -> Decision`` (the service passes
``lambda p: engine.decide_payload(p, action)``); :func:`behaviour_decide` is the behaviour score
alone, with the policy's challenge threshold, for measuring this module's own contribution.

    >>> from fingerprints.evaluate import evaluate_humans, behaviour_decide
    >>> evaluate_humans("/work/shared/data/human", behaviour_decide).to_json()   # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, TextIO

from edge.decision import Decision, Verdict
from fingerprints.corpus import iter_corpus

__all__ = [
    "AgentReport",
    "Report",
    "TARGET_CHALLENGED_SHARE",
    "behaviour_decide",
    "evaluate_agents",
    "evaluate_humans",
    "recorded_payloads",
    "run_eval_humans",
]

Decide = Callable[[dict[str, Any]], Decision]

TARGET_CHALLENGED_SHARE = 0.01
"""At most 1% of recorded humans challenged, none blocked."""
EXAMPLES = 10
_FEATURE_TAG = re.compile(r"\[([a-z][a-z0-9_]*)\]\s*$")


def behaviour_decide(payload: dict[str, Any], action: str = "post") -> Decision:
    """The behaviour score alone as a decision: challenge at ``CHALLENGE_AT``, never block."""
    from fingerprints import extract
    from fingerprints.behaviour import CHALLENGE_AT, behaviour_score

    score, reasons = behaviour_score(extract(payload))
    verdict = Verdict.CHALLENGE if score >= CHALLENGE_AT else Verdict.ALLOW
    return Decision(verdict, score, action, reasons=reasons, behaviour_score=score)


def responsible(decision: Decision) -> list[str]:
    """What made a decision harsher than allow: acted rule ids, then the features its reasons name."""
    out = [h.id for h in decision.acted_rules if h.weight > 0]
    for r in decision.reasons:
        m = _FEATURE_TAG.search(r)
        if m:
            out.append(m.group(1))
    if not out:
        out = list(decision.reasons[:1]) or ["(no reason given)"]
    return list(dict.fromkeys(out))


def _source(payload: dict[str, Any]) -> str:
    sid = str(payload.get("sid", ""))
    return sid.split(":", 1)[0] if ":" in sid else str(payload.get("page", "")) or "?"


def _percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted list; 0 for an empty one."""
    if not sorted_vals:
        return 0.0
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


@dataclass
class Report:
    """Verdict counts over recorded human sessions, and what drove the non-allows."""

    root: str = ""
    sessions: int = 0
    allowed: int = 0
    challenged: int = 0
    blocked: int = 0
    by_source: dict[str, Counter] = field(default_factory=dict)
    responsible: Counter = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)
    behaviour_scores: list[float] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, payload: dict[str, Any], d: Decision) -> None:
        self.sessions += 1
        src = self.by_source.setdefault(_source(payload), Counter())
        src[d.decision.value] += 1
        self.scores.append(float(d.score))
        if d.behaviour_score is not None:
            self.behaviour_scores.append(float(d.behaviour_score))
        if d.decision is Verdict.ALLOW:
            self.allowed += 1
            return
        if d.decision is Verdict.BLOCK:
            self.blocked += 1
        else:
            self.challenged += 1
        why = responsible(d)
        self.responsible.update(why)
        if len(self.examples) < EXAMPLES:
            self.examples.append({"sid": payload.get("sid", ""), "decision": d.decision.value,
                                  "score": round(float(d.score), 4), "reasons": list(d.reasons)})

    @property
    def challenged_share(self) -> float:
        return self.challenged / self.sessions if self.sessions else 0.0

    @property
    def meets_target(self) -> bool:
        return self.sessions > 0 and self.blocked == 0 and self.challenged_share <= TARGET_CHALLENGED_SHARE

    def percentiles(self, behaviour: bool = True) -> dict[str, float]:
        vals = sorted(self.behaviour_scores if behaviour else self.scores)
        return {f"p{q}": round(_percentile(vals, q), 4) for q in (50, 90, 99)} | {"max": round(vals[-1], 4) if vals else 0.0}

    def share_at_or_above(self, threshold: float) -> float:
        vals = self.behaviour_scores
        return sum(v >= threshold for v in vals) / len(vals) if vals else 0.0

    def to_json(self) -> dict[str, Any]:
        from fingerprints.behaviour import CHALLENGE_AT

        return {
            "root": self.root,
            "sessions": self.sessions,
            "allowed": self.allowed,
            "challenged": self.challenged,
            "blocked": self.blocked,
            "challenged_share": round(self.challenged_share, 6),
            "meets_target": self.meets_target,
            "by_source": {k: dict(v) for k, v in sorted(self.by_source.items())},
            "responsible": dict(self.responsible.most_common()),
            "score_percentiles": self.percentiles(behaviour=False),
            "behaviour_percentiles": self.percentiles(),
            "behaviour_challenge_at": CHALLENGE_AT,
            "behaviour_share_at_or_above": round(self.share_at_or_above(CHALLENGE_AT), 6),
            "examples": self.examples,
        }


def evaluate_humans(root: str, decide: Decide, *, every: int = 1, **corpus: Any) -> Report:
    """Run every session under ``root`` (see :func:`fingerprints.corpus.iter_corpus`) through ``decide``.

    ``every=n`` keeps one session in n, in corpus order: a deterministic sample for quick runs.
    ``corpus`` options go to ``iter_corpus`` (``keys_per_field=10``, ``mouse_window_ms=3000``: the
    same people cut into short fields and short pointer episodes).
    """
    rep = Report(root=str(root))
    for i, payload in enumerate(iter_corpus(root, **corpus)):
        if i % every == 0:
            rep.add(payload, decide(payload))
    return rep


@dataclass
class AgentReport:
    """How many agent sessions the decision path did not allow."""

    sessions: int = 0
    detected: int = 0
    blocked: int = 0
    missed: list[str] = field(default_factory=list)
    responsible: Counter = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)

    @property
    def detection_rate(self) -> float:
        return self.detected / self.sessions if self.sessions else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "detected": self.detected,
            "blocked": self.blocked,
            "detection_rate": round(self.detection_rate, 6),
            "missed": self.missed,
            "responsible": dict(self.responsible.most_common()),
        }


def evaluate_agents(payloads: Iterable[dict[str, Any]], decide: Decide) -> AgentReport:
    """Run agent sessions through ``decide``; anything but allow counts as detected."""
    rep = AgentReport()
    for i, payload in enumerate(payloads):
        d = decide(payload)
        rep.sessions += 1
        rep.scores.append(float(d.behaviour_score if d.behaviour_score is not None else d.score))
        if d.decision is Verdict.ALLOW:
            rep.missed.append(str(payload.get("sid") or i))
            continue
        rep.detected += 1
        rep.blocked += d.decision is Verdict.BLOCK
        rep.responsible.update(responsible(d))
    return rep


def recorded_payloads(root: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Telemetry bodies saved as ``*.msgpack`` under ``root`` (any depth, sorted), decoded and
    validated like the service does — e.g. what ``tell simulate --record DIR`` writes — for
    :func:`evaluate_agents`. ``sid`` is replaced by the file's path under ``root`` without the
    extension, so reports name the recording rather than a random page-view id."""
    from edge.telemetry import decode

    root = Path(root)
    for path in sorted(root.rglob("*.msgpack")):
        payload = decode(path.read_bytes())
        payload["sid"] = path.relative_to(root).with_suffix("").as_posix()[-64:]
        yield payload


def run_eval_humans(root: str, decide: Decide, as_json: bool, out: TextIO) -> int:
    """``tell eval humans ROOT [--json]``: print the table (or one JSON object).

    Exit status: 0 when the target holds (no human blocked, at most 1% challenged), 1 when it does
    not, 2 when ``root`` holds no session at all.
    """
    rep = evaluate_humans(root, decide)
    if as_json:
        out.write(json.dumps(rep.to_json(), indent=2) + "\n")
    else:
        _table(rep, out)
    if rep.sessions == 0:
        if not as_json:
            out.write(f"no sessions found under {root} (expected *_keystrokes.txt or user*/session_*.csv)\n")
        return 2
    return 0 if rep.meets_target else 1


def _table(rep: Report, out: TextIO) -> None:
    from fingerprints.behaviour import CHALLENGE_AT

    w = out.write
    n = rep.sessions or 1
    sources = ", ".join(f"{k} {sum(v.values())}" for k, v in sorted(rep.by_source.items()))
    w(f"human sessions under {rep.root}: {rep.sessions}" + (f" ({sources})" if sources else "") + "\n\n")
    w(f"{'decision':<10} {'sessions':>9} {'share':>9}\n")
    for name, count in (("allow", rep.allowed), ("challenge", rep.challenged), ("block", rep.blocked)):
        w(f"{name:<10} {count:>9} {count / n:>9.2%}\n")
    if len(rep.by_source) > 1:
        w("\nby source:\n")
        for src, c in sorted(rep.by_source.items()):
            tot = sum(c.values())
            w(f"  {src:<12} {tot:>6}   allow {c['allow']:>6}   challenge {c['challenge']:>4}   block {c['block']:>4}\n")
    if rep.behaviour_scores:
        p = rep.percentiles()
        w(f"\nbehaviour score: p50 {p['p50']:.3f}  p90 {p['p90']:.3f}  p99 {p['p99']:.3f}  max {p['max']:.3f}"
          f"   at or above {CHALLENGE_AT}: {rep.share_at_or_above(CHALLENGE_AT):.2%}\n")
    w("\nmost often responsible for a non-allow:\n")
    if rep.responsible:
        for name, count in rep.responsible.most_common(10):
            w(f"  {count:>6}  {name}\n")
    else:
        w("  (none)\n")
    for ex in rep.examples[:5]:
        w(f"  e.g. {ex['sid']}: {ex['decision']} {ex['score']:.3f} - {'; '.join(ex['reasons'][:2])}\n")
    verdict = "met" if rep.meets_target else "NOT met"
    w(f"\ntarget (<= {TARGET_CHALLENGED_SHARE:.0%} challenged, 0 blocked): {verdict}\n")
