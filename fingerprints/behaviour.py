"""Timing features → a behavioural score in [0, 1] and the reasons for it, in plain words.

The score is transparent on purpose: a handful of **evidence items**, each tied to something a hand
cannot do (hold a key for 2 ms, repeat an interval to the millisecond, type without pressing a key,
move a pointer at constant speed, land on a target without approaching it). Each item turns one or
two features into a strength in [0, 1] by a linear ramp between a bound humans stay clear of and a
value scripts produce; the items are combined as independent evidence (noisy-OR):

    score = 1 - Π (1 - strength_i)

Items that only *support* a verdict (an untrusted event, one click without a move) are capped at
0.25 each and at 0.45 together, so however many of them fire they stay under :data:`CHALLENGE_AT`;
a strong item (a whole field inserted without a key press, key holds under 10 ms, machine-regular
intervals) reaches it alone, a moderate one (one teleport click) with support.
The bounds come from motor physiology and from how automation tools emit events, not from a fit to
the development corpus: docs/features.md shows where the corpus's humans fall against each of them.

Touch input changes what is physical: virtual keyboards fire keydown and keyup together and predictive
text inserts words without a key, so on a touch session the hold, release→press and keyless-insert
items are left out or capped (stated in the reasons).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CHALLENGE_AT", "Evidence", "behaviour_evidence", "behaviour_score"]

CHALLENGE_AT = 0.5
"""The behaviour score at which the policy challenges a post/comment/message on behaviour alone:
the engine weighs behaviour by ``policy.behaviour_weight`` (0.9) against a challenge threshold of
0.45, i.e. 0.5 here. Registration's stricter 0.35 corresponds to 0.39. Behaviour alone never blocks."""
REASON_MIN = 0.15
"""Evidence weaker than this does not appear among the reasons."""
SUPPORTING = 0.25
"""The cap for evidence that only supports a verdict."""
SUPPORT_CAP = 0.45
"""Supporting evidence combined never reaches :data:`CHALLENGE_AT` on its own."""

MIN_FLIGHTS = 8
MIN_HOLDS = 5
MIN_TRANSITIONS = 8


@dataclass(frozen=True, slots=True)
class Evidence:
    feature: str
    strength: float
    reason: str


def _ramp(x: float, zero_at: float, full_at: float, top: float = 1.0) -> float:
    """0 at ``zero_at``, ``top`` at ``full_at`` and beyond, linear between (either direction)."""
    if zero_at == full_at:
        return top if x == full_at else 0.0
    u = (x - zero_at) / (full_at - zero_at)
    return top * min(1.0, max(0.0, u))


def _num(f: Mapping[str, Any], name: str) -> float | None:
    v = f.get(name)
    if v is None or isinstance(v, (str, list)):
        return None
    return float(v)


def _touch_session(f: Mapping[str, Any]) -> bool:
    return bool(f.get("touch_input")) or bool(f.get("ua_is_mobile"))


# --- evidence items -------------------------------------------------------------------------------
# Each takes the feature record and returns Evidence or None. Order here is the order in the docs.

def _keyless_text(f: Mapping[str, Any]) -> Evidence | None:
    touch = _touch_session(f)
    if f.get("insert_text_whole_string"):
        # element.fill() / CDP Input.insertText: the value arrives in one input event, no key pressed.
        # On touch, a predictive-text suggestion can do the same for one word: supporting only.
        s = SUPPORTING if touch else 0.9
        return Evidence("insert_text_whole_string", s,
                        "a field's whole value arrived in one insertText with no key pressed")
    events = _num(f, "insert_text_without_keys_events") or 0
    if not events:
        return None
    chars = _num(f, "insert_text_without_keys_chars") or 0
    if chars / events <= 2:
        # One character at a time with no key: CDP Input.insertText per character (how agents
        # type CJK text). Emoji pickers insert one or two now and then.
        s = _ramp(events, 2, 6, SUPPORTING if touch else 0.85)
    else:
        # Whole words without a key: grammar checkers and text expanders apply their suggestions so.
        s = 0.0
    return Evidence("insert_text_without_keys_events", max(s, 0.1),
                    f"{chars:.0f} characters in {events:.0f} insertText events with no key pressed")


