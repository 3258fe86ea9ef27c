"""Input events → timing and movement features (what a hand does that a script does not).

``timing_features(events)`` reads one payload's validated ``events`` (docs/telemetry.md: arrays
``[kind, t_ms, trusted, ...fields]``, time-ordered) and returns a flat dict. It is pure and does no
I/O. A feature whose data is missing is **absent**, never 0: a session with no mouse is not a bot and
a phone has no mouse, so pointer features simply do not exist for it. Every name is listed, with its
type, unit and definition, in :data:`TIMING_FEATURES` (the rule linter rejects names not listed there).

The events are read as float columns per kind (``edge.telemetry.EventColumns``): the decoder builds
them while it validates and hands them over with the events, so a decoded payload is not walked
again here; a plain list is turned into columns first. The rest is numpy on those columns, and Python
loops only where the order of events matters (pairing key presses with releases, clicks with the
moves before them). Cost: bench/RESULTS.md (``python -m bench``) measures it with the whole decision.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge.telemetry import KEY, EventColumns, column, event_columns

__all__ = ["TIMING_FEATURES", "timing_features"]

# --- what the measurements mean (constants are physical bounds, not fits to a corpus) -------------

TYPING_CLASSES = frozenset("ldsob")
"""Key classes that type or erase a character; modifiers, navigation, Tab, Enter and IME
``Process`` keys (class ``p``: virtual keyboards fire keydown/keyup together) have no typing rhythm."""
PAUSE_MS = 2000.0
"""A gap between key presses longer than this is a pause (reading, thinking, changing field), not rhythm."""
KEY_INPUT_WINDOW_MS = 50.0
"""An ``input`` caused by a key follows that key's keydown within a few ms (same task); 50 ms is generous."""
NEAR_IDENTICAL_MS = 2.0
"""Two consecutive key intervals closer than this are 'nearly identical' (below human motor precision)."""
PRESS_ON_RELEASE_MS = 10.0
"""A key press within this of the previous key's release: how scripted press()/type() chains look
(the next CDP/WebDriver key event is sent as soon as the release returns: 0.5-8 ms measured)."""
MAX_HELD_KEYS = 8
"""Rollover looks back this many presses: nobody holds more keys down while typing."""
HOLD_SHORT_MS = 10.0
"""Shorter than any physical key travel: a key pressed and released by software."""
ENTROPY_BIN_MS = 10.0
BOUT_GAP_MS = 100.0
"""Pointer samples further apart than this belong to different movements (the hand was at rest)."""
MIN_BOUT_STEPS = 6
MIN_BOUT_PX = 60.0
TELEPORT_PX = 40.0
"""A click reached by at most two pointer samples, one of them this long, is a jump, not an approach."""
SAME_SPOT_PX = 5.0
TOUCH_COMPAT_MS = 1000.0
"""Mouse events this soon after a touch are the browser's emulation of the tap, not a mouse."""
CENTRE_TOL_PX = 1.0
"""Within 1 px of the exact centre (clientX/Y are whole pixels, the centre of a box often is not)."""
MIN_TARGET_PX = 8.0
MIN_CENTRE_TARGET_PX2 = 400.0
"""Exact-centre clicks count on targets of 400 px² or more, where a person's chance is under 1% a click."""
INPUT_KINDS = frozenset({"mm", "md", "mu", "ck", "pd", "kd", "ku", "in", "cs", "ce", "pa", "ts", "tm", "te", "sc"})

_B, _I, _F = "bool", "int", "float"

