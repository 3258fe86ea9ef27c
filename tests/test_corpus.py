"""Corpus converters: recorded human files → valid telemetry payloads, events as documented."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from edge.telemetry import decode, encode, validate
from fingerprints.corpus import (
    COLLECTOR_BUFFER,
    LEAD_MS,
    SAPIMOUSE_WINDOW_MS,
    SUBMIT_AFTER_MS,
    aalto_sessions,
    iter_corpus,
    key_class,
    sapimouse_sessions,
)

HUMAN_ROOT = Path(os.environ.get("TELL_HUMAN_CORPUS", "/work/shared/data/human"))

AALTO_HEADER = "PARTICIPANT_ID\tTEST_SECTION_ID\tSENTENCE\tUSER_INPUT\tKEYSTROKE_ID\tPRESS_TIME\tRELEASE_TIME\tLETTER\tKEYCODE\n"


def _aalto(path: Path, rows: list[tuple]) -> Path:
    path.write_text(AALTO_HEADER + "".join("\t".join(str(x) for x in r) + "\n" for r in rows))
    return path


def _sapi(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("client timestamp,button,state,x,y\n" + "".join(",".join(str(x) for x in r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("code, cls", [
    (65, "l"), (90, "l"), (48, "d"), (101, "d"), (32, "s"), (8, "b"), (46, "b"), (13, "e"), (9, "t"),
    (16, "m"), (20, "m"), (91, "m"), (37, "n"), (36, "n"), (229, "p"), (190, "o"), (45, "o"), (0, "o"),
])
def test_key_class_follows_the_collector(code, cls):
    assert key_class(code) == cls


def test_aalto_sentence_becomes_keys_inputs_focus_and_submit(tmp_path):
    t0 = 1_471_946_134_000
    f = _aalto(tmp_path / "9_keystrokes.txt", [
        (9, 1, "Hi", "Hi", 1, t0, t0 + 300, "SHIFT", 16),
        (9, 1, "Hi", "Hi", 2, t0 + 100, t0 + 180, "", 72),   # H while Shift is held
        (9, 1, "Hi", "Hi", 3, t0 + 400, t0 + 470, "", 74),   # a typo ...
        (9, 1, "Hi", "Hi", 4, t0 + 600, t0 + 650, "BKSP", 8),  # ... erased
        (9, 1, "Hi", "Hi", 5, t0 + 800, t0 + 790, "i", 73),  # release before press: a recording glitch
    ])
    (p,) = list(aalto_sessions(f))
    validate(p)
    assert p["v"] == 1 and p["sid"] == "aalto:9:1" and p["fields"] == [[0, "text", 2]]
    start = 2 * LEAD_MS
    assert p["events"] == [
        ["fo", LEAD_MS, 1, 0],
        ["kd", start, 1, "m", 0, 0, 0],
        ["kd", start + 100, 1, "l", 0, 0, 0],
        ["in", start + 100, 1, "insertText", 1, 1, 0],
        ["ku", start + 180, 1, "l", 0, 0, 0],
        ["ku", start + 300, 1, "m", 0, 0, 0],
        ["kd", start + 400, 1, "l", 0, 0, 0],
        ["in", start + 400, 1, "insertText", 1, 2, 0],
        ["ku", start + 470, 1, "l", 0, 0, 0],
        ["kd", start + 600, 1, "b", 0, 0, 0],
        ["in", start + 600, 1, "deleteContentBackward", 0, 1, 0],
        ["ku", start + 650, 1, "b", 0, 0, 0],
        ["kd", start + 800, 1, "l", 0, 0, 0],
        ["in", start + 800, 1, "insertText", 1, 2, 0],
        ["ku", start + 800, 1, "l", 0, 0, 0],
        ["su", start + 800 + SUBMIT_AFTER_MS, 1, 1],
    ]
    assert p["sent_ms"] == p["events"][-1][1]


def test_aalto_control_shortcuts_type_nothing(tmp_path):
    t0 = 1_000_000
    f = _aalto(tmp_path / "3_keystrokes.txt", [
        (3, 5, "a", "a", 1, t0, t0 + 400, "CTRL", 17),
        (3, 5, "a", "a", 2, t0 + 100, t0 + 160, "", 65),  # Ctrl+A selects, types nothing
        (3, 5, "a", "a", 3, t0 + 700, t0 + 780, "", 65),
    ])
    (p,) = list(aalto_sessions(f))
    assert [e[3] for e in p["events"] if e[0] == "in"] == ["insertText"]


def test_aalto_one_payload_per_sentence_in_file_order(tmp_path):
    rows = [(4, sec, "ab", "ab", i, 1000 * sec + 200 * i, 1000 * sec + 200 * i + 80, "", 65 + i)
            for sec in (11, 12, 13) for i in range(2)]
    ps = list(aalto_sessions(_aalto(tmp_path / "4_keystrokes.txt", rows)))
    assert [p["sid"] for p in ps] == ["aalto:4:11", "aalto:4:12", "aalto:4:13"]
    for p in ps:
        validate(p)
        assert p["events"][1][1] == 2 * LEAD_MS  # times are relative to each sentence's own page load


def test_sapimouse_rows_become_pointer_events(tmp_path):
    f = _sapi(tmp_path / "user7" / "session_2020_01_01_1min.csv", [
        (5000, "NoButton", "Move", 100, 200),
        (5016, "NoButton", "Move", 110, 204),
        (5040, "Left", "Pressed", 110, 204),
        (5050, "Left", "Drag", 111, 205),
        (5120, "Left", "Released", 111, 205),
        (5300, "Right", "Pressed", 111, 205),
        (5380, "Right", "Released", 111, 205),
    ] + [(5400 + 16 * i, "NoButton", "Move", 111 + i, 205) for i in range(400)])
    (p,) = list(sapimouse_sessions(f))
    validate(p)
    assert p["sid"] == "sapimouse:user7:session_2020_01_01_1min:0"
    ev = p["events"]
    assert ev[0] == ["mm", LEAD_MS, 1, 100.0, 200.0, 0.0, 0.0, 100.0, 303.0]
    assert ev[1] == ["mm", LEAD_MS + 16, 1, 110.0, 204.0, 10.0, 4.0, 110.0, 307.0]
    assert ev[2] == ["pd", LEAD_MS + 40, 1, 110.0, 204.0, "mouse", 0.5, 1, 1, 1]
    assert ev[3] == ["md", LEAD_MS + 40, 1, 110.0, 204.0, 0, 0, 0, 0, 0]  # no target box is known
    assert ev[4][0] == "mm"  # a drag is a mousemove with the button held
    assert ev[5] == ["mu", LEAD_MS + 120, 1, 111.0, 205.0, 0]
    assert ev[6] == ["ck", LEAD_MS + 120, 1, 111.0, 205.0, 1]
    assert [e[0] for e in ev[7:10]] == ["pd", "md", "mu"]  # a right press: no click event
    assert ev[8][5] == 2 and ev[7][9] == 2


def test_sapimouse_double_click_counts_detail(tmp_path):
    rows = [(1000, "NoButton", "Move", 50, 50)]
    rows += [(1100, "Left", "Pressed", 50, 50), (1160, "Left", "Released", 50, 50),
             (1250, "Left", "Pressed", 50, 50), (1300, "Left", "Released", 50, 50)]
    rows += [(1400 + 16 * i, "NoButton", "Move", 50 + i, 50) for i in range(400)]
    (p,) = list(sapimouse_sessions(_sapi(tmp_path / "user1" / "session_x.csv", rows)))
    assert [e[5] for e in p["events"] if e[0] == "ck"] == [1, 2]


def test_sapimouse_long_sessions_split_into_windows_without_cutting_a_press(tmp_path):
    rows = []
    t = 0
    for i in range(4000):  # 64 s of moves with a press held across every 20 s boundary
        t += 16
        rows.append((t, "NoButton", "Move", i % 1000, 300))
        if i % 600 == 0:
            rows.append((t + 1, "Left", "Pressed", i % 1000, 300))
            rows.append((t + 300, "Left", "Released", i % 1000, 300))
            t += 300
    ps = list(sapimouse_sessions(_sapi(tmp_path / "user2" / "session_long.csv", rows)))
    assert len(ps) >= 3
    for p in ps:
        validate(p)
        kinds = [e[0] for e in p["events"]]
        assert kinds.count("md") == kinds.count("mu")
        assert kinds[0] == "mm"
        span = p["events"][-1][1] - p["events"][0][1]
        assert span <= SAPIMOUSE_WINDOW_MS + 1000


def test_payload_keeps_only_the_collectors_buffer(tmp_path):
    rows = [(8 * i, "NoButton", "Move", i % 800, 100) for i in range(2400)]  # 125 Hz for 19 s
    (p,) = list(sapimouse_sessions(_sapi(tmp_path / "user3" / "session_fast.csv", rows)))
    validate(p)
    assert len(p["events"]) == COLLECTOR_BUFFER
    assert p["dropped"] == 2400 - COLLECTOR_BUFFER


def test_iter_corpus_walks_any_depth_in_sorted_order(tmp_path):
    _aalto(tmp_path / "5_keystrokes.txt", [(5, 1, "a", "a", 1, 1000, 1080, "", 65)])
    deep = tmp_path / "more" / "deeper"
    deep.mkdir(parents=True)
    _aalto(deep / "6_keystrokes.txt", [(6, 2, "a", "a", 1, 1000, 1080, "", 65)])
    _sapi(tmp_path / "mouse" / "user9" / "session_a.csv", [(16 * i, "NoButton", "Move", i, i) for i in range(400)])
    _sapi(tmp_path / "mouse" / "notauser" / "session_b.csv", [(16 * i, "NoButton", "Move", i, i) for i in range(400)])
    (tmp_path / "README.md").write_text("ignored")
    sids = [p["sid"] for p in iter_corpus(tmp_path)]
    assert sids == ["aalto:5:1", "aalto:6:2", "sapimouse:user9:session_a:0"]


@pytest.mark.skipif(not HUMAN_ROOT.is_dir(), reason=f"human corpus not found at {HUMAN_ROOT}")
def test_shared_corpus_payloads_are_valid_and_round_trip():
    for p in itertools.islice(iter_corpus(HUMAN_ROOT), 0, None, 97):
        assert decode(encode(p)) == p
