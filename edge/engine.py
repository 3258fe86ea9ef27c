"""The hot path: telemetry → features → rule hits + behaviour score → a Decision. Pure; no I/O.

Two moments:
- ``assess`` runs when the page posts its telemetry; the result travels in the signed token.
- ``decide`` runs at the protected write, adding what the write request itself shows and the
  policy for the action.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from edge import httpsig
from edge.config import Config, ConfigError
from edge.decision import Decision, Enforcement, RuleHit, Verdict, new_request_id
from fingerprints import RequestInfo, extract, extract_request
from signatures import SignatureSet


@dataclass(frozen=True, slots=True)
class Assessment:
    hits: tuple[RuleHit, ...]
    behaviour_score: float | None
    behaviour_reasons: tuple[str, ...]
    set_version: str
    features: Mapping[str, Any] | None = None  # kept for explain/eval; never put in a token

    def to_claims(self) -> dict[str, Any]:
        return {
            "r": [[h.id, h.family, h.weight, h.status] for h in self.hits],
            "b": self.behaviour_score,
            "br": list(self.behaviour_reasons)[:6],
            "v": self.set_version,
        }

    @classmethod
    def from_claims(cls, d: Mapping[str, Any]) -> "Assessment":
        hits = tuple(RuleHit(str(i), str(f), float(w), str(s)) for i, f, w, s in d.get("r", ()))
        b = d.get("b")
        return cls(hits=hits, behaviour_score=None if b is None else float(b),
                   behaviour_reasons=tuple(str(x) for x in d.get("br", ())), set_version=str(d.get("v", "")))


# Synthetic evidence ids, so an operator sees *why* in X-Tell-Rules even when no signature matched.
MISSING_TELEMETRY = "tell.missing-telemetry"
TOKEN_INVALID = "tell.token-invalid"


def _behaviour(features: Mapping[str, Any]) -> tuple[float | None, tuple[str, ...]]:
    from fingerprints.behaviour import behaviour_score

    score, reasons = behaviour_score(dict(features))
    return score, tuple(reasons)


class Engine:
    """Holds the current signature set (swapped atomically on reload) and the policy."""

    def __init__(self, config: Config, signatures: SignatureSet):
        self.config = config
        self._set = signatures
        self._lock = threading.Lock()
        if config.network.declared_agent_writes not in ("allow", "challenge", "block"):
            raise ConfigError("network.declared_agent_writes: one of allow, challenge, block")
        # Declared agents' public keys are read once, here: never fetched at decision time.
        self.agents = httpsig.KeyDirectory.load(config.network.agent_keys_dir)
        self._tls_header = config.network.tls_fingerprint_header.lower()

    @property
    def signatures(self) -> SignatureSet:
        return self._set

    def swap(self, new: SignatureSet) -> SignatureSet:
        """Install a new compiled set; in-flight evaluations finish on the set they started with."""
        with self._lock:
            old, self._set = self._set, new
        return old

    def assess(self, telemetry: dict[str, Any], request: RequestInfo | None = None, *, keep_features: bool = False) -> Assessment:
        sigset = self._set
        feats = extract(telemetry, self._network(request))
        hits = sigset.match(feats)
        score, reasons = _behaviour(feats)
        return Assessment(tuple(hits), score, reasons, sigset.version, feats if keep_features else None)

    def decide(
        self,
        action: str,
        assessment: Assessment | None,
        *,
        request: RequestInfo | None = None,
        account_id: str | None = None,
        token_problem: str | None = None,
        request_id: str | None = None,
        enforcement: Enforcement = Enforcement.NONE,
    ) -> Decision:
        policy = self.config.policy
        th = policy.thresholds[action]
        sigset = self._set
        hits: list[RuleHit] = list(assessment.hits) if assessment else []
        reasons: list[str] = []
        agent: httpsig.Verification | None = None
        if request is not None:
            request = self._network(request)
            feats = extract_request(request)
            agent = httpsig.verify_request(request, self.agents)
            if agent is not None:
                feats.update(agent.features())
            seen = {h.id for h in hits}
            hits.extend(h for h in sigset.match(feats) if h.id not in seen)

        if assessment is None:
            # Nothing from the page: the collector did not run, was blocked, or the client is an
            # API-only script. Its own named reason, with the configured verdict.
            rid = TOKEN_INVALID if token_problem else MISSING_TELEMETRY
            reasons.append(f"token rejected ({token_problem})" if token_problem else "no telemetry or token on a protected write")
            hits.append(RuleHit(rid, "none", 0.0))
            verdict = Verdict(policy.missing_telemetry)
            rule_hits = [h for h in hits if h.status == "stable" and h.weight > 0]
            score = _noisy_or(h.weight for h in rule_hits)
            verdict = max(verdict, self._verdict(score, th, bool(rule_hits)), key=lambda v: v.rank)
            score = max(score, th.challenge if verdict is not Verdict.ALLOW else 0.0)
            return self._declared(Decision(verdict, score, action, tuple(hits), tuple(reasons + _titles(sigset, rule_hits)),
                                           sigset.version, request_id or new_request_id(), account_id, enforcement, None), agent)

        acted = [h for h in hits if h.status == "stable"]
        rule_score = _noisy_or(h.weight for h in acted)
        beh = assessment.behaviour_score
        beh_part = policy.behaviour_weight * beh if beh is not None else 0.0
        score = 1.0 - (1.0 - rule_score) * (1.0 - beh_part)
        verdict = self._verdict(score, th, any(h.weight > 0 for h in acted))
        reasons.extend(_titles(sigset, acted))
        if beh is not None and beh_part >= th.challenge / 2:
            reasons.extend(assessment.behaviour_reasons)
        return self._declared(Decision(verdict, score, action, tuple(hits), tuple(reasons), sigset.version,
                                       request_id or new_request_id(), account_id, enforcement, beh), agent)

    def _network(self, request: RequestInfo | None) -> RequestInfo | None:
        """The gateway's TLS fingerprint header (``network.tls_fingerprint_header``) onto the request."""
        if request is None or request.tls_fingerprint:
            return request
        fp = request.headers.get(self._tls_header)
        return dataclasses.replace(request, tls_fingerprint=fp) if fp else request

    def _declared(self, d: Decision, agent: httpsig.Verification | None) -> Decision:
        """A verified declared agent said what it is: the policy for agents' writes decides
        (``network.declared_agent_writes``, default challenge — never silently allowed), whatever
        the score. It stays labelled by the ``declared-agent.verified`` hit and a reason line."""
        if agent is None or not agent.verified:
            return d
        return dataclasses.replace(d, decision=Verdict(self.config.network.declared_agent_writes),
                                   reasons=(agent.reason,) + d.reasons)

    def _verdict(self, score: float, th, has_rule_evidence: bool) -> Verdict:
        if score >= th.block and (has_rule_evidence or self.config.policy.behaviour_can_block):
            return Verdict.BLOCK
        if score >= th.challenge:
            return Verdict.CHALLENGE
        return Verdict.ALLOW

    def decide_payload(self, payload: dict[str, Any], action: str = "post", request: RequestInfo | None = None) -> Decision:
        """Assess and decide one telemetry payload as if it came with its write (replay, eval)."""
        return self.decide(action, self.assess(payload, request))


def _noisy_or(weights) -> float:
    p = 1.0
    for w in weights:
        p *= 1.0 - w
    return 1.0 - p


def _titles(sigset: SignatureSet, hits) -> list[str]:
    out = []
    for h in hits:
        r = sigset.by_id.get(h.id)
        out.append(r.title if r else h.id)
    return out