def _key_holds(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "key_holds") or 0
    med = _num(f, "key_hold_ms_median")
    if n < MIN_HOLDS or med is None or _touch_session(f):
        return None
    # key travel and finger lift take tens of ms; software presses and releases in 0-2 ms
    short = _num(f, "key_hold_under_10ms_share") or 0.0
    s = max(_ramp(med, 30, 12), _ramp(short, 0.6, 0.9))
    return Evidence("key_hold_ms_median", 0.95 * s,
                    f"keys held down for {med:.1f} ms (median of {n:.0f}); fingers need tens of ms")


def _key_rhythm(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "key_flights") or 0
    cv = _num(f, "key_flight_ms_cv")
    if n < MIN_FLIGHTS or cv is None:
        return None
    # People do type a short burst evenly (9 keys at cv 0.08 happens); over a sentence they vary
    # by 20% or more. So the bound tightens with fewer intervals: cv 0.06 at 8, 0.15 from 24 on.
    zero_at = min(0.15, 0.06 + 0.09 * (n - MIN_FLIGHTS) / 16)
    s_cv = _ramp(cv, zero_at, zero_at / 3, 0.95)
    same = _num(f, "key_flight_near_identical_share") or 0.0
    s_same = _ramp(same, 0.7, 0.9, 0.95)
    if s_cv >= s_same:
        return Evidence("key_flight_ms_cv", s_cv,
                        f"keystroke intervals nearly constant (cv {cv:.3f} over {n:.0f}); people vary by 20% or more")
    return Evidence("key_flight_near_identical_share", s_same,
                    f"{same:.0%} of keystroke intervals repeat the previous one within 2 ms")


def _key_chain(f: Mapping[str, Any]) -> Evidence | None:
    share = _num(f, "key_press_on_release_share")
    n = _num(f, "key_typing_presses") or 0
    if share is None or n - 1 < MIN_TRANSITIONS or _touch_session(f):
        return None
    if (_num(f, "key_rollover_share") or 0.0) > 0.02:
        return None  # overlapping keys are how fast people type
    # People who never overlap keys leave tens of ms between one release and the next press; a
    # press()/type() loop sends the next key the moment the release returns (0.5-8 ms measured).
    # Some keyboards report an overlap as "release, then press" in one USB report, so a person can
    # reach 0.67 over ten keys here; scripts sit at 0.9-1.0.
    s = _ramp(share, 0.75, 0.92, 0.85)
    return Evidence("key_press_on_release_share", s,
                    f"each key pressed within 10 ms of the previous release ({share:.0%} of {n - 1:.0f}), never overlapping")


def _key_codes(f: Mapping[str, Any]) -> Evidence | None:
    share = _num(f, "key_code_empty_share")
    n = _num(f, "key_presses") or 0
    if share is None or n < 5:
        return None
    return Evidence("key_code_empty_share", _ramp(share, 0.2, 0.8, SUPPORTING),
                    f"{share:.0%} of key presses carry no physical key code")


def _teleports(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "pointer_teleports") or 0
    if not n:
        return None
    # one jump can be a janky page coalescing moves; two are a script moving to each target
    s = 0.45 if n == 1 else 0.8
    return Evidence("pointer_teleports", s,
                    f"the pointer jumped onto {n:.0f} click target(s) without an approach path")


def _centre_clicks(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "clicks_at_exact_centre") or 0
    total = _num(f, "clicks_with_target") or 0
    if not n or not total:
        return None
    s = 0.35 if n == 1 else _ramp(n / total, 0.3, 0.6, 0.8)
    return Evidence("clicks_at_exact_centre", max(s, 0.35),
                    f"{n:.0f} of {total:.0f} clicks landed within 1 px of the target's exact centre")


def _clicks_without_move(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "clicks_without_move") or 0
    if not n:
        return None
    s = SUPPORTING if n == 1 else 0.55
    return Evidence("clicks_without_move", s, f"{n:.0f} click(s) at a new spot with no mouse movement before")