TIMING_FEATURES: dict[str, tuple[str, str, str]] = {
    # keyboard
    "key_presses": (_I, "count", "keydowns that are not auto-repeat, any key class"),
    "key_typing_presses": (_I, "count", "non-repeat keydowns of typing keys (letter, digit, space, punctuation, Backspace/Delete)"),
    "key_repeat_events": (_I, "count", "auto-repeat keydowns (a key held down)"),
    "key_process_presses": (_I, "count", "keydowns of class p (IME / virtual keyboard 'Process' keys)"),
    "key_holds": (_I, "count", "typing-key presses matched with their release"),
    "key_hold_ms_median": (_F, "ms", "median time a typing key is held down (keydown → keyup)"),
    "key_hold_ms_cv": (_F, "ratio", "coefficient of variation (sd / mean) of typing-key hold times"),
    "key_hold_under_10ms_share": (_F, "share", "share of typing-key holds shorter than 10 ms (shorter than key travel)"),
    "key_flights": (_I, "count", "intervals between consecutive character-key presses (letter, digit, space, punctuation) in the same field; pauses over 2 s and Backspace/Delete runs left out"),
    "key_flight_ms_median": (_F, "ms", "median interval between consecutive character-key presses (keydown → keydown)"),
    "key_flight_ms_cv": (_F, "ratio", "coefficient of variation of keydown → keydown intervals between character keys"),
    "key_flight_near_identical_share": (_F, "share", "share of consecutive keydown intervals within 2 ms of the previous one"),
    "key_flight_entropy_bits": (_F, "bits", "Shannon entropy of keydown intervals in 10 ms bins"),
    "key_press_on_release_share": (_F, "share", "share of typing-key presses made within 10 ms after the previous key's release (and not during another key's hold)"),
    "key_rollover_share": (_F, "share", "share of typing-key presses made while another typing key is still held"),
    "key_code_empty_share": (_F, "share", "share of keydowns (class p excepted) whose event.code is empty"),
    "backspace_rate": (_F, "share", "Backspace/Delete presses per typing-key press"),
    # text input
    "input_events": (_I, "count", "input events of any input type"),
    "insert_text_chars": (_I, "chars", "characters inserted by insertText input events"),
    "insert_text_without_keys_events": (_I, "count", "insertText events with no keydown in the 50 ms before them and outside an IME composition"),
    "insert_text_without_keys_chars": (_I, "chars", "characters inserted by insertText events with no keydown before them"),
    "insert_text_max_chars": (_I, "chars", "most characters inserted by one insertText event"),
    "insert_text_whole_string": (_B, "", "one insertText without a key press wrote a field's whole value of 2+ characters (element.fill / CDP Input.insertText)"),
    "insert_text_key_lag_ms_median": (_F, "ms", "median time from a keydown to the insertText it typed (inserts within 50 ms after a keydown, outside IME compositions; 3+ of them); a keyboard's character arrives in its keydown's own task, ~0–2 ms"),
    "insert_text_key_lag_ms_min": (_F, "ms", "shortest keydown → insertText time, over the same inserts"),
    "paste_events": (_I, "count", "paste events"),
    "paste_chars": (_I, "chars", "characters pasted (length of the pasted text)"),
    "paste_share": (_F, "share", "pasted characters / all characters entered (typed, inserted, composed, pasted)"),
    "composition_events": (_I, "count", "IME compositionstart + compositionend events"),
    "untrusted_input_events": (_I, "count", "events with isTrusted false (dispatched by page script or an extension)"),
    "untrusted_input_share": (_F, "share", "share of all events with isTrusted false"),
    # pointer (mouse)
    "pointer_move_events": (_I, "count", "mousemove events"),
    "pointer_moves_without_movement": (_I, "count", "mousemoves that changed position but report movementX = movementY = 0 (the first move excepted)"),
    "pointer_moves_without_movement_share": (_F, "share", "share of position-changing mousemoves (the first excepted) reporting no movementX/Y"),
    "pointer_bouts": (_I, "count", "pointer movements (samples < 100 ms apart) of 6+ steps and 60+ px"),
    "pointer_step_interval_ms_median": (_F, "ms", "median time between mousemove samples within a movement"),
    "pointer_step_interval_cv": (_F, "ratio", "coefficient of variation of the time between mousemove samples within movements"),
    "pointer_step_length_cv_median": (_F, "ratio", "per movement, cv of the distance covered per sample; median over movements (humans accelerate and brake: high)"),
    "pointer_velocity_profile_edge_ratio": (_F, "ratio", "per movement, (first step + last step) / (2 × largest step); median over movements. A hand starts from rest and brakes onto the target (near 0); constant-speed paths give 1"),
    "pointer_step_change_ratio_median": (_F, "ratio", "per movement, Σ|change of step vector| / Σ|step|; median over movements (hand tremor and corrections: high; interpolated paths: near 0)"),
    "pointer_constant_velocity_bouts": (_I, "count", "movements with step-length cv < 0.3, edge ratio > 0.3 and step-change ratio < 0.2: no acceleration, no braking, no tremor"),
    "pointer_path_efficiency": (_F, "ratio", "per movement, straight-line distance / path length; median over movements"),
    "pointer_teleports": (_I, "count", "mouse presses reached by ≤ 2 pointer samples including a jump of 40+ px, or pressed 40+ px away from the last known pointer position"),
    "clicks": (_I, "count", "mouse presses (mousedown) not emulated from a touch"),
    "clicks_without_move": (_I, "count", "left presses with no mousemove since the previous press, repeated presses on the same spot excepted"),
    "click_hold_ms_median": (_F, "ms", "median mousedown → mouseup time"),
    "clicks_with_target": (_I, "count", "mouse presses on a target box of at least 8 × 8 px"),
    "click_centre_offset_norm_median": (_F, "ratio", "median distance of the press from its target's centre, in half-widths/half-heights (0 = centre, 1 = edge)"),
    "clicks_at_exact_centre": (_I, "count", "presses within 1 px of the target's exact centre (targets of 400 px² or more)"),
    "clicks_synthetic": (_I, "count", "click events with detail 0 (element.click()) not caused by Enter/Space"),
    "pointer_pressure_zero_share": (_F, "share", "share of mouse pointerdowns with buttons pressed and pressure 0 (a real mouse reports 0.5)"),
    # touch
    "touch_input": (_B, "", "the payload has touch events or touch/pen pointerdowns"),
    "touch_starts": (_I, "count", "touchstart events"),
    "touch_hold_ms_median": (_F, "ms", "median touchstart → touchend time"),
    "touch_radius_px_median": (_F, "px", "median touch contact radius (radiusX)"),
    "touch_force_zero_share": (_F, "share", "share of touchstarts reporting force 0"),
    "touch_moves_per_start": (_F, "ratio", "touchmove events per touchstart"),
    # session
    "first_input_ms": (_F, "ms", "time from page load to the first input event (pointer, key, input, touch, scroll)"),
    "idle_gap_ms_max": (_F, "ms", "longest gap between consecutive events"),
    "input_span_ms": (_F, "ms", "time from the first to the last input event"),
    "ms_per_char_to_submit": (_F, "ms/char", "time from the first key or input event to the submit, per character in the fields"),
    "scroll_events": (_I, "count", "scroll events"),
}


