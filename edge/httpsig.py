"""Declared agents: verify RFC 9421 HTTP Message Signatures the Web Bot Auth way.

An agent that signs its requests (``Signature-Input``, ``Signature``, ``Signature-Agent``) says who
it is in a way Tell can check: Ed25519 over a signature base built from covered components, a
``keyid`` that is the key's JWK thumbprint (RFC 7638), ``tag="web-bot-auth"``, and a validity
window (``created``/``expires``). The public keys come from a directory of JWKS files on disk,
read once at start — never fetched at decision time, where an attacker could make Tell wait on or
talk to a host of their choosing.

``verify`` never raises for anything a client sends: every outcome is a ``Verification`` with a
status an analyst can read (``verified``, ``bad-signature``, ``expired``…). A verified agent is
*labelled*, not trusted: the policy ``network.declared_agent_writes`` says what it may write.

References: RFC 9421 (HTTP Message Signatures), RFC 8941/9651 (Structured Fields), RFC 7638 (JWK
thumbprint), RFC 8037 (OKP/Ed25519 JWK), draft-meunier-web-bot-auth-architecture and
draft-meunier-http-message-signatures-directory (Signature-Agent, key directory).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import http_sf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_sf.innerlist import ser_innerlist, ser_item_or_inner_list
from http_sf.item import ser_item

TAG = "web-bot-auth"
# Clocks drift; a signature created a few seconds "in the future" is a slow clock, not an attack.
DEFAULT_SKEW_S = 60
# A signature valid for longer than this is a replayable bearer credential: refuse it.
MAX_VALIDITY_S = 24 * 3600
# Bounds on attacker-controlled input before any parsing or crypto work.
MAX_FIELD_BYTES = 8192
MAX_COMPONENTS = 32

# Verification statuses, stable strings (they are a feature value that rules match).
VERIFIED = "verified"
ABSENT = "absent"
MALFORMED = "malformed"
NO_WEB_BOT_AUTH = "no-web-bot-auth"
UNSUPPORTED = "unsupported"
UNKNOWN_KEY = "unknown-key"
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"
MISSING_COMPONENT = "missing-component"
BAD_SIGNATURE = "bad-signature"
AGENT_MISMATCH = "agent-mismatch"
STATUSES = (VERIFIED, ABSENT, MALFORMED, NO_WEB_BOT_AUTH, UNSUPPORTED, UNKNOWN_KEY, EXPIRED, NOT_YET_VALID,
            MISSING_COMPONENT, BAD_SIGNATURE, AGENT_MISMATCH)


class KeyDirectoryError(ValueError):
    """A key directory file is unreadable or malformed; the message names the file."""


def _b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an OKP key, base64url without padding (Web Bot Auth's keyid)."""
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class AgentKey:
    agent: str
    keyid: str
    public_key: Ed25519PublicKey = field(repr=False, compare=False)
    # Signature-Agent values (directory URLs) this agent may declare; empty: not checked.
    signature_agents: tuple[str, ...] = ()