def _mechanical_paths(f: Mapping[str, Any]) -> Evidence | None:
    bouts = _num(f, "pointer_bouts") or 0
    if not bouts:
        return None
    const = _num(f, "pointer_constant_velocity_bouts") or 0
    edge = _num(f, "pointer_velocity_profile_edge_ratio")
    change = _num(f, "pointer_step_change_ratio_median")
    # Per movement, "constant speed, no braking, no tremor" is rare for a hand (3 of 13,401
    # recorded movements) and the rule for interpolated paths: a share of them, or two, is enough.
    s_const = max(_ramp(const / bouts, 0.25, 0.6, 0.9), 0.85 if const >= 2 else 0.0)
    cands = [(s_const, "pointer_constant_velocity_bouts",
              f"{const:.0f} of {bouts:.0f} pointer movements at constant speed with no tremor")]
    if bouts >= 3:  # medians over a few movements only: a short form has few
        if edge is not None:
            cands.append((_ramp(edge, 0.7, 0.95, 0.85), "pointer_velocity_profile_edge_ratio",
                          f"pointer movements start and stop at full speed (edge ratio {edge:.2f}); a hand accelerates and brakes"))
        if change is not None:
            cands.append((_ramp(change, 0.1, 0.04, 0.85), "pointer_step_change_ratio_median",
                          f"pointer paths perfectly smooth (step change {change:.3f}); a hand trembles and corrects"))
    s, name, why = max(cands)
    return Evidence(name, s, why) if s > 0 else None


def _untrusted(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "untrusted_input_events") or 0
    if not n:
        return None
    share = _num(f, "untrusted_input_share") or 0.0
    # password managers and extensions dispatch a few script events; all of them is a script
    s = 0.6 if share >= 0.9 and n >= 3 else SUPPORTING
    return Evidence("untrusted_input_events", s, f"{n:.0f} input events dispatched by script (isTrusted false, {share:.0%})")


def _synthetic_clicks(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "clicks_synthetic") or 0
    if not n:
        return None
    return Evidence("clicks_synthetic", 0.2, f"{n:.0f} click(s) with detail 0 not caused by Enter/Space (element.click())")


def _pressure(f: Mapping[str, Any]) -> Evidence | None:
    share = _num(f, "pointer_pressure_zero_share")
    if not share:
        return None
    return Evidence("pointer_pressure_zero_share", _ramp(share, 0.5, 1.0, SUPPORTING),
                    f"{share:.0%} of mouse presses report pressure 0 (a real mouse reports 0.5)")


def _click_holds(f: Mapping[str, Any]) -> Evidence | None:
    hold = _num(f, "click_hold_ms_median")
    if hold is None or hold >= 5.0:
        return None
    # scripted clicks release 1-4 ms after the press; a touchpad tap-to-click can be as quick as 7 ms
    return Evidence("click_hold_ms_median", SUPPORTING, f"mouse buttons released {hold:.1f} ms after the press (median)")


def _moves_without_movement(f: Mapping[str, Any]) -> Evidence | None:
    n = _num(f, "pointer_moves_without_movement") or 0
    share = _num(f, "pointer_moves_without_movement_share") or 0.0
    if n < 3 or share < 0.8:
        return None
    return Evidence("pointer_moves_without_movement_share", SUPPORTING,
                    f"{share:.0%} of pointer moves report no movementX/Y (moves injected through CDP)")


EVIDENCE: tuple[Callable[[Mapping[str, Any]], Evidence | None], ...] = (
    _keyless_text, _key_holds, _key_rhythm, _key_chain, _key_codes,
    _teleports, _centre_clicks, _clicks_without_move, _mechanical_paths,
    _untrusted, _synthetic_clicks, _pressure, _click_holds, _moves_without_movement,
)


def behaviour_evidence(features: Mapping[str, Any]) -> list[Evidence]:
    """Every evidence item that fired, strongest first."""
    out = [e for e in (item(features) for item in EVIDENCE) if e is not None and e.strength > 0]
    out.sort(key=lambda e: -e.strength)
    return out


def behaviour_score(features: Mapping[str, Any]) -> tuple[float, tuple[str, ...]]:
    """(score in [0, 1], reasons strongest first). No input events at all scores 0 with no reason:
    the absence of behaviour is for rules to judge (with the device evidence), not for this score."""
    ev = behaviour_evidence(features)
    keep_strong = keep_support = 1.0
    for e in ev:
        if e.strength > SUPPORTING:
            keep_strong *= 1.0 - e.strength
        else:
            keep_support *= 1.0 - e.strength
    # however many, supporting items alone stay under the line: some other evidence must be strong
    support = min(1.0 - keep_support, SUPPORT_CAP)
    score = round(1.0 - keep_strong * (1.0 - support), 4)
    return score, tuple(f"{e.reason} [{e.feature}]" for e in ev if e.strength >= REASON_MIN)