# --- helpers --------------------------------------------------------------------------------------

# Rows of EventColumns.num(kind) (edge/telemetry.py): t is row 0, trusted row 1 for every kind.
_X, _Y = column("mm", 3), column("mm", 4)  # the same rows for md, mu, ck, pd, ts, tm, te
_MM_MX, _MM_MY = column("mm", 5), column("mm", 6)
_MD_BUTTON, _MD_OX, _MD_OY, _MD_W, _MD_H = (column("md", p) for p in (5, 6, 7, 8, 9))
_MU_BUTTON = column("mu", 5)
_CK_DETAIL = column("ck", 5)
_PD_PRESSURE, _PD_BUTTONS = column("pd", 6), column("pd", 9)
_KEY_EMPTY, _KEY_REPEAT = column("kd", 4), column("kd", 5)
_IN_DATA, _IN_VALUE, _IN_FIELD = column("in", 4), column("in", 5), column("in", 6)
_TS_RADIUS, _TS_FORCE = column("ts", 5), column("ts", 6)
_VALUE = column("pa", 3)  # the one field of ce, pa, fo, bl, sc, su
_INPUT_GROUPS = frozenset(KEY if k in ("kd", "ku") else k for k in INPUT_KINDS)
_NONE = np.empty(0)
_NONE.flags.writeable = False


def _median(a: np.ndarray | list) -> float:
    """np.median without its dispatch overhead (10× faster on the short arrays used here)."""
    s = np.array(a, float)  # a copy, sorted in place
    s.sort()
    n = len(s)
    h = n // 2
    return float(s[h]) if n % 2 else float(0.5 * (s[h - 1] + s[h]))


def _diff(a: np.ndarray) -> np.ndarray:
    """np.diff of a 1-D array without its dispatch overhead."""
    return a[1:] - a[:-1]


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def _share(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask)) / len(mask) if len(mask) else 0.0


