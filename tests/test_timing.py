"""Timing features: what each measures, on hand-built event streams with known answers."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprints.timing import TIMING_FEATURES, timing_features

TYPES = {"bool": bool, "int": int, "float": float}


def keys(times: list[tuple[float, float]], cls: str = "l", inputs: bool = True) -> list[list]:
    """kd/ku (and an insertText right after each kd) for (press, release) pairs, time-ordered."""
    ev: list[list] = []
    v = 0
    for down, up in times:
        ev.append(["kd", down, 1, cls, 0, 0, 0])
        if inputs:
            v += 1
            ev.append(["in", down + 0.1, 1, "insertText", 1, v, 0])
        ev.append(["ku", up, 1, cls, 0, 0, 0])
    ev.sort(key=lambda e: e[1])
    return ev


def mm(t: float, x: float, y: float, mx: float = 0.0, my: float = 0.0) -> list:
    return ["mm", t, 1, x, y, mx, my, x, y + 100]


def press(t: float, x: float, y: float, ox: float = 7.0, oy: float = -3.0, w: float = 120, h: float = 36,
          hold: float = 90.0, button: int = 0) -> list[list]:
    return [["md", t, 1, x, y, button, ox, oy, w, h], ["mu", t + hold, 1, x, y, button], ["ck", t + hold, 1, x, y, 1]]


def human_approach(t: float, x0: float, y0: float, x1: float, y1: float, n: int = 24) -> list[list]:
    """Minimum-jerk movement (bell-shaped speed) with a little tremor, 16.7 ms samples."""
    out = []
    for i in range(1, n + 1):
        s = i / n
        p = 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5
        wob = 1.5 * math.sin(i * 2.3)
        out.append(mm(round(t + 16.7 * i, 1), round(x0 + (x1 - x0) * p + wob), round(y0 + (y1 - y0) * p - wob)))
    return out


def test_catalog_entries_are_typed_and_documented():
    for name, (typ, unit, doc) in TIMING_FEATURES.items():
        assert typ in TYPES, name
        assert isinstance(unit, str) and doc.strip() and not doc.endswith("."), name


def test_no_events_no_features():
    assert timing_features([]) == {}


def test_a_keyboard_only_session_has_no_pointer_features():
    f = timing_features(keys([(100 * i, 100 * i + 60) for i in range(1, 10)]))
    assert "key_hold_ms_median" in f
    assert not [k for k in f if k.startswith(("pointer_", "click", "touch_"))] or f.get("touch_input") is False
    assert "pointer_teleports" not in f and "clicks" not in f and "click_hold_ms_median" not in f


def test_a_mouse_only_session_has_no_key_features():
    f = timing_features(human_approach(100, 10, 10, 400, 300) + press(600, 400, 300))
    assert not [k for k in f if k.startswith("key_")]
    assert "insert_text_chars" not in f and "backspace_rate" not in f


def test_key_holds_and_flights():
    # holds 60, 80, 100, 70; presses at 0, 150, 330, 600
    f = timing_features(keys([(0, 60), (150, 230), (330, 430), (600, 670)]))
    assert f["key_holds"] == 4
    assert f["key_hold_ms_median"] == pytest.approx(75)
    assert f["key_flights"] == 3
    assert f["key_flight_ms_median"] == pytest.approx(180)
    fl = [150, 180, 270]
    mean = sum(fl) / 3
    assert f["key_flight_ms_cv"] == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in fl) / 3) / mean)
    assert f["key_typing_presses"] == 4 and f["backspace_rate"] == 0


def test_pauses_are_not_rhythm():
    f = timing_features(keys([(0, 60), (150, 210), (5000, 5060), (5150, 5210)]))
    assert f["key_flights"] == 2  # the 4.8 s pause is left out


def test_auto_repeat_and_ime_process_keys_have_no_rhythm():
    ev = keys([(0, 60), (200, 260), (420, 480)])
    ev += [["kd", 600 + 33 * i, 1, "b", 0, 1, 0] for i in range(10)]  # Backspace held: auto-repeat
    ev += [["kd", 1000 + 150 * i, 1, "p", 1, 0, 1] for i in range(5)]  # virtual keyboard 229s
    ev.sort(key=lambda e: e[1])
    f = timing_features(ev)
    assert f["key_repeat_events"] == 10
    assert f["key_process_presses"] == 5
    assert f["key_typing_presses"] == 3 and f["key_flights"] == 2
    assert f["key_code_empty_share"] == 0  # Process keys have no code; they are not counted


def test_moving_to_another_field_is_not_rhythm():
    ev = keys([(0, 60), (150, 210), (300, 360)]) + [["fo", 900.0, 1, 1]] + keys([(1000, 1060), (1150, 1210), (1300, 1360)])
    ev.sort(key=lambda e: e[1])
    assert timing_features(ev)["key_flights"] == 4  # the 700 ms change of field is left out


def test_press_on_release_and_rollover():
    chain = keys([(0, 80), (81, 160), (161.5, 240), (241, 330)])
    f = timing_features(chain)
    assert f["key_press_on_release_share"] == 1.0 and f["key_rollover_share"] == 0.0
    overlapped = keys([(0, 120), (80, 200), (170, 260), (400, 460)])
    f = timing_features(overlapped)
    assert f["key_rollover_share"] == pytest.approx(2 / 3)
    assert f["key_press_on_release_share"] == 0.0


def test_near_identical_intervals():
    f = timing_features(keys([(100.0 * i + (0.5 if i % 2 else 0), 100.0 * i + 50) for i in range(10)]))
    assert f["key_flight_near_identical_share"] == 1.0
    assert f["key_flight_entropy_bits"] <= 1.0


def test_fill_is_recorded_without_key_events():
    f = timing_features([["fo", 10.0, 1, 0], ["in", 15.0, 1, "insertText", 24, 24, 0], ["su", 30.0, 1, 1]])
    assert f["insert_text_whole_string"] is True
    assert f["insert_text_without_keys_chars"] == 24 and f["insert_text_without_keys_events"] == 1
    assert f["insert_text_max_chars"] == 24
    assert "key_presses" not in f
    assert f["ms_per_char_to_submit"] == pytest.approx(15 / 24)


def test_typed_text_is_keyed():
    f = timing_features(keys([(100 * i, 100 * i + 60) for i in range(1, 6)]))
    assert f["insert_text_chars"] == 5 and f["insert_text_without_keys_chars"] == 0
    assert f["insert_text_whole_string"] is False


def test_ime_composition_text_is_not_keyless():
    ev = [["cs", 100.0, 1], ["in", 110.0, 1, "insertText", 2, 2, 0], ["ce", 120.0, 1, 2]]
    f = timing_features(ev)
    assert f["insert_text_without_keys_events"] == 0 and f["composition_events"] == 2


def test_paste_share():
    ev = keys([(100, 160), (300, 360)]) + [["pa", 500.0, 1, 18], ["in", 500.5, 1, "insertFromPaste", 0, 20, 0]]
    f = timing_features(ev)
    assert f["paste_events"] == 1 and f["paste_chars"] == 18
    assert f["paste_share"] == pytest.approx(18 / 20)


def test_teleport_click_at_element_centre():
    ev = human_approach(100, 10, 10, 300, 200) + press(600, 300, 200)
    ev += [mm(2000.0, 900, 500, 600, 300)] + press(2001.0, 900, 500, ox=0, oy=0, hold=1.0)
    f = timing_features(ev)
    assert f["pointer_teleports"] == 1
    assert f["clicks"] == 2 and f["clicks_with_target"] == 2 and f["clicks_at_exact_centre"] == 1


def test_centre_clicks_count_only_on_targets_large_enough_to_miss():
    ev = human_approach(100, 10, 10, 300, 200) + press(600, 300, 200, ox=0.4, oy=-0.6)
    ev += human_approach(1000, 300, 200, 500, 400) + press(1500, 500, 400, ox=0, oy=0, w=14, h=14)
    f = timing_features(ev)
    assert f["clicks_with_target"] == 2 and f["clicks_at_exact_centre"] == 1


def test_moves_injected_through_cdp_report_no_movement():
    scripted = [mm(100.0 + 10 * i, 10 * i, 5 * i) for i in range(10)]  # movementX/Y left at 0
    f = timing_features(scripted)
    assert f["pointer_moves_without_movement"] == 9 and f["pointer_moves_without_movement_share"] == 1.0
    real = [mm(100.0 + 10 * i, 10 * i, 5 * i, 10, 5) for i in range(10)]
    assert timing_features(real)["pointer_moves_without_movement"] == 0


def test_an_approached_click_is_no_teleport():
    f = timing_features(human_approach(100, 10, 10, 300, 200) + press(600, 300, 200)
                        + human_approach(1500, 300, 200, 700, 600) + press(2000, 700, 600))
    assert f["pointer_teleports"] == 0 and f["clicks_without_move"] == 0
    assert f["click_hold_ms_median"] == 90
    assert 0 < f["click_centre_offset_norm_median"] < 1


def test_the_first_click_uses_movement_to_know_where_the_pointer_came_from():
    ev = [mm(500.0, 640, 360, 640, 360)] + press(501.0, 640, 360)  # moved 730 px in one event
    assert timing_features(ev)["pointer_teleports"] == 1
    ev = [mm(500.0, 640, 360, 1, 0)] + press(700.0, 640, 360)  # a nudge, then a click where it rests
    assert timing_features(ev)["pointer_teleports"] == 0


def test_pressing_again_on_the_spot_needs_no_move():
    ev = human_approach(100, 10, 10, 300, 200) + press(600, 300, 200) + press(1500, 300, 200) + press(1700, 301, 200)
    f = timing_features(ev)
    assert f["clicks_without_move"] == 0 and f["pointer_teleports"] == 0


def test_a_click_at_a_new_spot_without_moving_is_counted():
    ev = human_approach(100, 10, 10, 300, 200) + press(600, 300, 200) + press(1500, 320, 200)
    f = timing_features(ev)
    assert f["clicks_without_move"] == 1 and f["pointer_teleports"] == 0


def test_after_a_right_click_the_pointer_position_is_unknown():
    # the context menu swallows the moves: the next press lands elsewhere with none in between
    ev = human_approach(100, 10, 10, 300, 200) + press(600, 300, 200, button=2)[:2] + press(1500, 700, 500)
    f = timing_features(ev)
    assert f["pointer_teleports"] == 0 and f["clicks_without_move"] == 0


def test_mouse_events_emulated_from_a_tap_are_not_clicks():
    ev = [["ts", 100.0, 1, 50, 60, 11.5, 1], ["te", 180.0, 1, 50, 60], mm(190.0, 50, 60, 50, 60)] + press(190.5, 50, 60, hold=0.5)
    f = timing_features(ev)
    assert f["touch_input"] is True and f["touch_starts"] == 1
    assert "clicks" not in f and "pointer_teleports" not in f
    assert f["touch_hold_ms_median"] == 80 and f["touch_radius_px_median"] == 11.5


def test_linear_constant_speed_path_is_mechanical():
    ev = [mm(100 + 10.0 * i, 100 + 20 * i, 50 + 10 * i) for i in range(30)]
    f = timing_features(ev)
    assert f["pointer_bouts"] == 1 and f["pointer_constant_velocity_bouts"] == 1
    assert f["pointer_step_length_cv_median"] < 0.01
    assert f["pointer_velocity_profile_edge_ratio"] > 0.99
    assert f["pointer_path_efficiency"] > 0.999
    assert f["pointer_step_interval_cv"] == 0


def test_a_hand_accelerates_and_brakes():
    f = timing_features(human_approach(100, 10, 10, 600, 400, n=30))
    assert f["pointer_constant_velocity_bouts"] == 0
    assert f["pointer_velocity_profile_edge_ratio"] < 0.2
    assert f["pointer_step_length_cv_median"] > 0.4


def test_movements_are_split_at_rests():
    a = human_approach(100, 10, 10, 600, 400, n=30)
    b = human_approach(1500, 600, 400, 100, 700, n=30)
    assert timing_features(a + b)["pointer_bouts"] == 2


def test_untrusted_events_are_counted():
    ev = keys([(100, 160)]) + [["ck", 300.0, 0, 10, 10, 0], ["in", 310.0, 0, "", 0, 5, 0]]
    f = timing_features(ev)
    assert f["untrusted_input_events"] == 2
    assert f["untrusted_input_share"] == pytest.approx(2 / 5)
    assert f["clicks_synthetic"] == 1


def test_enter_on_a_button_is_not_a_synthetic_click():
    ev = [["kd", 100.0, 1, "e", 0, 0, 0], ["ck", 101.0, 1, 0, 0, 0], ["ku", 160.0, 1, "e", 0, 0, 0]]
    assert timing_features(ev)["clicks_synthetic"] == 0


def test_mouse_pressure_zero():
    ev = [["pd", 100.0, 1, 5, 5, "mouse", 0, 1, 1, 1], ["pd", 300.0, 1, 5, 5, "mouse", 0.5, 1, 1, 1]]
    assert timing_features(ev)["pointer_pressure_zero_share"] == 0.5


def test_session_timing():
    ev = [["fo", 50.0, 1, 0]] + keys([(1000, 1060), (1200, 1260), (4200, 4260)]) + [["su", 5000.0, 1, 1]]
    f = timing_features(ev)
    assert f["first_input_ms"] == 1000
    assert f["input_span_ms"] == 3260
    assert f["idle_gap_ms_max"] == pytest.approx(2940)
    assert f["ms_per_char_to_submit"] == pytest.approx(4000 / 3)


# --- any valid stream: no crash, only catalogued names, documented types, finite numbers -----------

_t = st.floats(0, 5, allow_nan=False)
_n = st.floats(-2000, 2000, allow_nan=False).map(lambda x: round(x, 1))
_b = st.integers(0, 1)
_cls = st.sampled_from("ldsbetmnpo")
_event = st.one_of(
    st.tuples(st.just("mm"), _t, _b, _n, _n, _n, _n, _n, _n),
    st.tuples(st.just("md"), _t, _b, _n, _n, st.integers(0, 4), _n, _n, st.floats(0, 500), st.floats(0, 500)),
    st.tuples(st.just("mu"), _t, _b, _n, _n, st.integers(0, 4)),
    st.tuples(st.just("ck"), _t, _b, _n, _n, st.integers(0, 3)),
    st.tuples(st.just("pd"), _t, _b, _n, _n, st.sampled_from(["mouse", "touch", "pen", ""]), st.floats(0, 1), _n, _n, st.integers(0, 7)),
    st.tuples(st.sampled_from(["kd", "ku"]), _t, _b, _cls, _b, _b, _b),
    st.tuples(st.just("in"), _t, _b, st.sampled_from(["insertText", "insertFromPaste", "deleteContentBackward", "insertCompositionText", ""]),
              st.integers(0, 40), st.integers(0, 400), st.integers(-1, 3)),
    st.tuples(st.just("cs"), _t, _b),
    st.tuples(st.sampled_from(["ce", "pa", "fo", "bl", "sc", "su"]), _t, _b, st.integers(-1, 50)),
    st.tuples(st.just("ts"), _t, _b, _n, _n, st.floats(0, 50), st.floats(0, 1)),
    st.tuples(st.sampled_from(["tm", "te"]), _t, _b, _n, _n),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_event, max_size=120))
def test_any_valid_stream_gives_catalogued_finite_features(raw):
    t = 0.0
    events = []
    for e in raw:  # turn increments into non-decreasing timestamps, as the validator requires
        t = round(t + e[1] * 40, 1)
        events.append([e[0], t, *e[2:]])
    f = timing_features(events)
    for name, value in f.items():
        assert name in TIMING_FEATURES, name
        want = TYPES[TIMING_FEATURES[name][0]]
        assert type(value) is want, (name, value)
        if want is float:
            assert math.isfinite(value), (name, value)
