"""Challenge and clearance: what a ``challenge`` verdict asks of the browser, and what passing buys.

A challenged write (401) names a **challenge**: a ``challenge``-purpose token (edge/tokens.py) that
carries, encrypted, a random proof-of-work nonce, the difficulty, the interaction, the session it is
bound to and the account and action it was issued for. The browser (``edge/static/challenge.js``)
fetches its parameters, computes the proof of work in a Web Worker, runs the deep probes, asks for an
interaction (press and hold, or drag; Space/Enter held on the focused control works too), and posts
the interaction's telemetry — the same schema as every other payload — to ``/edge/challenge/solve``.

One attempt per challenge (counted fleet-wide with ``store.use_token``). The attempt passes when the
proof of work is right, the interaction was done by trusted input, the behaviour model finds the
interaction's input human (``fingerprints.behaviour``) and the signature rules on the challenge page
stay under the action's block threshold. A pass yields a **clearance**: a token for one session,
account and action, valid ``clearance_ttl_s`` for ``clearance_max_uses`` writes. The next write
presents it (``X-Tell-Clearance`` or the ``tell_clearance`` form field) and a challenge verdict
becomes allow; a block stays a block.

Every attempt is recorded in the account's ledger (``tell.challenge-passed`` / ``tell.challenge-failed``).
Failed attempts, challenges never attempted, and rejected clearances are counted per session and per
account in fixed windows; at ``failures_before_block`` the next challenged write is blocked
(``tell.challenge-exhausted``). Design and measured figures: docs/challenge.md.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from aiohttp import web

from edge import telemetry as tm
from edge import tokens
from edge.config import ChallengeConfig, Config
from edge.decision import Decision, RuleHit, Verdict
from edge.enforcement import CHALLENGE_FAILED, CHALLENGE_PASSED
from edge.engine import Assessment
from edge.keys import CONFIG, STORE
from edge.store import Store, StoreError

log = logging.getLogger("tell")

STATIC = Path(__file__).resolve().parent / "static"
I18N = Path(__file__).resolve().parent / "i18n"

# Synthetic evidence ids (family "none", like tell.missing-telemetry): an analyst reading a ledger
# sees what happened at a challenge without a signature having matched.
PASSED = CHALLENGE_PASSED  # (edge/enforcement.py: an attempt is not a public write)
FAILED = CHALLENGE_FAILED
SKIPPED = "tell.challenge-skipped"
EXHAUSTED = "tell.challenge-exhausted"
CLEARED = "tell.clearance"
CLEARANCE_INVALID = "tell.clearance-invalid"
WORKER_MISMATCH = "tell.challenge-worker-mismatch"

CHALLENGE_PATH = "/edge/challenge"
# The drag track's travel in CSS px (challenge.js draws it this long); a drag must cover 90% of it.
DRAG_PX = 180
# Timer granularity and the frame on which the widget notices the bar is full.
HOLD_TOLERANCE_MS = 50.0
# A drag shorter than this is a flick, not a hand moving a handle.
DRAG_MIN_MS = 300.0
# A press this close to the exact centre of a control (both axes, px) is a computed click point.
CENTRE_TOL_PX = 0.5
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
STORE_ERRORS = (StoreError, OSError, ConnectionError)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One issued challenge: the URL the 401 names, and when it stops being solvable."""

    url: str
    token: str
    expires: int


# --- proof of work ---------------------------------------------------------------------------------

def leading_zero_bits(digest: bytes) -> int:
    n = 0
    for byte in digest:
        if byte:
            return n + 8 - byte.bit_length()
        n += 8
    return n


def pow_input(nonce: bytes, counter: int) -> bytes:
    """What the worker hashes: the challenge's nonce, then the counter as 8 bytes big-endian."""
    return nonce + counter.to_bytes(8, "big")


def pow_valid(nonce: bytes, counter_text: str | None, bits: int) -> bool:
    if not counter_text or len(counter_text) > 16 or not (counter_text.isascii() and counter_text.isdigit()):
        return False
    counter = int(counter_text)
    if counter >= 2**53:  # the worker counts in JS numbers
        return False
    return leading_zero_bits(hashlib.sha256(pow_input(nonce, counter)).digest()) >= bits