def _cv(a: np.ndarray) -> float:
    """Coefficient of variation (population sd / mean); 0 for a non-positive mean."""
    n = len(a)
    m = float(a.sum()) / n
    if m <= 0:
        return 0.0
    v = float(np.dot(a, a)) / n - m * m
    return math.sqrt(max(v, 0.0)) / m


def _entropy_bits(a: np.ndarray, bin_ms: float) -> float:
    counts = np.bincount((a / bin_ms).astype(np.int64))
    p = counts[counts > 0] / len(a)
    return float(-(p * np.log2(p)).sum())


def _near_after(times: np.ndarray, t: np.ndarray, window: float) -> np.ndarray:
    """For each of ``t``: is there a time in ``times`` (sorted) within ``window`` ms before or at it?"""
    if not len(times):
        return np.zeros(len(t), bool)
    j = times.searchsorted(t, side="right") - 1
    return (j >= 0) & (t - times[np.maximum(j, 0)] <= window)


_TYPING_LUT = np.zeros(256, bool)
_TYPING_LUT[list(b"ldsob")] = True


def _releases(cls: list[str], down: list[bool], repeat: list[bool], t: list[float], n: int) -> np.ndarray:
    """Release time of each typing press (NaN if not seen), pairing first-in first-out per key
    class in stream order. A release with no press of its class pending (the key went down before
    the buffer starts) is dropped, so it cannot shorten a later press's hold."""
    up = [math.nan] * n
    pending: dict[str, list[int]] = {}
    i = 0
    for c, is_down, rep, when in zip(cls, down, repeat, t):
        if c not in TYPING_CLASSES:
            continue
        if is_down:
            if not rep:
                q = pending.get(c)
                if q is None:
                    pending[c] = [i]
                else:
                    q.append(i)
                i += 1
        else:
            q = pending.get(c)
            if q:
                up[q.pop(0)] = when
    return np.array(up, float)


def _keys(cols: EventColumns, kd: np.ndarray, cls_all: np.ndarray, focus_t: np.ndarray, f: dict[str, Any]) -> None:
    """Key rhythm: holds, flights, release → press gaps, rollover. ``kd``: the keydowns' rows."""
    down = cols.key_down
    t = kd[0]
    cls = cls_all[down]
    rep = kd[_KEY_REPEAT] != 0
    empty = kd[_KEY_EMPTY] != 0
    fresh = ~rep
    proc = cls == ord("p")
    coded = fresh & ~proc
    typing = fresh & _TYPING_LUT[cls]
    d = t[typing]
    f["key_presses"] = _count(fresh)
    f["key_repeat_events"] = _count(rep)
    f["key_process_presses"] = _count(fresh & proc)
    f["key_typing_presses"] = len(d)
    if coded.any():
        f["key_code_empty_share"] = _share(empty[coded])
    if not len(d):
        return
    f["backspace_rate"] = _share(cls[typing] == ord("b"))
    if not down.all():  # there are keyups to pair the presses with
        keys = cols.num(KEY)
        up = _releases(cols.strings(KEY, 3), down.tolist(), (keys[_KEY_REPEAT] != 0).tolist(), keys[0].tolist(), len(d))
        released = ~np.isnan(up)
        if released.any():
            h = up[released] - d[released]
            f["key_holds"] = len(h)
            f["key_hold_ms_median"] = _median(h)
            f["key_hold_ms_cv"] = _cv(h)
            f["key_hold_under_10ms_share"] = _share(h < HOLD_SHORT_MS)
        if len(d) >= 2:
            # for each press, the releases of the MAX_HELD_KEYS presses just before it (a row each;
            # NaN before the first, and for a key never seen released: not counted)
            padded = np.concatenate((np.full(MAX_HELD_KEYS, np.nan), up[:-1]))
            # the windows as a view of ``padded`` (what sliding_window_view makes, without its overhead)
            before = np.ndarray((len(d) - 1, MAX_HELD_KEYS), float, padded, padded.itemsize, (padded.itemsize,) * 2)
            # the latest release among them (fmax passes NaN over; NaN when none was seen): after the
            # press, a key still held (rollover); else the gap since the last release
            last_up = np.fmax.reduce(before, axis=1)
            now = d[1:]
            held = last_up > now
            f["key_rollover_share"] = _share(held)
            f["key_press_on_release_share"] = _share(~held & (now - last_up <= PRESS_ON_RELEASE_MS))
    if len(d) >= 3:
        # rhythm between character keys only: a run of Backspace taps is a finger-tapping task,
        # as regular as a metronome in anybody's hands
        char = cls[typing] != ord("b")
        fl = _diff(d)
        keep = char[1:] & char[:-1] & (fl <= PAUSE_MS)
        if len(focus_t):  # moving to another field is a pause, not rhythm
            keep &= focus_t.searchsorted(d[:-1], side="right") == focus_t.searchsorted(d[1:], side="right")
        fl = fl[keep]
        if len(fl) >= 2:
            f["key_flights"] = len(fl)
            f["key_flight_ms_median"] = _median(fl)
            f["key_flight_ms_cv"] = _cv(fl)
            f["key_flight_near_identical_share"] = _share(np.abs(_diff(fl)) <= NEAR_IDENTICAL_MS)
            f["key_flight_entropy_bits"] = _entropy_bits(fl, ENTROPY_BIN_MS)


