import pytest

from edge.config import TokenConfig
from edge.tokens import TokenError, issue, session_binding, verify

CFG = TokenConfig(keys={"k1": "secret-one", "k0": "old-secret"}, active_kid="k1", ttl_s=60)


def test_round_trip_carries_claims():
    token, claims = issue(CFG, "sid", {"b": 0.25}, now=1000)
    got = verify(CFG, token, "sid", now=1001)
    assert got.data == {"b": 0.25} and got.jti == claims.jti and got.exp == 1060


def test_old_key_still_verifies_after_rotation():
    old = TokenConfig(keys={"k0": "old-secret"}, active_kid="k0")
    token, _ = issue(old, "sid", {}, now=1000)
    assert verify(CFG, token, "sid", now=1001).sid == "sid"


@pytest.mark.parametrize(
    "mutate, sid, now, reason",
    [
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "sid", 1001, "forged"),
        (lambda t: t.replace(".k1.", ".k9."), "sid", 1001, "unknown_key"),
        (lambda t: t, "sid", 1060, "expired"),
        (lambda t: t, "other-session", 1001, "wrong_session"),
        (lambda t: "garbage", "sid", 1001, "malformed"),
        (lambda t: "", "sid", 1001, "malformed"),
        (lambda t: t + "." + "x", "sid", 1001, "malformed"),
        (lambda t: "v1.k1." + "A" * 5000, "sid", 1001, "malformed"),
    ],
)
def test_refused_tokens_say_why(mutate, sid, now, reason):
    token, _ = issue(CFG, "sid", {}, now=1000)
    with pytest.raises(TokenError) as info:
        verify(CFG, mutate(token), sid, now=now)
    assert info.value.reason == reason


def test_claims_swapped_between_tokens_are_forged():
    a, _ = issue(CFG, "sid", {"b": 0.9}, now=1000)
    b, _ = issue(CFG, "sid", {"b": 0.0}, now=1000)
    pa, pb = a.split("."), b.split(".")
    with pytest.raises(TokenError, match="forged"):
        verify(CFG, ".".join(pa[:3] + pb[3:]), "sid", now=1001)


def test_session_binding_is_a_hash_not_the_cookie():
    assert session_binding("cookie-value") != "cookie-value"
    assert session_binding("") == "" and session_binding(None) == ""


def test_claims_are_not_readable_from_the_token():
    token, _ = issue(CFG, "sid", {"r": [["playwright.binding-globals", "playwright", 0.9, "stable"]]}, now=1000)
    import base64
    body = token.split(".")[2]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert b"playwright" not in raw and b"binding" not in raw