# --- the interaction, read from the events -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Interaction:
    complete: bool
    modality: str | None  # "pointer", "touch", "keyboard"
    held_ms: float
    dragged_px: float
    reason: str


@dataclass
class _Press:
    modality: str
    start: float
    trusted: bool
    cls: str = ""
    x0: float = 0.0
    x_max: float = 0.0
    end: float | None = None
    centre: bool = False  # pressed within CENTRE_TOL_PX of the exact centre of a large control


def _at_centre(md: Sequence[Any], pd: Sequence[Any] | None) -> bool:
    """Whether a press landed within CENTRE_TOL_PX of its target's exact centre. Chromium gives mouse
    events whole-pixel coordinates but pointer events fractional ones: the box centre is
    ``md.x - md.ox`` (both from the same whole-pixel clientX), and the pointerdown just before says
    where the press really was."""
    x, y, ox, oy = (float(v) for v in (md[3], md[4], md[6], md[7]))
    if pd is not None and len(pd) > 4 and 0 <= float(md[1]) - float(pd[1]) <= 50:
        ox, oy = float(pd[3]) - (x - ox), float(pd[4]) - (y - oy)
    return abs(ox) <= CENTRE_TOL_PX and abs(oy) <= CENTRE_TOL_PX


def find_interaction(events: Sequence[Sequence[Any]], *, kind: str, hold_ms: float, drag_px: float = DRAG_PX,
                     sent_ms: float | None = None) -> Interaction:
    """The best press in the challenge's events, and whether it completes the interaction.

    A press is a mouse press (``md`` → ``mu``, left button), a touch (``ts`` → ``te``) or a Space/Enter
    key (``kd`` → ``ku`` of the same class; auto-repeats in between belong to it). The widget completes
    as soon as the bar is full, so a press still held when the payload was sent ends at ``sent_ms``.
    ``hold``: held at least ``hold_ms``. ``drag``: a pointer or touch press that moved the handle at
    least 90% of ``drag_px`` to the right over at least 300 ms; the keyboard path holds as for ``hold``.
    Only trusted events count; a key without a physical key code is a synthetic key.
    """
    presses: list[_Press] = []
    open_: dict[str, _Press] = {}
    last_pd: Sequence[Any] | None = None
    for e in events:
        k, t, trusted = e[0], float(e[1]), bool(e[2])
        if k == "pd":
            last_pd = e
        if k == "md" and len(e) > 5 and e[5] == 0:
            centre = len(e) > 9 and min(e[8], e[9]) >= 40 and _at_centre(e, last_pd)
            p = open_["pointer"] = _Press("pointer", t, trusted, x0=float(e[3]), x_max=float(e[3]), centre=centre)
            presses.append(p)
        elif k == "ts":
            p = open_["touch"] = _Press("touch", t, trusted, x0=float(e[3]), x_max=float(e[3]))
            presses.append(p)
        elif k in ("mm", "tm"):
            p = open_.get("pointer" if k == "mm" else "touch")
            if p is not None:
                p.x_max = max(p.x_max, float(e[3]))
        elif k == "mu" and "pointer" in open_:
            p = open_.pop("pointer")
            p.end, p.trusted = t, p.trusted and trusted
        elif k == "te" and "touch" in open_:
            p = open_.pop("touch")
            p.end, p.trusted = t, p.trusted and trusted
        elif k == "kd" and len(e) > 6 and e[3] in ("s", "e"):
            held = open_.get("keyboard")
            if held is not None and held.cls == e[3]:
                held.trusted = held.trusted and trusted  # auto-repeat of the held key
                continue
            if e[5]:  # a repeat without its first press: the press happened before the challenge
                continue
            p = open_["keyboard"] = _Press("keyboard", t, trusted and not e[4], cls=e[3])
            presses.append(p)
        elif k == "ku" and "keyboard" in open_ and len(e) > 3 and e[3] == open_["keyboard"].cls:
            p = open_.pop("keyboard")
            p.end, p.trusted = t, p.trusted and trusted and not e[4]
    last = float(events[-1][1]) if events else 0.0
    end_still_held = max(last, float(sent_ms or 0.0))
    best: tuple[tuple[bool, bool, float], Interaction] | None = None
    for p in presses:
        held = (p.end if p.end is not None else end_still_held) - p.start
        dragged = p.x_max - p.x0
        if not p.trusted:
            cand = Interaction(False, p.modality, held, dragged, "the press was dispatched by script (isTrusted false)")
        elif p.centre:
            # A hand lands anywhere on a 56+ px control; the exact centre is a computed click point
            # (page.click(), element.click() via CDP): about 1 in 2,000 human presses on a 40x40 box.
            cand = Interaction(False, p.modality, held, dragged, "pressed at the control's exact centre (a computed click point)")
        elif kind == "drag" and p.modality != "keyboard":
            ok = dragged >= 0.9 * drag_px and held >= DRAG_MIN_MS
            cand = Interaction(ok, p.modality, held, dragged,
                               "" if ok else f"the handle moved {dragged:.0f} of {drag_px:.0f} px")
        else:
            ok = held >= hold_ms - HOLD_TOLERANCE_MS
            cand = Interaction(ok, p.modality, held, dragged, "" if ok else f"held {held:.0f} ms of {hold_ms:.0f} ms")
        rank = (cand.complete, p.trusted, cand.held_ms)  # complete first, then trusted, then longest
        if best is None or rank > best[0]:
            best = (rank, cand)
    if best is None:
        return Interaction(False, None, 0.0, 0.0, "no press on the challenge control")
    return best[1]