def _text(cols: EventColumns, kd_t: np.ndarray, paste_chars: int, f: dict[str, Any]) -> None:
    inputs = cols.num("in")
    f["input_events"] = inputs.shape[1]
    composed = int(sum(cols.num("ce")[_VALUE].tolist()))
    ins = np.fromiter(map("insertText".__eq__, cols.strings("in", 3)), bool, inputs.shape[1])
    if ins.any():
        t = inputs[0][ins]
        n = inputs[_IN_DATA][ins]
        v = inputs[_IN_VALUE][ins]
        if len(kd_t):
            j = kd_t.searchsorted(t, side="right") - 1
            prev = np.where(j >= 0, kd_t[np.maximum(j, 0)], -np.inf)
            keyed = t - prev <= KEY_INPUT_WINDOW_MS
        else:
            prev = np.full(len(t), -np.inf)
            keyed = np.zeros(len(t), bool)
        by_key = keyed.copy()
        if cols.count("cs") or cols.count("ce"):  # text committed inside an IME composition is the IME's, not a script's
            ends = cols.num("ce")[0].tolist()
            for s in cols.num("cs")[0].tolist():
                after = [x for x in ends if x >= s]
                inside = (t >= s) & (t <= (after[0] if after else math.inf))
                keyed |= inside
                by_key &= ~inside
        bare = ~keyed
        f["insert_text_chars"] = int(n.sum())
        f["insert_text_without_keys_events"] = _count(bare)
        f["insert_text_without_keys_chars"] = int(n[bare].sum())
        f["insert_text_max_chars"] = int(n.max())
        f["insert_text_whole_string"] = bool((bare & (n >= 2) & (n == v)).any())
        if _count(by_key) >= 3:
            lag = (t - prev)[by_key]
            f["insert_text_key_lag_ms_median"] = _median(lag)
            f["insert_text_key_lag_ms_min"] = float(lag.min())
        typed = float(n.sum())
    else:
        typed = 0.0
    total = typed + composed + paste_chars
    if total > 0:
        f["paste_share"] = paste_chars / total


