"""Short-lived signed tokens: the verdict on a page's telemetry, carried to the protected write.

Format: ``v1.<kid>.<claims>.<mac>`` — claims are base64url(nonce ‖ AES-256-GCM(msgpack claims)),
mac is base64url(HMAC-SHA256(key[kid], "v1.<kid>.<claims>")). Keys rotate by id: every configured
key verifies, only the active one signs. A token is bound to a hash of the session cookie, so a
token lifted from one browser is worthless in another.

The claims carry the verdict on the page's telemetry (rule ids, behaviour reasons). They are
encrypted, not only signed: the token passes through the page, and readable claims would tell an
agent exactly which artefact gave it away.

Every token has a **purpose** inside its claims: ``telemetry`` (the page's verdict), ``challenge``
(a challenge's nonce and scope, edge/challenge.py) or ``clearance`` (a passed challenge, scoped to
one account and action). ``verify`` refuses a token of another purpose as ``wrong_purpose``: all
three share the keys, and a challenge token any challenged client holds must never pass as a
telemetry token (its empty verdict would allow the write).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge.config import TokenConfig

VERSION = "v1"
MAX_TOKEN_LEN = 4096
TELEMETRY, CHALLENGE, CLEARANCE = "telemetry", "challenge", "clearance"


class TokenError(ValueError):
    """Why a token was refused: ``reason`` is one of malformed, unknown_key, forged, expired,
    wrong_session, wrong_purpose, wrong_account, wrong_action, replayed."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _enc_key(secret: str) -> AESGCM:
    # A separate key for encryption, derived from the MAC secret (never the same key for both).
    return AESGCM(hmac.new(secret.encode(), b"tell-token-claims-v1", hashlib.sha256).digest())


def session_binding(cookie_value: str | None) -> str:
    """What a token is bound to: a hash of the session cookie (never the cookie itself)."""
    if not cookie_value:
        return ""
    return hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Claims:
    jti: str
    sid: str
    exp: int
    iat: int
    data: Mapping[str, Any] = field(default_factory=dict)
    purpose: str = TELEMETRY


def issue(cfg: TokenConfig, sid: str, data: Mapping[str, Any], *, now: float | None = None, ttl_s: int | None = None,
          purpose: str = TELEMETRY) -> tuple[str, Claims]:
    now = int(time.time() if now is None else now)
    claims = Claims(jti=secrets.token_hex(12), sid=sid, iat=now, exp=now + (ttl_s or cfg.ttl_s), data=dict(data), purpose=purpose)
    kid = cfg.active_kid
    packed = msgpack.packb({"j": claims.jti, "s": sid, "i": claims.iat, "e": claims.exp, "d": claims.data, "p": purpose},
                           use_bin_type=True)
    nonce = secrets.token_bytes(12)
    body = _b64e(nonce + _enc_key(cfg.keys[kid]).encrypt(nonce, packed, f"{VERSION}.{kid}".encode()))
    signed = f"{VERSION}.{kid}.{body}"
    mac = hmac.new(cfg.keys[kid].encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64e(mac)}", claims


def verify(cfg: TokenConfig, token: str, sid: str, *, now: float | None = None, purpose: str = TELEMETRY) -> Claims:
    if not token or len(token) > MAX_TOKEN_LEN:
        raise TokenError("malformed", "empty or too long")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise TokenError("malformed", "expected v1.<kid>.<claims>.<mac>")
    _, kid, body, mac_s = parts
    key = cfg.keys.get(kid)
    if key is None:
        raise TokenError("unknown_key", f"key id {kid[:16]!r} is not configured")
    try:
        mac = _b64d(mac_s)
    except (ValueError, TypeError):
        raise TokenError("malformed", "mac is not base64url") from None
    expected = hmac.new(key.encode(), f"{VERSION}.{kid}.{body}".encode(), hashlib.sha256).digest()
    # Constant-time: a forger must not learn the MAC byte by byte.
    if not hmac.compare_digest(mac, expected):
        raise TokenError("forged", "MAC does not verify")
    try:
        blob = _b64d(body)
        packed = _enc_key(key).decrypt(blob[:12], blob[12:], f"{VERSION}.{kid}".encode())
        raw = msgpack.unpackb(packed, raw=False, max_str_len=1024, max_bin_len=0, max_ext_len=0, max_array_len=256, max_map_len=64)
        claims = Claims(jti=str(raw["j"]), sid=str(raw["s"]), iat=int(raw["i"]), exp=int(raw["e"]), data=raw.get("d") or {},
                        purpose=str(raw.get("p", TELEMETRY)))
    except (InvalidTag, ValueError, TypeError, KeyError, msgpack.UnpackException):
        raise TokenError("malformed", "claims do not decode") from None
    if claims.purpose != purpose:
        raise TokenError("wrong_purpose", f"a {claims.purpose} token where a {purpose} token belongs")
    now = time.time() if now is None else now
    if now >= claims.exp:
        raise TokenError("expired", f"expired {int(now - claims.exp)} s ago")
    if not hmac.compare_digest(claims.sid, sid):
        raise TokenError("wrong_session", "token was issued to another session")
    return claims


def verify_scoped(cfg: TokenConfig, token: str, sid: str, *, purpose: str, account: str | None, action: str,
                  now: float | None = None) -> Claims:
    """``verify``, then the scope a challenge or clearance token was issued for: claims ``a``
    (account id, ``""`` for none) and ``x`` (action) must match the write's."""
    claims = verify(cfg, token, sid, now=now, purpose=purpose)
    if claims.data.get("a") != (account or ""):
        raise TokenError("wrong_account", "issued for another account")
    if claims.data.get("x") != action:
        raise TokenError("wrong_action", f"issued for {str(claims.data.get('x'))[:16]!r}, not {action!r}")
    return claims