# --- the verdict on one attempt (pure) --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    passed: bool
    score: float
    hits: tuple[RuleHit, ...]
    reasons: tuple[str, ...]
    behaviour_score: float | None


def _noisy_or(weights: Iterable[float]) -> float:
    p = 1.0
    for w in weights:
        p *= 1.0 - w
    return 1.0 - p


def probe_hits(probes: Mapping[str, Any]) -> list[tuple[RuleHit, str]]:
    """Evidence from the challenge's own deep probes (docs/challenge.md § deep probes)."""
    out = []
    mismatch = probes.get("chl_worker_mismatch") or []
    named = sorted({m for m in mismatch if m in ("ua", "platform")}) if isinstance(mismatch, list) else []
    if named:
        # The worker is loaded from a URL (not a Blob), so init scripts and JS patches of the page's
        # navigator do not reach it; the UA override of a real browser setting does. FP risk: a UA
        # switcher extension that patches only the page. High, not critical.
        out.append((RuleHit(WORKER_MISMATCH, "none", 0.7),
                    f"the challenge's worker disagrees with the page on {', '.join(named)}"))
    return out


def judge(assessment: Assessment, telemetry: Mapping[str, Any], interaction: Interaction, pow_ok: bool, *,
          block_at: float, behaviour_max: float, behaviour_weight: float) -> Outcome:
    """Pass or fail one attempt. Fails on: a wrong proof of work; an incomplete or scripted
    interaction; a page hidden during it; a behaviour score at or over ``behaviour_max``; rule evidence
    (signatures on the challenge page plus the deep probes) at or over the action's ``block_at``."""
    failures: list[str] = []
    probes = telemetry.get("probes") or {}
    if not pow_ok:
        failures.append("proof of work missing or wrong")
    if not interaction.complete:
        failures.append(f"interaction not completed: {interaction.reason}")
    if probes.get("chl_hidden") is True:
        failures.append("the page was hidden during the challenge")
    extra = probe_hits(probes)
    hits = tuple(assessment.hits) + tuple(h for h, _ in extra)
    acted = [h for h in hits if h.status == "stable" and h.weight > 0]
    rule_score = _noisy_or(h.weight for h in acted)
    if rule_score >= block_at:
        failures.append(f"device evidence on the challenge page scores {rule_score:.2f} (block at {block_at:.2f})")
    beh = assessment.behaviour_score
    if beh is not None and beh >= behaviour_max:
        failures.append(f"the interaction's input does not look like a hand (behaviour {beh:.2f})")
    score = 1.0 - (1.0 - rule_score) * (1.0 - behaviour_weight * (beh or 0.0))
    reasons = failures + [why for _, why in extra]
    if beh is not None and beh >= behaviour_max:
        reasons += list(assessment.behaviour_reasons)
    if interaction.complete:
        reasons.append(f"{interaction.modality} press held {interaction.held_ms:.0f} ms")
    return Outcome(not failures, score, hits, tuple(reasons), beh)