def _pointer(cols: EventColumns, touch_t: np.ndarray, key_act_t: np.ndarray, f: dict[str, Any]) -> None:
    mm = cols.num("mm")
    n = mm.shape[1]
    mm_t, mm_x, mm_y = mm[0], mm[_X], mm[_Y]
    if n:
        f["pointer_move_events"] = n
        dx, dy = _diff(mm_x), _diff(mm_y)
        moved = (dx != 0) | (dy != 0)  # each step: did the position change?
        _bouts(mm_t, mm_x, mm_y, dx, dy, moved, f)
        if n >= 2:
            # a real mouse reports how far it moved; Chrome leaves movementX/Y at 0 for moves
            # injected through CDP (Input.dispatchMouseEvent)
            if moved.any():
                still = (mm[_MM_MX][1:] == 0) & (mm[_MM_MY][1:] == 0)
                f["pointer_moves_without_movement"] = _count(moved & still)
                f["pointer_moves_without_movement_share"] = _share(still[moved])
    md = cols.num("md")
    if md.shape[1] and len(touch_t):  # presses emulated from a touch are not mouse presses
        md = md[:, ~_near_after(touch_t, md[0], TOUCH_COMPAT_MS)]
    if md.shape[1]:
        _presses(md, cols.num("mu"), mm, f)
    ck = cols.num("ck")
    if ck.shape[1]:
        f["clicks_synthetic"] = _count((ck[_CK_DETAIL] == 0) & ~_near_after(key_act_t, ck[0], 100.0))
    pd = cols.num("pd")
    if pd.shape[1]:
        mouse = np.fromiter(map("mouse".__eq__, cols.strings("pd", 5)), bool, pd.shape[1]) & (pd[_PD_BUTTONS] != 0)
        if mouse.any():
            f["pointer_pressure_zero_share"] = _count(pd[_PD_PRESSURE][mouse] == 0) / _count(mouse)


def _prefix_sums(a: np.ndarray) -> np.ndarray:
    """[0, a0, a0+a1, …]: the same running sums as np.cumsum, with the leading 0 and no concatenate."""
    out = np.empty(len(a) + 1)
    out[0] = 0.0
    np.cumsum(a, out=out[1:])
    return out


def _bouts(t: np.ndarray, x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray, moved: np.ndarray,
           f: dict[str, Any]) -> None:
    """Per-movement shape: speed profile, step regularity, tremor, straightness (vectorised).
    ``dx``, ``dy``: the steps between samples; ``moved``: the steps that changed the position."""
    if not moved.all():  # drop samples that did not move
        keep = np.flatnonzero(moved)
        keep += 1
        keep = np.concatenate((_FIRST, keep))
        t, x, y = t[keep], x[keep], y[keep]
        dx, dy = _diff(x), _diff(y)
    if len(t) < 2:
        return
    dt = _diff(t)
    step = np.hypot(dx, dy)
    inside = dt <= BOUT_GAP_MS
    n_inside = _count(inside)
    if n_inside:
        dt_in = dt[inside]
        f["pointer_step_interval_ms_median"] = float(_median(dt_in))
        if n_inside >= 2:
            f["pointer_step_interval_cv"] = _cv(dt_in)
    # runs of consecutive in-bout steps: steps [start, end)
    padded = np.zeros(len(inside) + 2, np.int8)
    padded[1:-1] = inside
    edges = padded[1:] - padded[:-1]
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    n = ends - starts
    keep = n >= MIN_BOUT_STEPS
    if not keep.any():
        f["pointer_bouts"] = 0
        return
    starts, ends, n = starts[keep], ends[keep], n[keep]
    csum = _prefix_sums(step)
    path = csum[ends] - csum[starts]
    big = path >= MIN_BOUT_PX
    n_big = _count(big)
    f["pointer_bouts"] = n_big
    if not n_big:
        return
    if n_big < len(big):
        starts, ends, n, path = starts[big], ends[big], n[big], path[big]
    csum2 = _prefix_sums(step * step)
    mean = path / n
    var = np.maximum((csum2[ends] - csum2[starts]) / n - mean * mean, 0.0)
    cv = np.sqrt(var) / mean
    # max over each [start, end): reduceat over interleaved bounds, every other slice is a bout
    bounds = np.empty(2 * len(starts), np.intp)
    bounds[0::2] = starts
    bounds[1::2] = ends
    peak = np.maximum.reduceat(np.append(step, 0.0), bounds)[::2]
    edge = (step[starts] + step[ends - 1]) / (2 * peak)
    # change of the step vector between consecutive steps of a bout
    dstep = _prefix_sums(np.hypot(_diff(dx), _diff(dy)))
    change = (dstep[ends - 1] - dstep[starts]) / path
    disp = np.hypot(x[ends] - x[starts], y[ends] - y[starts])
    f["pointer_step_length_cv_median"] = float(_median(cv))
    f["pointer_velocity_profile_edge_ratio"] = float(_median(edge))
    f["pointer_step_change_ratio_median"] = float(_median(change))
    f["pointer_constant_velocity_bouts"] = _count((cv < 0.3) & (edge > 0.3) & (change < 0.2))
    f["pointer_path_efficiency"] = float(_median(disp / path))


