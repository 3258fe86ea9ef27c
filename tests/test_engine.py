"""Policy arithmetic: rule weights and behaviour combine into per-action verdicts."""
import pytest

from edge.config import load_config
from edge.decision import RuleHit, Verdict
from edge.engine import MISSING_TELEMETRY, Assessment, Engine
from fingerprints import RequestInfo
from signatures import SHIPPED, SignatureSet

SET = SignatureSet.load(SHIPPED)


def engine(**env):
    return Engine(load_config(env=env), SET)


def assess(*weights, behaviour=None, status="stable"):
    hits = tuple(RuleHit(f"x.r{i}", "x", w, status) for i, w in enumerate(weights))
    return Assessment(hits, behaviour, ("typing too regular",) if behaviour else (), SET.version)


@pytest.mark.parametrize(
    "action, weights, behaviour, verdict",
    [
        ("post", (), 0.0, Verdict.ALLOW),
        ("post", (0.15,), 0.0, Verdict.ALLOW),
        ("post", (0.4, 0.15), 0.0, Verdict.CHALLENGE),  # 0.49
        ("register", (0.4,), 0.0, Verdict.CHALLENGE),
        ("post", (0.7,), 0.0, Verdict.CHALLENGE),  # one high-severity artefact challenges a post…
        ("register", (0.7,), 0.0, Verdict.CHALLENGE),
        ("post", (0.9,), 0.0, Verdict.BLOCK),  # …a critical one (navigator.webdriver) blocks
        ("post", (0.9, 0.7), 0.0, Verdict.BLOCK),
        ("post", (), 0.99, Verdict.CHALLENGE),  # behaviour alone never blocks
        ("post", (0.4,), 0.9, Verdict.BLOCK),
    ],
)
def test_verdicts(action, weights, behaviour, verdict):
    d = engine().decide(action, assess(*weights, behaviour=behaviour))
    assert d.decision is verdict, d.score


def test_test_status_rules_are_recorded_but_do_not_score():
    d = engine().decide("register", assess(0.9, status="test"))
    assert d.decision is Verdict.ALLOW and d.score == 0
    assert d.rules[0].status == "test" and d.families == ()


def test_behaviour_can_block_when_configured():
    d = engine(TELL_POLICY_BEHAVIOUR_CAN_BLOCK="true").decide("post", assess(behaviour=0.999))
    assert d.decision is Verdict.BLOCK


def test_missing_telemetry_follows_policy():
    d = engine().decide("post", None)
    assert d.decision is Verdict.CHALLENGE and d.rules[0].id == MISSING_TELEMETRY
    d = engine(TELL_POLICY_MISSING_TELEMETRY="block").decide("post", None)
    assert d.decision is Verdict.BLOCK


def test_request_signals_add_to_token_evidence():
    info = RequestInfo.from_headers("POST", "/post", {"User-Agent": "python-requests/2.32"})
    d = engine().decide("post", assess(0.4), request=info)
    assert d.rules[0].id == "x.r0"


def test_every_decision_names_the_set_version_and_request_id():
    d = engine().decide("comment", assess())
    assert d.set_version == SET.version and len(d.request_id) == 32


def test_assessment_survives_the_token_round_trip():
    a = assess(0.4, 0.9, behaviour=0.3)
    b = Assessment.from_claims(a.to_claims())
    assert b.hits == a.hits and b.behaviour_score == a.behaviour_score