# --- counters in the shared store ------------------------------------------------------------------
# Fixed windows (``failure_window_s``): every counter of one window expires together, so "issued"
# and "attempted" always describe the same period.

def _window(ch: ChallengeConfig, now: float | None = None) -> int:
    return int((time.time() if now is None else now) // ch.failure_window_s)


def _key(kind: str, who: str, ch: ChallengeConfig) -> str:
    return f"chl-{kind}:{_window(ch)}:{who}"


async def _count(store: Store, kind: str, who: str, ch: ChallengeConfig) -> int:
    return await store.use_token(_key(kind, who, ch), 2**31, ch.failure_window_s + 60)


async def _read(store: Store, kind: str, who: str, ch: ChallengeConfig) -> int:
    return await store.token_uses(_key(kind, who, ch))


async def strikes(store: Store, ch: ChallengeConfig, sid: str, account: str | None) -> tuple[int, int]:
    """(strikes, skipped): failed attempts and rejected clearances, per session (plus challenges the
    session was issued and never attempted) and per account; the larger of the two counts."""
    by_session = skipped = by_account = 0
    if sid:
        who = "s:" + sid
        fails, issued, tried = [await _read(store, k, who, ch) for k in ("fail", "issued", "tried")]
        skipped = max(0, issued - tried)
        by_session = fails + skipped
    if account:
        by_account = await _read(store, "fail", "a:" + account, ch)
    return max(by_session, by_account), skipped


async def count_failure(store: Store, ch: ChallengeConfig, sid: str, account: str | None) -> None:
    if sid:
        await _count(store, "fail", "s:" + sid, ch)
    if account:
        await _count(store, "fail", "a:" + account, ch)


def _with(d: Decision, *, verdict: Verdict | None = None, hit: str | None = None, reason: str | None = None) -> Decision:
    return dataclasses.replace(
        d,
        decision=verdict or d.decision,
        rules=d.rules + ((RuleHit(hit, "none", 0.0),) if hit else ()),
        reasons=d.reasons + ((reason,) if reason else ()),
    )


async def gate(app: web.Application, d: Decision, *, session_cookie: str | None, clearance: str | None) -> Decision:
    """At the write, after the engine and before the ledger: a valid clearance turns a challenge into
    an allow; too many failed or skipped challenges turn it into a block. Other verdicts pass as they
    are (a clearance never lifts a block, and is not spent on a write that needs none)."""
    if d.decision is not Verdict.CHALLENGE:
        return d
    cfg: Config = app[CONFIG]
    ch = cfg.challenge
    store = app[STORE]
    sid = tokens.session_binding(session_cookie)
    try:
        if clearance:
            try:
                c = tokens.verify_scoped(cfg.tokens, clearance, sid, purpose=tokens.CLEARANCE,
                                         account=d.account_id, action=d.action)
                uses = await store.use_token(f"clr:{c.jti}", ch.clearance_max_uses, ch.clearance_ttl_s + 60)
                if uses > ch.clearance_max_uses:
                    raise tokens.TokenError("replayed", f"use {uses} of {ch.clearance_max_uses}")
                return _with(d, verdict=Verdict.ALLOW, hit=CLEARED,
                             reason=f"challenge passed: clearance for request {str(c.data.get('r', ''))[:32]}, "
                                    f"use {uses} of {ch.clearance_max_uses}")
            except tokens.TokenError as exc:
                d = _with(d, hit=CLEARANCE_INVALID, reason=f"clearance rejected ({exc.reason})")
                # Expired: a slow person. Replayed: the session's own clearance, spent (a cookie left
                # behind by the gateway flow, a retried request); refused, not held against anyone.
                # Forged, borrowed from another session, or for another account or action: counted.
                if exc.reason not in ("expired", "replayed"):
                    await count_failure(store, ch, sid, d.account_id)
        n, skipped = await strikes(store, ch, sid, d.account_id)
    except STORE_ERRORS as exc:
        log.error("store unavailable, challenge state not read for %s: %s", d.request_id, exc)
        return d
    if n >= ch.failures_before_block:
        return _with(d, verdict=Verdict.BLOCK, hit=EXHAUSTED,
                     reason=f"{n} failed or skipped challenges within {ch.failure_window_s} s (block at {ch.failures_before_block})")
    if skipped:
        d = _with(d, hit=SKIPPED, reason=f"{skipped} earlier challenge(s) issued to this session never attempted")
    return d


async def issue(app: web.Application, d: Decision, session_cookie: str | None, *, uri: str = "") -> Challenge | None:
    """The challenge for a challenged write, or None: another verdict, an action without challenges
    (``challenge.actions``), or no session cookie to bind it to (the collector never ran). ``uri`` is
    the write's path and query: where the challenge page sends the form again (it is signed into the
    challenge, so a page built from it cannot be pointed elsewhere)."""
    cfg: Config = app[CONFIG]
    ch = cfg.challenge
    if d.decision is not Verdict.CHALLENGE or d.action not in ch.action_set or not session_cookie:
        return None
    sid = tokens.session_binding(session_cookie)
    data = {"a": d.account_id or "", "x": d.action, "n": secrets.token_hex(16), "b": ch.pow_bits,
            "k": ch.interaction, "h": ch.hold_ms, "r": d.request_id, "u": uri[:1024]}
    token, claims = tokens.issue(cfg.tokens, sid, data, ttl_s=ch.ttl_s, purpose=tokens.CHALLENGE)
    try:
        await _count(app[STORE], "issued", "s:" + sid, ch)
    except STORE_ERRORS as exc:
        log.error("store unavailable, challenge issue not counted: %s", exc)
    return Challenge(f"{CHALLENGE_PATH}?c={token}", token, claims.exp)


# --- localisation ---------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def catalogs() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(I18N.glob("*.json"))}


_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
# Chinese written in Simplified characters; zh-TW / zh-HK / zh-Hant fall through to the next choice.
_SIMPLIFIED = ("zh", "zh-cn", "zh-sg", "zh-hans", "zh-hans-cn", "zh-hans-sg")


def _tags(header: str) -> list[str]:
    """An ``Accept-Language`` value (or a comma-separated list) in preference order."""
    out = []
    for i, part in enumerate(header.split(",")[:16]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if _LANG.match(tag) and q > 0:
            out.append((-q, i, tag))
    return [t for _, _, t in sorted(out)]


def negotiate(*preferences: str | None, default: str = "en") -> str:
    """The first shipped locale matching any preference list (``navigator.languages`` joined by
    commas, then ``Accept-Language``): exact tag, then Simplified Chinese variants, then the
    primary language; else ``default``."""
    shipped = {k.lower(): k for k in catalogs()}
    for pref in preferences:
        for tag in _tags(pref or ""):
            low = tag.lower()
            if low in shipped:
                return shipped[low]
            if low in _SIMPLIFIED and "zh-cn" in shipped:
                return shipped["zh-cn"]
            primary = low.split("-")[0]
            if primary != "zh" and primary in shipped:
                return shipped[primary]
    return default if default in catalogs() else "en"


def strings(lang: str, action: str, ch: ChallengeConfig) -> dict[str, str]:
    cat = catalogs().get(lang) or catalogs()["en"]
    fill = {"action": cat["actions"].get(action, action), "seconds": f"{ch.hold_ms / 1000:g}"}
    return {k: v.format(**fill) for k, v in cat.items() if isinstance(v, str)}


# --- routes ---------------------------------------------------------------------------------------

def _error(status: int, error: str, detail: str, field: str | None = None) -> web.Response:
    body = {"error": error, "detail": detail}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def _verify_challenge(request: web.Request) -> tuple[tokens.Claims | None, web.Response | None]:
    cfg = request.app[CONFIG]
    sid = tokens.session_binding(request.cookies.get(cfg.tokens.cookie))
    try:
        return tokens.verify(cfg.tokens, request.query.get("c", ""), sid, purpose=tokens.CHALLENGE), None
    except tokens.TokenError as exc:
        status = 410 if exc.reason == "expired" else 400 if exc.reason == "malformed" else 403
        return None, _error(status, "challenge_" + exc.reason, f"challenge refused ({exc.reason})", field="c")


async def params(request: web.Request) -> web.Response:
    """``GET /edge/challenge?c=…[&lang=…]``: what the browser needs to solve the challenge."""
    claims, refused = _verify_challenge(request)
    if refused:
        return refused
    ch = request.app[CONFIG].challenge
    lang = negotiate(request.query.get("lang"), request.headers.get("Accept-Language"), default=ch.locale)
    d = claims.data
    return web.json_response({
        "id": claims.jti, "nonce": d["n"], "bits": d["b"], "expires": claims.exp, "interaction": d["k"],
        "hold_ms": d["h"], "drag_px": DRAG_PX, "action": d["x"], "lang": lang,
        "strings": strings(lang, d["x"], ch),
    }, headers={"Cache-Control": "no-store"})


async def solve(request: web.Request) -> web.Response:
    """``POST /edge/challenge/solve?c=…`` with ``X-Tell-Pow: <counter>`` and the interaction's
    telemetry as the msgpack body. 200 ``{"ok": true, "clearance", "token", "expires"}`` or 403
    ``{"ok": false, "error": "challenge_failed", "blocked", "request_id"}``."""
    from edge.service import ENGINE, record, request_info

    claims, refused = _verify_challenge(request)
    if refused:
        return refused
    app = request.app
    cfg: Config = app[CONFIG]
    ch = cfg.challenge
    store = app[STORE]
    if request.content_type not in MSGPACK_TYPES:
        return _error(415, "unsupported_media_type", "send the challenge telemetry as application/msgpack", "Content-Type")
    limit = cfg.max_body_bytes
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        return _error(413, "payload_too_large", f"telemetry larger than {limit} bytes", "$")
    sid = claims.sid
    data = claims.data
    account, action = data.get("a") or None, str(data.get("x"))
    try:
        # One attempt per challenge, across the fleet: a failed interaction cannot be retried
        # against the same nonce, and a passed one cannot mint a second clearance.
        if await store.use_token(f"chl:{claims.jti}", 1, ch.ttl_s + 60) > 1:
            return _error(409, "challenge_used", "this challenge was already attempted", "c")
        await _count(store, "tried", "s:" + sid, ch)
    except STORE_ERRORS as exc:
        log.error("store unavailable, challenge not attempted: %s", exc)
        return _error(503, "store_unavailable", "try again shortly")
    engine = app[ENGINE]
    try:
        telemetry = tm.decode(body)
    except tm.TelemetryError as exc:
        telemetry, assessment = None, None
        outcome = Outcome(False, 1.0, (), (f"challenge telemetry refused: {exc}",), None)
    if telemetry is not None:
        info = request_info(request, trust_forwarded=cfg.trust_forwarded_for)
        assessment = engine.assess(telemetry, info)
        interaction = find_interaction(telemetry.get("events") or [], kind=str(data.get("k")), hold_ms=float(data.get("h", 0)),
                                       sent_ms=telemetry.get("sent_ms"))
        pow_ok = pow_valid(bytes.fromhex(str(data.get("n"))), request.headers.get("X-Tell-Pow"), int(data.get("b", 0)))
        outcome = judge(assessment, telemetry, interaction, pow_ok,
                        block_at=min(ch.device_max, cfg.policy.thresholds[action].block), behaviour_max=ch.behaviour_max,
                        behaviour_weight=cfg.policy.behaviour_weight)
    request_ref = f"challenge for request {str(data.get('r', ''))[:32]}"
    set_version = assessment.set_version if assessment else engine.signatures.version
    if outcome.passed:
        clearance, cc = tokens.issue(cfg.tokens, sid, {"a": data.get("a", ""), "x": action, "r": data.get("r", "")},
                                     ttl_s=ch.clearance_ttl_s, purpose=tokens.CLEARANCE)
        write_token, _ = tokens.issue(cfg.tokens, sid, assessment.to_claims())
        d = Decision(Verdict.ALLOW, outcome.score, action, outcome.hits + (RuleHit(PASSED, "none", 0.0),),
                     (request_ref,) + outcome.reasons, set_version, account_id=account,
                     behaviour_score=outcome.behaviour_score)
        await record(app, d)
        return web.json_response({"ok": True, "clearance": clearance, "token": write_token, "expires": cc.exp},
                                 headers={"Cache-Control": "no-store"})
    try:
        await count_failure(store, ch, sid, account)
        n, _ = await strikes(store, ch, sid, account)
    except STORE_ERRORS as exc:
        log.error("store unavailable, challenge failure not counted: %s", exc)
        n = 0
    blocked = n >= ch.failures_before_block
    reasons = (request_ref,) + outcome.reasons
    if blocked:
        reasons += (f"{n} failed or skipped challenges (block at {ch.failures_before_block})",)
    d = Decision(Verdict.BLOCK if blocked else Verdict.CHALLENGE, outcome.score, action,
                 outcome.hits + (RuleHit(FAILED, "none", 0.0),), reasons, set_version, account_id=account,
                 behaviour_score=outcome.behaviour_score)
    d = await record(app, d)
    answer: dict[str, Any] = {"ok": False, "error": "challenge_failed", "blocked": d.decision is Verdict.BLOCK,
                              "request_id": d.request_id}
    if cfg.expose_evidence:
        answer["reasons"] = list(d.reasons)
    return web.json_response(answer, status=403, headers={"Cache-Control": "no-store"})


def _static(name: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, headers={"Content-Type": "application/javascript; charset=utf-8",
                                                        "Cache-Control": "public, max-age=300"})
    return handler


def add_challenge_routes(app: web.Application) -> None:
    app.router.add_get(CHALLENGE_PATH, params)
    app.router.add_post(CHALLENGE_PATH + "/solve", solve)
    app.router.add_post(CHALLENGE_PATH + "/form", form_page)
    app.router.add_get("/edge/challenge.js", _static("challenge.js"))
    app.router.add_get("/edge/challenge-worker.js", _static("challenge-worker.js"))


# --- the challenge page (a challenged form post, answered by edge.guard) -------------------------------

_CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}
.card{border:1px solid #d0d7de;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px #0001}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:999px;font-weight:600;font-size:.85rem;background:#fff8c5;color:#7d4e00}
code,.ref{font-size:.85rem;color:#57606a}"""


def page(request: web.Request, d: Decision, challenge: Challenge, *, form: Mapping[str, Any] | None,
         headers: Mapping[str, str], expose_evidence: bool) -> web.Response:
    """The 401 page for a challenged form post: the challenge runs here, and on success the original
    fields — echoed back from this very request, never stored — are posted again once, with the
    clearance. A file field cannot be echoed: then the person is asked to go back and send again."""
    reasons = d.reasons if expose_evidence else None
    families = ", ".join(d.families) if expose_evidence else ""
    return _page(request, url=challenge.url, action=d.action, resubmit_to=request.path_qs, form=form,
                 request_id=d.request_id, score=f"{d.score:.3f}", families=families, reasons=reasons, headers=headers)


async def form_page(request: web.Request) -> web.Response:
    """``POST /edge/challenge/form`` — the same page behind a gateway. nginx passes a challenged form
    post here (``error_page 401 = @challenge``: a named location keeps the method and the body) with
    the challenge in ``X-Tell-Challenge``; the form goes back to the write's URI signed into it."""
    cfg: Config = request.app[CONFIG]
    url = request.headers.get("X-Tell-Challenge", "")
    sid = tokens.session_binding(request.cookies.get(cfg.tokens.cookie))
    try:
        if not url.startswith(CHALLENGE_PATH + "?c="):
            raise tokens.TokenError("missing")  # no session cookie at the write: nothing to solve
        claims = tokens.verify(cfg.tokens, url[len(CHALLENGE_PATH) + 3:], sid, purpose=tokens.CHALLENGE)
        target = str(claims.data.get("u") or "")
        if not target.startswith("/") or target.startswith("//"):
            raise tokens.TokenError("no_uri")
    except tokens.TokenError as exc:
        # Still the answer to a challenged write (401), only without anything to solve here.
        return web.json_response({"error": "challenge_" + exc.reason, "detail": "reload the page and send again"},
                                 status=401, headers={"Cache-Control": "no-store"})
    form = await request.post() if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data") else None
    request_id = str(claims.data.get("r", ""))
    headers = {"X-Tell-Challenge": url, "X-Tell-Decision": "challenge", "X-Tell-Request-Id": request_id}
    return _page(request, url=url, action=str(claims.data.get("x")), resubmit_to=target, form=form,
                 request_id=request_id, score="", families="", reasons=None, headers=headers, via_cookie=True)


def _page(request: web.Request, *, url: str, action: str, resubmit_to: str, form: Mapping[str, Any] | None,
          request_id: str, score: str, families: str, reasons: Sequence[str] | None,
          headers: Mapping[str, str], via_cookie: bool = False) -> web.Response:
    # via_cookie: behind a gateway, whose auth subrequest cannot read the form body, the page also
    # hands the clearance over in a short-lived tell_clearance cookie (docs/challenge.md).
    cfg: Config = request.app[CONFIG]
    lang = negotiate(request.headers.get("Accept-Language"), default=cfg.challenge.locale)
    s = strings(lang, action, cfg.challenge)
    inputs, has_files = [], False
    for name, value in (form or {}).items():
        if name in ("tell_token", "tell_telemetry", "tell_clearance"):
            continue
        if not isinstance(value, str):
            has_files = True
            continue
        inputs.append(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">')
    enctype = "multipart/form-data" if request.content_type == "multipart/form-data" else "application/x-www-form-urlencoded"
    evidence = ""
    if reasons is not None:
        items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons) or "<li>no details</li>"
        evidence = f'<ul id="reasons">{items}</ul>'
    hint = s["drag_hint"] if cfg.challenge.interaction == "drag" else s["hold_hint"]
    body = f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(s['title'])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin">
<style>{_CSS}</style>
<script src="/edge/collector.js" defer></script><script src="/edge/challenge.js" defer></script></head><body><main class="card">
<div id="tell-challenge" data-tell-challenge="{html.escape(url)}" data-tell-files="{int(has_files)}"{' data-tell-via="cookie"' if via_cookie else ''}>
<h1 id="tell-chl-title">{html.escape(s['title'])}</h1>
<p>{html.escape(s['lead'])}</p>
<p id="tell-chl-desc">{html.escape(hint)}</p>
<noscript><p><strong>{html.escape(s['needs_js'])}</strong></p></noscript>
</div>
<form id="tell-resubmit" method="post" action="{html.escape(resubmit_to)}" enctype="{enctype}" hidden>{''.join(inputs)}</form>
<p class="ref"><span id="decision" class="badge challenge" data-decision="challenge" data-score="{score}"
 data-families="{html.escape(families)}">challenge</span> {html.escape(s['reference'])}: <code>{html.escape(request_id)}</code></p>
{evidence}
</main></body></html>"""
    return web.Response(text=body, status=401, content_type="text/html",
                        headers={**headers, "Cache-Control": "no-store", "Content-Language": lang})