_FIRST = np.zeros(1, np.intp)


def _presses(md: np.ndarray, mu: np.ndarray, mm: np.ndarray, f: dict[str, Any]) -> None:
    f["clicks"] = md.shape[1]
    mm_t, mm_x, mm_y = mm[0], mm[_X], mm[_Y]
    # the pointer samples before each press: mm[lo:hi], lo being where the previous press's ended
    his_at = mm_t.searchsorted(md[0], side="right")
    his = his_at.tolist()
    # where the pointer was last seen before each press (used only when a sample precedes it)
    before = np.maximum(his_at - 1, 0) if len(mm_t) else None
    last_x = mm_x[before].tolist() if before is not None else []
    last_y = mm_y[before].tolist() if before is not None else []
    teleports = without_move = 0
    prev: tuple | None = None  # previous press: (x, y, button, hi)
    # steps of short approaches, judged together after the loop: (dx, dy, press)
    steps_x: list[float] = []
    steps_y: list[float] = []
    steps_of: list[int] = []
    lo = 0
    for i, (x, y, button, hi) in enumerate(zip(md[_X].tolist(), md[_Y].tolist(), md[_MD_BUTTON].tolist(), his)):
        if prev is not None:
            lo = prev[3]
        k = hi - lo
        # Only left presses after a left press (or none) are judged: a right or middle press opens a
        # context menu or starts autoscroll, and the page sees no moves until it is dismissed.
        if button == 0 and (prev is None or prev[2] == 0):
            if k == 0:
                # pressing again on the spot (double-clicks, a stepper button) needs no move
                if prev is None or math.hypot(x - prev[0], y - prev[1]) > SAME_SPOT_PX:
                    without_move += 1
                if prev is not None and math.hypot(x - prev[0], y - prev[1]) >= TELEPORT_PX:
                    teleports += 1
            else:
                jump = math.hypot(x - last_x[i], y - last_y[i])  # pressed away from the pointer
                if k <= 2 and prev is not None and jump < TELEPORT_PX:
                    # reached by one or two samples: was one of the steps (from the last press) a jump?
                    px, py = [prev[0], *mm_x[lo:hi].tolist()], [prev[1], *mm_y[lo:hi].tolist()]
                    steps_x += [b - a for a, b in zip(px, px[1:])]
                    steps_y += [b - a for a, b in zip(py, py[1:])]
                    steps_of += [i] * k
                elif k <= 2 and prev is None:  # the first movement seen: the browser's movementX/Y says how far it came
                    jump = max(jump, math.hypot(mm[_MM_MX][lo], mm[_MM_MY][lo]))
                if jump >= TELEPORT_PX:
                    teleports += 1
        prev = (x, y, button, hi)
    if steps_of:
        jumped = np.hypot(np.array(steps_x), np.array(steps_y)) >= TELEPORT_PX
        teleports += len(set(np.array(steps_of)[jumped].tolist()))
    f["pointer_teleports"] = teleports
    f["clicks_without_move"] = without_move
    # hold: each press to the next release of the same button
    if mu.shape[1]:
        up_t, up_b = mu[0].tolist(), mu[_MU_BUTTON].tolist()
        holds = []
        for t, button, j in zip(md[0].tolist(), md[_MD_BUTTON].tolist(), mu[0].searchsorted(md[0], side="left").tolist()):
            while j < len(up_b) and up_b[j] != button:
                j += 1
            if j < len(up_b):
                holds.append(up_t[j] - t)
        if holds:
            f["click_hold_ms_median"] = float(_median(holds))
    boxed = (md[_MD_W] >= MIN_TARGET_PX) & (md[_MD_H] >= MIN_TARGET_PX)
    if boxed.any():
        ox, oy, w, h = md[_MD_OX][boxed], md[_MD_OY][boxed], md[_MD_W][boxed], md[_MD_H][boxed]
        f["clicks_with_target"] = _count(boxed)
        f["click_centre_offset_norm_median"] = float(_median(np.hypot(2 * ox / w, 2 * oy / h)))
        f["clicks_at_exact_centre"] = _count((np.abs(ox) <= CENTRE_TOL_PX) & (np.abs(oy) <= CENTRE_TOL_PX)
                                             & (w * h >= MIN_CENTRE_TARGET_PX2))


