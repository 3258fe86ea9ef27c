"""Configuration: one TOML file with documented defaults, every key overridable by environment.

The effective configuration is frozen when the app starts (``Config`` is a frozen dataclass);
changing it afterwards is an error, not a surprise. ``TELL_<SECTION>_<KEY>`` overrides
``[section] key``; top-level keys use ``TELL_<KEY>``. See docs/configuration.md.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edge.decision import ACTIONS

DEFAULT_SIGNATURES = str(Path(__file__).resolve().parent.parent / "signatures" / "sets")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    challenge: float
    block: float


def _default_policy() -> dict[str, Thresholds]:
    # Registration is where "run directly through AI tools" accounts are born: be strictest there.
    return {
        "register": Thresholds(challenge=0.35, block=0.75),
        "post": Thresholds(challenge=0.45, block=0.85),
        "comment": Thresholds(challenge=0.45, block=0.85),
        "message": Thresholds(challenge=0.45, block=0.85),
    }


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    thresholds: Mapping[str, Thresholds] = field(default_factory=_default_policy)
    # How much the behavioural score counts next to rule evidence (noisy-or weight).
    behaviour_weight: float = 0.9
    # Behaviour alone may challenge but never block: blocking needs a matched rule.
    behaviour_can_block: bool = False
    # A protected write that carries neither token nor telemetry.
    missing_telemetry: str = "challenge"
    # What to do when the store is unreachable: "fail_open" allows and flags, "fail_closed" challenges.
    fail_mode: str = "fail_open"


@dataclass(frozen=True, slots=True)
class TokenConfig:
    # key id -> secret. Old keys verify until removed; ``active_kid`` signs.
    keys: Mapping[str, str] = field(default_factory=dict)
    active_kid: str = ""
    ttl_s: int = 300
    cookie: str = "tell_sid"
    # How many protected writes one token may authorise (counted fleet-wide in the store). Not 1:
    # a person's double click or a retried submit re-sends the same token; a few uses cover that,
    # while a token lifted and replayed at volume is refused as ``replayed``. 0 disables the count.
    max_uses: int = 3


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    # Header in which the gateway forwards the client's TLS fingerprint (JA4 or JA3), if any.
    tls_fingerprint_header: str = "X-JA4"
    # Directory of declared agents' public keys (RFC 9421 / Web Bot Auth), read at start; no
    # network fetch at decision time.
    agent_keys_dir: str = ""
    # What a verified, declared agent may do on a write: "allow", "challenge" or "block".
    declared_agent_writes: str = "challenge"


@dataclass(frozen=True, slots=True)
class LogConfig:
    # JSON lines (edge/logs.py, docs/operations.md): one per decision at "info".
    level: str = "info"
    # "stderr", "stdout" or a file path (reopened if logrotate moves it).
    destination: str = "stderr"

    def __post_init__(self) -> None:
        if self.level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError("log.level: one of debug, info, warning, error, critical")


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    # Decisions the store could not take wait in memory, oldest first, and are replayed when it is
    # back (edge/buffer.py). At most this many; past it the oldest is dropped and counted.
    buffer_max: int = 10_000
    # Replay back-off: the first retry after this long, doubling up to retry_max_s.
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    # A ledger write not acknowledged within this long is answered under policy.fail_mode; the
    # write itself goes on, and is buffered if it then fails.
    write_timeout_s: float = 1.0
    # At shutdown, how long to keep handing buffered decisions to the store before giving up.
    flush_on_shutdown_s: float = 5.0
    # Decisions older than this many days are deleted from the ledger (0 keeps them forever);
    # checked every purge_interval_s. Enforcement state, events and reports are kept.
    retention_days: float = 90.0
    purge_interval_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    # A request body (telemetry, admin JSON) must arrive in full within this long: 408 otherwise.
    body_timeout_s: float = 10.0
    # Idle time before an idle connection is closed; also how long a new connection may take to
    # send its first request head (aiohttp starts this timer when the connection opens).
    keepalive_timeout_s: float = 15.0
    # Connections served at once per listener. At the cap, a new connection displaces the oldest
    # one that has not sent a complete request head (slowloris); if none can go, it gets a 503.
    max_connections: int = 1024
    # HTTP parser limits: request line and each header field, in bytes; header count.
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 100
    backlog: int = 512
    # On SIGTERM/SIGINT: how long in-flight requests get to finish.
    shutdown_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class VelocityConfig:
    """How many writes of each action one account may make in a window before the next is
    challenged (edge/velocity.py). Limits are rate strings: ``"20/hour"``, ``"5 per 10 minutes"``;
    ``""`` turns an action's limit off. ``register`` is counted per client address (there is no
    account yet), the others per account."""

    post: str = "20/hour"
    comment: str = "60/hour"
    message: str = "120/hour"
    # Off by default: many people share one address (mobile carriers, offices). Behind a gateway
    # that passes the real client address (X-Forwarded-For), "10/hour" is a reasonable start.
    register: str = ""

    def __post_init__(self) -> None:
        from edge.velocity import parse_limit

        for action in ("post", "comment", "message", "register"):
            try:
                parse_limit(getattr(self, action))
            except ValueError as exc:
                raise ConfigError(f"velocity.{action}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ChallengeConfig:
    """What a challenge asks and what passing or failing it means (edge/challenge.py, docs/challenge.md)."""

    # Actions whose challenge verdict comes with a solvable challenge (comma-separated); a challenged
    # write of another action is answered 401 with nothing to solve.
    actions: str = "register,post,comment,message"
    # Proof of work: leading zero bits of SHA-256(nonce ‖ counter). Each bit doubles the expected work.
    pow_bits: int = 16
    # How long a challenge can be solved after it was issued.
    ttl_s: int = 300
    # The interaction: "hold" (press and hold a button) or "drag" (drag a handle along a track);
    # both can be done with Space/Enter held on the focused control instead.
    interaction: str = "hold"
    hold_ms: int = 1500
    # A passed challenge yields a clearance for one account and action, valid this long, this many times.
    clearance_ttl_s: int = 120
    clearance_max_uses: int = 1
    # Failed (or skipped) challenges within the window, per account and per session, that turn the
    # next challenge into a block.
    failures_before_block: int = 3
    failure_window_s: int = 3600
    # The interaction fails at this behaviour score (fingerprints.behaviour; 0.5 is where it challenges).
    behaviour_max: float = 0.5
    # The challenge fails when the rule evidence on the challenge page (signatures and its deep
    # probes) reaches this, or the action's block threshold if lower: one critical artefact
    # (navigator.webdriver, 0.9) fails it, a software renderer (0.15) does not.
    device_max: float = 0.85
    # Language of the challenge text when neither navigator.language nor Accept-Language names one shipped.
    locale: str = "en"

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.pow_bits <= 32:
            problems.append("pow_bits must be within 0..32")
        if self.interaction not in ("hold", "drag"):
            problems.append("interaction: one of hold, drag")
        for name in ("ttl_s", "hold_ms", "clearance_ttl_s", "clearance_max_uses", "failures_before_block", "failure_window_s"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if not 0 < self.behaviour_max <= 1:
            problems.append("behaviour_max must be within (0, 1]")
        if not 0 < self.device_max <= 1:
            problems.append("device_max must be within (0, 1]")
        unknown = [a for a in self.action_set if a not in ACTIONS]
        if unknown:
            problems.append(f"actions: unknown {', '.join(unknown)} (one of {', '.join(ACTIONS)})")
        if problems:
            raise ConfigError("challenge." + "; challenge.".join(problems))

    @property
    def action_set(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.actions.split(",") if a.strip())


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8787
    # A separate listener for the admin API (accounts, decisions, reports, review, signatures,
    # dashboard, metrics). When admin_port is set those routes answer only there (404 on the
    # public listener). 0: everything on the one listener, admin routes behind the bearer token.
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
    admin_token: str = ""
    store: str = "sqlite:///tell.sqlite3"
    signatures: str = DEFAULT_SIGNATURES
    # Poll the signature directory for changes every N seconds (0 disables; SIGHUP and
    # POST /v1/signatures/reload always work).
    signatures_poll_s: float = 2.0
    account_header: str = "X-Tell-Account"
    # Sidecar: original-URI path prefix -> action, for gateways that cannot say the action themselves.
    routes: Mapping[str, str] = field(
        default_factory=lambda: {"/register": "register", "/post": "post", "/comment": "comment", "/message": "message"}
    )
    trust_forwarded_for: bool = True
    # Show rule ids, families and reasons to the client on pages and headers of the embedded
    # middleware. Off by default: the client may be the agent, and evidence teaches it what to
    # hide. The sidecar API always returns evidence (to the gateway, not the client).
    expose_evidence: bool = False
    max_body_bytes: int = 262_144
    tokens: TokenConfig = field(default_factory=TokenConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    challenge: ChallengeConfig = field(default_factory=ChallengeConfig)
    velocity: VelocityConfig = field(default_factory=VelocityConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # Account enforcement policy (edge/enforcement.py, docs/enforcement.md); keys override defaults.
    enforcement: Mapping[str, Any] = field(default_factory=dict)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked (for ``tell config show``)."""
        d = _plain(self)
        if d["admin_token"]:
            d["admin_token"] = "***"
        d["tokens"]["keys"] = {k: "***" for k in d["tokens"]["keys"]}
        return d


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _coerce(key: str, value: Any, typ: Any) -> Any:
    try:
        if typ is bool or typ == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if typ is int or typ == "int":
            return int(value)
        if typ is float or typ == "float":
            return float(value)
        if typ is str or typ == "str":
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot read {value!r} as {getattr(typ, '__name__', typ)}") from exc
    return value