class KeyDirectory:
    """keyid → AgentKey, from JWKS files. Immutable once built."""

    def __init__(self, keys: Mapping[str, AgentKey] | None = None):
        self._keys = dict(keys or {})

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, keyid: str) -> AgentKey | None:
        return self._keys.get(keyid)

    @classmethod
    def from_jwks(cls, agent: str, jwks: Mapping[str, Any], *, source: str = "<jwks>",
                  signature_agents: tuple[str, ...] = ()) -> "KeyDirectory":
        return cls(_agent_keys(agent, jwks, source, signature_agents))

    @classmethod
    def load(cls, directory: str | Path) -> "KeyDirectory":
        """Every ``*.json`` in ``directory``: a JWKS (``{"keys": [...]}``, e.g. a saved
        ``/.well-known/http-message-signatures-directory``), optionally with ``"agent"`` (display
        name; default: the file name) and ``"signature_agent"`` (the Signature-Agent URLs the agent
        may declare). Empty ``directory``: no declared agents."""
        if not directory:
            return cls()
        root = Path(directory)
        if not root.is_dir():
            raise KeyDirectoryError(f"network.agent_keys_dir: {root} is not a directory")
        keys: dict[str, AgentKey] = {}
        for path in sorted(root.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise KeyDirectoryError(f"{path}: not a readable JSON file: {exc}") from None
            if not isinstance(doc, dict):
                raise KeyDirectoryError(f"{path}: expected a JWKS object with a 'keys' array")
            agent = doc.get("agent", path.stem)
            sa = doc.get("signature_agent", [])
            sa = [sa] if isinstance(sa, str) else sa
            if not isinstance(agent, str) or not isinstance(sa, list) or not all(isinstance(u, str) for u in sa):
                raise KeyDirectoryError(f"{path}: 'agent' must be a string and 'signature_agent' a string or list of strings")
            for kid, key in _agent_keys(agent, doc, str(path), tuple(sa)).items():
                if kid in keys and keys[kid].agent != key.agent:
                    raise KeyDirectoryError(f"{path}: key {kid} is already listed for agent {keys[kid].agent!r}")
                keys[kid] = key
        return cls(keys)


def _agent_keys(agent: str, jwks: Mapping[str, Any], source: str, signature_agents: tuple[str, ...]) -> dict[str, AgentKey]:
    out: dict[str, AgentKey] = {}
    jwk_list = jwks.get("keys")
    if not isinstance(jwk_list, list):
        raise KeyDirectoryError(f"{source}: expected a JWKS object with a 'keys' array")
    for i, jwk in enumerate(jwk_list):
        where = f"{source}: keys[{i}]"
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
            raise KeyDirectoryError(f"{where}: only Ed25519 keys are supported (kty OKP, crv Ed25519, x)")
        try:
            raw = _b64url_decode(jwk["x"])
            public = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise KeyDirectoryError(f"{where}: 'x' is not a base64url Ed25519 public key ({exc})") from None
        kid = jwk_thumbprint(jwk)
        out[kid] = AgentKey(agent, kid, public, signature_agents)
    return out


@dataclass(frozen=True, slots=True)
class Message:
    """The request as the signer saw it. Header names lower-case."""

    method: str
    authority: str
    path: str
    query: str = ""
    scheme: str = "https"
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def target_uri(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}" + (f"?{self.query}" if self.query else "")

    @classmethod
    def from_request(cls, req: Any) -> "Message":
        """From a ``fingerprints.RequestInfo`` as a gateway forwarded it: the original host is in
        ``X-Forwarded-Host`` (or ``Host``), the scheme in ``X-Forwarded-Proto``."""
        h = req.headers
        host = (h.get("x-forwarded-host") or h.get("host") or "").split(",")[0].strip()
        scheme = (h.get("x-forwarded-proto") or "https").split(",")[0].strip().lower()
        return cls(method=req.method, authority=_authority(host, scheme), path=req.path or "/",
                   query=getattr(req, "query", ""), scheme=scheme, headers=h)


def _authority(host: str, scheme: str) -> str:
    # RFC 9421 2.2.3: lower-cased, default port omitted.
    host = host.lower()
    for default, port in (("https", ":443"), ("http", ":80")):
        if scheme == default and host.endswith(port):
            return host[: -len(port)]
    return host


@dataclass(frozen=True, slots=True)
class Verification:
    status: str
    reason: str
    agent: str | None = None
    keyid: str | None = None
    label: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED

    def features(self) -> dict[str, Any]:
        """Request features for the rule engine (catalog: ``req_agent_signature``, ``req_agent_name``)."""
        f: dict[str, Any] = {"req_agent_signature": self.status}
        if self.agent is not None:
            f["req_agent_name"] = self.agent
        return f


class _Reject(Exception):
    def __init__(self, status: str, reason: str):
        self.status, self.reason = status, reason


def _parse_dict(name: str, value: str) -> dict:
    raw = value.encode("latin-1", "replace")
    if len(raw) > MAX_FIELD_BYTES:
        raise _Reject(MALFORMED, f"{name} longer than {MAX_FIELD_BYTES} bytes")
    try:
        parsed = http_sf.parse(raw, tltype="dictionary")
    except ValueError as exc:  # StructuredFieldError is a ValueError
        raise _Reject(MALFORMED, f"{name} is not a structured-field dictionary: {exc}") from None
    return parsed  # type: ignore[return-value]


def _component_value(msg: Message, name: str, params: dict) -> str:
    """One line's value in the signature base (RFC 9421 2.1, 2.2)."""
    if name.startswith("@"):
        if params:
            raise _Reject(UNSUPPORTED, f"parameters on derived component {name} are not supported")
        if name == "@method":
            return msg.method.upper()
        if name == "@authority":
            return msg.authority
        if name == "@path":
            return msg.path or "/"
        if name == "@query":
            return f"?{msg.query}"
        if name == "@target-uri":
            return msg.target_uri
        if name == "@scheme":
            return msg.scheme
        if name == "@request-target":
            return msg.path + (f"?{msg.query}" if msg.query else "")
        raise _Reject(UNSUPPORTED, f"derived component {name} is not supported")
    if name != name.lower():
        raise _Reject(MALFORMED, f"component {name!r} must be lower-case")
    if name not in msg.headers:
        raise _Reject(MISSING_COMPONENT, f"covered header {name!r} is not in the request")
    value = msg.headers[name].strip()
    extra = set(params) - {"key", "sf"}
    if extra:
        raise _Reject(UNSUPPORTED, f"component parameter {', '.join(sorted(extra))} on {name!r} is not supported")
    if "key" in params:
        # RFC 9421 2.1.2: one member of a Dictionary Structured Field, re-serialized.
        member = _parse_dict(name, value).get(str(params["key"]))
        if member is None:
            raise _Reject(MISSING_COMPONENT, f"{name!r} has no member {params['key']!r}")
        return ser_item_or_inner_list(member)
    if params.get("sf"):
        try:
            return ser_item(http_sf.parse(value.encode("latin-1", "replace"), tltype="item"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise _Reject(MALFORMED, f"{name!r} is not a structured field: {exc}") from None
    return value


def signature_base(msg: Message, components: list, params: dict) -> bytes:
    """RFC 9421 2.5: one ``"identifier": value`` line per covered component, then @signature-params."""
    lines = []
    seen = set()
    for item in components:
        name, cparams = item
        if not isinstance(name, str):
            raise _Reject(MALFORMED, "component identifiers must be strings")
        ident = ser_item((name, cparams))
        if ident in seen:
            raise _Reject(MALFORMED, f"component {ident} is covered twice")
        seen.add(ident)
        lines.append(f"{ident}: {_component_value(msg, name, cparams)}")
    lines.append(f'"@signature-params": {ser_innerlist((components, params))}')
    return "\n".join(lines).encode("utf-8")


def _declared_agents(msg: Message) -> list[str]:
    """The Signature-Agent URL(s): an sf-string (early drafts) or a dictionary of them (later ones)."""
    raw = msg.headers.get("signature-agent")
    if raw is None:
        return []
    data = raw.strip().encode("latin-1", "replace")
    try:
        item = http_sf.parse(data, tltype="item")
        values = [item[0]]  # type: ignore[index]
    except ValueError:
        try:
            values = [m[0] for m in http_sf.parse(data, tltype="dictionary").values()]  # type: ignore[union-attr]
        except ValueError:
            return [raw.strip()]
    return [v if isinstance(v, str) else str(v) for v in values]


def verify(msg: Message, keys: KeyDirectory, *, now: float | None = None, skew_s: float = DEFAULT_SKEW_S) -> Verification:
    """Verify the request's Web Bot Auth signature. Never raises on client input."""
    h = msg.headers
    if "signature-input" not in h and "signature" not in h:
        return Verification(ABSENT, "no Signature-Input / Signature headers")
    if "signature-input" not in h:
        return Verification(MALFORMED, "Signature without Signature-Input")
    if "signature" not in h:
        return Verification(MALFORMED, "Signature-Input without Signature")
    now = time.time() if now is None else now
    label = None
    try:
        inputs = _parse_dict("Signature-Input", h["signature-input"])
        sigs = _parse_dict("Signature", h["signature"])
        candidates = [(lbl, v) for lbl, v in inputs.items()
                      if isinstance(v, tuple) and isinstance(v[0], list) and v[1].get("tag") == TAG]
        if not candidates:
            if not all(isinstance(v, tuple) and isinstance(v[0], list) for v in inputs.values()):
                raise _Reject(MALFORMED, "Signature-Input members must be inner lists of components")
            raise _Reject(NO_WEB_BOT_AUTH, f'no signature with tag="{TAG}"')
        label, (components, params) = candidates[0]
        return _verify_one(msg, keys, label, components, params, sigs.get(label), now, skew_s)
    except _Reject as r:
        return Verification(r.status, r.reason, label=label)
    except Exception as exc:  # noqa: BLE001 - a defect here must cost a label, never a 500 on a write
        return Verification(MALFORMED, f"could not verify: {type(exc).__name__}", label=label)


def _verify_one(msg: Message, keys: KeyDirectory, label: str, components: list, params: dict,
                sig_member: Any, now: float, skew_s: float) -> Verification:
    if len(components) > MAX_COMPONENTS:
        raise _Reject(MALFORMED, f"more than {MAX_COMPONENTS} covered components")
    keyid, created, expires, alg = params.get("keyid"), params.get("created"), params.get("expires"), params.get("alg")
    if not isinstance(keyid, str) or not keyid:
        raise _Reject(MALFORMED, "keyid missing or not a string")
    for pname, v in (("created", created), ("expires", expires)):
        if type(v) is not int:
            raise _Reject(MALFORMED, f"{pname} missing or not an integer")
    if alg is not None and alg != "ed25519":
        raise _Reject(UNSUPPORTED, f"alg {alg!r} is not supported (ed25519 only)")
    if expires <= created or expires - created > MAX_VALIDITY_S:
        raise _Reject(MALFORMED, f"validity window must be positive and at most {MAX_VALIDITY_S}s")
    if created > now + skew_s:
        raise _Reject(NOT_YET_VALID, f"created {int(created - now)}s in the future")
    if expires < now - skew_s:
        raise _Reject(EXPIRED, f"expired {int(now - expires)}s ago")
    names = {c[0] for c in components}
    if "@authority" not in names and "@target-uri" not in names:
        raise _Reject(MISSING_COMPONENT, "@authority (or @target-uri) is not covered")
    if "signature-agent" in msg.headers and "signature-agent" not in names:
        raise _Reject(MISSING_COMPONENT, "Signature-Agent is sent but not covered by the signature")
    key = keys.get(keyid)
    if key is None:
        raise _Reject(UNKNOWN_KEY, f"keyid {keyid[:64]!r} is not in the key directory")
    if not (isinstance(sig_member, tuple) and isinstance(sig_member[0], bytes)):
        raise _Reject(MALFORMED, f"Signature has no byte-sequence member {label!r}")
    base = signature_base(msg, components, params)
    try:
        key.public_key.verify(sig_member[0], base)
    except InvalidSignature:
        raise _Reject(BAD_SIGNATURE, "Ed25519 signature does not match the signature base") from None
    if key.signature_agents:
        declared = _declared_agents(msg)
        if declared and not set(declared) & set(key.signature_agents):
            raise _Reject(AGENT_MISMATCH, f"Signature-Agent {declared[0][:100]!r} is not {key.agent!r}'s directory")
    return Verification(VERIFIED, f"declared agent {key.agent!r} (RFC 9421 signature, keyid {keyid[:12]}…)",
                        agent=key.agent, keyid=keyid, label=label)


def verify_request(req: Any, keys: KeyDirectory, *, now: float | None = None, skew_s: float = DEFAULT_SKEW_S) -> Verification | None:
    """For a ``RequestInfo``: ``None`` when the request carries no signature at all."""
    h = req.headers
    if "signature-input" not in h and "signature" not in h:
        return None
    return verify(Message.from_request(req), keys, now=now, skew_s=skew_s)


def sign(msg: Message, private_key: Any, *, components: tuple[str, ...] = ("@authority", "@method", "@path", "signature-agent"),
         created: int | None = None, expires: int | None = None, label: str = "sig1", nonce: str | None = None) -> dict[str, str]:
    """Sign ``msg`` as a Web Bot Auth agent would: the ``Signature-Input`` and ``Signature`` headers.
    For tests, examples and the operator's own agents; Tell itself only verifies."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    created = int(time.time()) if created is None else created
    params: dict[str, Any] = {"created": created, "expires": expires if expires is not None else created + 300,
                              "keyid": jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": x}), "alg": "ed25519"}
    if nonce is not None:
        params["nonce"] = nonce
    params["tag"] = TAG
    items = [(c, {}) for c in components if not (c == "signature-agent" and c not in msg.headers)]
    base = signature_base(msg, items, params)
    sig = private_key.sign(base)
    return {"Signature-Input": f"{label}={ser_innerlist((items, params))}",
            "Signature": f"{label}=:{base64.b64encode(sig).decode()}:"}