def _touch(cols: EventColumns, f: dict[str, Any]) -> None:
    ts = cols.num("ts")
    if not ts.shape[1]:
        return
    f["touch_starts"] = ts.shape[1]
    f["touch_moves_per_start"] = cols.count("tm") / ts.shape[1]
    f["touch_radius_px_median"] = float(_median(ts[_TS_RADIUS]))
    f["touch_force_zero_share"] = _share(ts[_TS_FORCE] == 0)
    te = cols.num("te")
    if te.shape[1]:
        start_t, end_t = ts[0], te[0]
        j = end_t.searchsorted(start_t, side="left")
        ok = j < len(end_t)
        if ok.any():
            f["touch_hold_ms_median"] = float(_median(end_t[j[ok]] - start_t[ok]))


# --- the entry point ------------------------------------------------------------------------------

def timing_features(events: list[list]) -> dict[str, Any]:
    """Timing and movement features of one payload's validated events (see :data:`TIMING_FEATURES`).
    ``events`` as decoded (an ``edge.telemetry.Events`` list brings its columns along) or a plain
    list of valid events."""
    if not events:
        return {}
    cols = event_columns(events)
    untrusted = cols.untrusted
    f: dict[str, Any] = {
        "untrusted_input_events": untrusted,
        "untrusted_input_share": untrusted / cols.n,
    }
    keys = cols.num(KEY)
    down = cols.key_down
    n_kd = _count(down)
    cls_all = cols.key_class  # each key event's class letter, as a byte
    kd = keys[:, down] if n_kd < len(down) else keys
    if n_kd:
        _keys(cols, kd, cls_all, cols.num("fo")[0], f)
    kd_t = kd[0]
    n_comp = cols.count("cs") + cols.count("ce")
    n_in = cols.count("in")
    if n_kd or n_in or n_comp:
        f["composition_events"] = n_comp
    pa = cols.num("pa")
    paste_chars = int(sum(pa[_VALUE].tolist())) if pa.shape[1] else 0
    if pa.shape[1]:
        f["paste_events"] = pa.shape[1]
        f["paste_chars"] = paste_chars
    if n_in:
        _text(cols, kd_t, paste_chars, f)
    pd = cols.num("pd")
    if pd.shape[1] or cols.count("ts") or cols.count("te"):
        touch_pd = pd[0][np.fromiter(map("mouse".__ne__, cols.strings("pd", 5)), bool, pd.shape[1])]
        touch_t = np.sort(np.concatenate((cols.num("ts")[0], cols.num("te")[0], touch_pd)))
    else:
        touch_t = _NONE
    if cols.count("mm") or cols.count("md") or cols.count("ck") or pd.shape[1]:
        key_act_t = np.sort(keys[0][(cls_all == ord("e")) | (cls_all == ord("s"))]) if len(cls_all) else _NONE
        _pointer(cols, touch_t, key_act_t, f)
    f["touch_input"] = bool(len(touch_t))
    _touch(cols, f)
    if cols.count("sc"):
        f["scroll_events"] = cols.count("sc")
    # session
    times = [m[0] for kind, m in cols.kinds() if kind in _INPUT_GROUPS]  # each kind's, time-ordered
    if times:
        first = min(float(t[0]) for t in times)
        last = max(float(t[-1]) for t in times)
        f["first_input_ms"] = first
        f["input_span_ms"] = float(last - first)
        if cols.n >= 2:
            f["idle_gap_ms_max"] = float(_diff(cols.t).max())
    su = cols.num("su")
    if su.shape[1]:
        inputs = cols.num("in")
        typing = [float(m[0]) for m in (kd_t, inputs[0], pa[0]) if len(m)]  # each is time-ordered
        chars: dict[Any, float] = dict(zip(inputs[_IN_FIELD].tolist(), inputs[_IN_VALUE].tolist()))  # a field's length after its last input
        total = sum(chars.values())
        if typing and total >= 1:
            f["ms_per_char_to_submit"] = max(0.0, float(su[0][-1]) - min(typing)) / total
    return f
