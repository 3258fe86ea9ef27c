"""The one decision object: what Tell answers for a protected write, and why."""
from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field


class Verdict(str, enum.Enum):
    ALLOW = "allow"
    CHALLENGE = "challenge"
    BLOCK = "block"

    # Ordering lets policy code take the harsher of two verdicts with max().
    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Verdict.ALLOW: 0, Verdict.CHALLENGE: 1, Verdict.BLOCK: 2}


class Enforcement(str, enum.Enum):
    """Account-level state, graduated as the platform's rules describe."""

    NONE = "none"
    WARN = "warn"
    LIMIT = "limit"
    BAN = "ban"


ACTIONS = ("register", "post", "comment", "message")


@dataclass(frozen=True, slots=True)
class RuleHit:
    id: str
    family: str
    weight: float
    status: str = "stable"  # "test" rules are recorded but do not move the score

    def to_json(self) -> dict:
        return {"id": self.id, "family": self.family, "weight": self.weight, "status": self.status}


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Decision:
    decision: Verdict
    score: float
    action: str
    rules: tuple[RuleHit, ...] = ()
    reasons: tuple[str, ...] = ()
    set_version: str = ""
    request_id: str = field(default_factory=new_request_id)
    account_id: str | None = None
    enforcement: Enforcement = Enforcement.NONE
    behaviour_score: float | None = None
    ts: float = field(default_factory=time.time)

    @property
    def acted_rules(self) -> tuple[RuleHit, ...]:
        return tuple(r for r in self.rules if r.status != "test")

    @property
    def families(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.acted_rules:
            seen.setdefault(r.family, None)
        return tuple(seen)

    def to_json(self) -> dict:
        return {
            "decision": self.decision.value,
            "score": round(self.score, 4),
            "action": self.action,
            "rules": [r.to_json() for r in self.rules],
            "families": list(self.families),
            "reasons": list(self.reasons),
            "set_version": self.set_version,
            "request_id": self.request_id,
            "account_id": self.account_id,
            "enforcement": self.enforcement.value,
            "behaviour_score": None if self.behaviour_score is None else round(self.behaviour_score, 4),
            "ts": self.ts,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Decision":
        return cls(
            decision=Verdict(d["decision"]),
            score=float(d["score"]),
            action=d["action"],
            rules=tuple(RuleHit(**r) for r in d.get("rules", ())),
            reasons=tuple(d.get("reasons", ())),
            set_version=d.get("set_version", ""),
            request_id=d["request_id"],
            account_id=d.get("account_id"),
            enforcement=Enforcement(d.get("enforcement", "none")),
            behaviour_score=d.get("behaviour_score"),
            ts=float(d.get("ts", 0.0)),
        )