def _merge(cls: type, data: Mapping[str, Any], env: Mapping[str, str], prefix: str, path: str) -> Any:
    kwargs: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in known:
            raise ConfigError(f"{path}{k}: unknown configuration key")
    for f in dataclasses.fields(cls):
        key = f"{path}{f.name}"
        env_name = f"{prefix}{f.name.upper()}"
        value = data.get(f.name, dataclasses.MISSING)
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
        if dataclasses.is_dataclass(sub):
            if value is not dataclasses.MISSING and not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table")
            kwargs[f.name] = _merge(type(sub), value if value is not dataclasses.MISSING else {}, env, env_name + "_", key + ".")
            continue
        if env_name in env:
            raw = env[env_name]
            value = json.loads(raw) if isinstance(sub, Mapping) else raw
        if value is dataclasses.MISSING:
            continue
        if isinstance(sub, Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table")
            if f.name == "thresholds":
                value = _thresholds(key, value)
            kwargs[f.name] = dict(value)
        else:
            kwargs[f.name] = _coerce(key, value, f.type)
    return cls(**kwargs)


def _thresholds(key: str, value: Mapping[str, Any]) -> dict[str, Thresholds]:
    out = _default_policy()
    for action, t in value.items():
        if action not in ACTIONS:
            raise ConfigError(f"{key}.{action}: unknown action (one of {', '.join(ACTIONS)})")
        try:
            th = Thresholds(challenge=float(t["challenge"]), block=float(t["block"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{key}.{action}: needs numeric 'challenge' and 'block'") from exc
        if not 0 <= th.challenge <= th.block <= 1:
            raise ConfigError(f"{key}.{action}: need 0 <= challenge <= block <= 1")
        out[action] = th
    return out


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Read the TOML file (``path`` or ``$TELL_CONFIG``), apply ``TELL_*`` environment, then ``overrides``."""
    env = os.environ if env is None else env
    path = path or env.get("TELL_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
    data.update({k: v for k, v in overrides.items() if v is not None})
    cfg = _merge(Config, data, env, "TELL_", "")
    # A single secret from the environment is the common case: TELL_SECRET signs as key "k1".
    tokens = cfg.tokens
    if not tokens.keys:
        secret = env.get("TELL_SECRET") or ""
        keys = {"k1": secret} if secret else {"dev": secrets.token_hex(32)}
        tokens = dataclasses.replace(tokens, keys=keys, active_kid=next(iter(keys)))
    elif not tokens.active_kid:
        tokens = dataclasses.replace(tokens, active_kid=next(iter(tokens.keys)))
    if tokens.active_kid not in tokens.keys:
        raise ConfigError(f"tokens.active_kid: {tokens.active_kid!r} is not among tokens.keys")
    if cfg.policy.fail_mode not in ("fail_open", "fail_closed"):
        raise ConfigError("policy.fail_mode: one of fail_open, fail_closed")
    if cfg.policy.missing_telemetry not in ("allow", "challenge", "block"):
        raise ConfigError("policy.missing_telemetry: one of allow, challenge, block")
    from edge.enforcement import EnforcementPolicy

    try:
        EnforcementPolicy.from_mapping(cfg.enforcement)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for prefix, action in cfg.routes.items():
        if action not in ACTIONS:
            raise ConfigError(f"routes.{prefix}: unknown action {action!r}")
    _check_bounds(cfg)
    return dataclasses.replace(cfg, tokens=tokens)


def _check_bounds(cfg: Config) -> None:
    """Numbers that would disable a protection by accident (a zero timeout, a negative cap)."""
    positive = {
        "ledger.buffer_max": cfg.ledger.buffer_max, "ledger.retry_initial_s": cfg.ledger.retry_initial_s,
        "ledger.retry_max_s": cfg.ledger.retry_max_s, "ledger.write_timeout_s": cfg.ledger.write_timeout_s,
        "ledger.purge_interval_s": cfg.ledger.purge_interval_s,
        "limits.body_timeout_s": cfg.limits.body_timeout_s, "limits.keepalive_timeout_s": cfg.limits.keepalive_timeout_s,
        "limits.max_connections": cfg.limits.max_connections, "limits.max_line_size": cfg.limits.max_line_size,
        "limits.max_field_size": cfg.limits.max_field_size, "limits.max_headers": cfg.limits.max_headers,
        "limits.backlog": cfg.limits.backlog,
    }
    for key, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{key}: must be > 0")
    for key, value in {"ledger.retention_days": cfg.ledger.retention_days, "ledger.flush_on_shutdown_s": cfg.ledger.flush_on_shutdown_s,
                       "limits.shutdown_timeout_s": cfg.limits.shutdown_timeout_s, "tokens.max_uses": cfg.tokens.max_uses,
                       "admin_port": cfg.admin_port}.items():
        if value < 0:
            raise ConfigError(f"{key}: must be >= 0")
    if cfg.ledger.retry_max_s < cfg.ledger.retry_initial_s:
        raise ConfigError("ledger.retry_max_s: must be >= ledger.retry_initial_s")
    if cfg.admin_port and cfg.admin_port == cfg.port and cfg.admin_host == cfg.host:
        raise ConfigError("admin_port: must differ from port (the admin listener is a separate socket)")
