"""Recorded human corpora → telemetry payloads, the same map the collector sends (docs/telemetry.md).

Two public corpora are understood (see the README of the shared corpus for sources and licences):

* **Aalto 136M Keystrokes** (``<participant>_keystrokes.txt``, tab-separated, one row per key press
  with press and release times in ms since the epoch). :func:`aalto_sessions` yields one payload per
  typed sentence: a ``fo`` (focus) on field 0, then for every key a ``kd`` at the press time and a
  ``ku`` at the release time, an ``in`` event right after each ``kd`` that changes the text
  (``insertText`` with ``data_len`` 1, ``deleteContentBackward``/``deleteContentForward`` for
  Backspace/Delete), and a ``su`` (submit) after the last release.
* **SapiMouse** (``user*/session_*.csv``: ``client timestamp, button, state, x, y``).
  :func:`sapimouse_sessions` yields one payload per window of :data:`SAPIMOUSE_WINDOW_MS` of a session
  (``mm`` for Move/Drag, ``pd`` + ``md`` for Pressed, ``mu`` for Released, ``ck`` after a left release).

What the corpora do not record is filled in with fixed, documented values, never with noise:
the page is loaded :data:`LEAD_MS` before the first recorded input (the focus lands there), the submit
comes :data:`SUBMIT_AFTER_MS` after the last key release, the device is one ordinary desktop Chrome
(:data:`DESKTOP_DEVICE`, :data:`HUMAN_MARKERS`). SapiMouse records no target elements, so ``md`` carries
an empty target box (``w = h = 0``, offset 0): features that need the box skip such presses.
Times are relative to that page load and rounded to 0.1 ms, like the collector's.

Everything here is a plain generator over files; nothing is cached and nothing is written.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "DESKTOP_DEVICE",
    "HUMAN_MARKERS",
    "COLLECTOR_BUFFER",
    "LEAD_MS",
    "SAPIMOUSE_WINDOW_MS",
    "SUBMIT_AFTER_MS",
    "aalto_sessions",
    "iter_corpus",
    "key_class",
    "payload",
    "sapimouse_sessions",
]

LEAD_MS = 1000.0
"""Time from page load to the focus, and from the focus to the first recorded input (not recorded)."""
SUBMIT_AFTER_MS = 400.0
"""Time from the last key release to the submit (the participant pressed Enter or clicked Next)."""
COLLECTOR_BUFFER = 1_500
"""The collector keeps the newest 1,500 events and counts the rest in ``dropped``; so does :func:`payload`."""
SAPIMOUSE_WINDOW_MS = 20_000.0
"""One payload per 20 s of mouse use: about one form's worth of pointing and clicking, and at the
corpus's ~60 Hz about 1,200 events, under the collector's 1,500-event buffer."""

DESKTOP_DEVICE: dict[str, Any] = {
    "ua": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36"),
    "platform": "Win32",
    "language": "en-US",
    "languages": ["en-US", "en"],
    "tz": "Europe/Helsinki",
    "tz_offset_min": -120,
    "screen": [1920, 1080, 1920, 1040, 24],
    "window": [1920, 1040, 1920, 937],
    "dpr": 1.0,
    "hw_concurrency": 8,
    "device_memory": 8.0,
    "touch_points": 0,
    "webgl_vendor": "Google Inc. (NVIDIA)",
    "webgl_renderer": "ANGLE (NVIDIA, NVIDIA GeForce GTX 1650 Direct3D11 vs_5_0 ps_5_0, D3D11)",
    "plugins": 5,
    "mime_types": 2,
    "uad": {"brands": [["Chromium", "124"], ["Google Chrome", "124"], ["Not-A.Brand", "99"]],
            "mobile": False, "platform": "Windows"},
    "cookie_enabled": True,
    "pdf_viewer": True,
}
"""An ordinary desktop Chrome on Windows; the corpora say nothing about the device."""

HUMAN_MARKERS: dict[str, Any] = {
    "webdriver": False,
    "chrome": [True, True, True, True],
    "cdc": [],
    "globals": [],
    "doc_attrs": [],
    "notif_perm": "default",
    "perm_query": "prompt",
    "outer_zero": False,
    "stack_markers": [],
    "pw_events": 0,
}
"""What a browser nobody automates reports."""


def payload(sid: str, page: str, events: list[list], fields: list[list] | None = None) -> dict[str, Any]:
    """A full v1 telemetry map around ``events`` (already relative to page load and time-ordered).

    Like the collector, only the newest :data:`COLLECTOR_BUFFER` events are kept (the rest counted in
    ``dropped``).
    """
    dropped = max(0, len(events) - COLLECTOR_BUFFER)
    if dropped:
        events = events[dropped:]
    return {
        "v": 1,
        "sid": sid[:64],
        "page": page,
        "sent_ms": events[-1][1] if events else 0.0,
        "device": {k: (list(v) if isinstance(v, list) else v) for k, v in DESKTOP_DEVICE.items()},
        "markers": {k: (list(v) if isinstance(v, list) else v) for k, v in HUMAN_MARKERS.items()},
        "probes": {},
        "events": events,
        "dropped": dropped,
        "fields": fields or [],
    }


# --- Aalto keystrokes ---------------------------------------------------------------------------

# JavaScript keyCodes → the collector's key classes (docs/telemetry.md, "Key classes").
_MODIFIER_CODES = frozenset({16, 17, 18, 20, 91, 92, 93, 224})
_NAV_CODES = frozenset({33, 34, 35, 36, 37, 38, 39, 40})
# keyCodes of printable punctuation on US-like layouts (and the numpad operators).
_PUNCT_CODES = frozenset({59, 61, 106, 107, 109, 110, 111, 173, 186, 187, 188, 189, 190, 191, 192,
                          219, 220, 221, 222, 226})
_COMMAND_CODES = frozenset({17, 91, 92, 93, 224})  # Control/Meta: a key pressed with one types nothing


def key_class(keycode: int) -> str:
    """The collector's class for a JavaScript ``keyCode`` (the Aalto ``KEYCODE`` column)."""
    if 65 <= keycode <= 90:
        return "l"
    if 48 <= keycode <= 57 or 96 <= keycode <= 105:
        return "d"
    if keycode == 32:
        return "s"
    if keycode in (8, 46):
        return "b"
    if keycode == 13:
        return "e"
    if keycode == 9:
        return "t"
    if keycode in _MODIFIER_CODES:
        return "m"
    if keycode in _NAV_CODES:
        return "n"
    if keycode == 229:
        return "p"
    return "o"


def _types_a_character(keycode: int, cls: str) -> bool:
    return cls in ("l", "d", "s") or (cls == "o" and keycode in _PUNCT_CODES)


def _r(t: float) -> float:
    return round(t, 1)


def _aalto_events(rows: list[tuple[float, float, int]], final_len: int) -> tuple[list[list], list[list]]:
    """rows: (press_ms, release_ms, keycode) in the file's order, times already relative."""
    timed: list[tuple[float, int, list]] = []  # (t, order, event); order keeps kd before its in
    value = 0
    command_up_at: list[float] = []  # release times of Control/Meta presses still held
    seq = 0
    for press, release, code in sorted(rows, key=lambda r: r[0]):
        cls = key_class(code)
        release = max(release, press)  # a handful of rows have release < press: recording glitches
        held_command = any(up > press for up in command_up_at)
        timed.append((press, seq, ["kd", _r(press), 1, cls, 0, 0, 0]))
        seq += 1
        ev: list | None = None
        if cls == "b":
            if code == 8 and value > 0:
                value -= 1
                ev = ["in", _r(press), 1, "deleteContentBackward", 0, value, 0]
            elif code == 46:
                ev = ["in", _r(press), 1, "deleteContentForward", 0, value, 0]
        elif _types_a_character(code, cls) and not held_command:
            value += 1
            ev = ["in", _r(press), 1, "insertText", 1, value, 0]
        if ev is not None:
            timed.append((press, seq, ev))
            seq += 1
        if code in _COMMAND_CODES:
            command_up_at.append(release)
        timed.append((release, seq, ["ku", _r(release), 1, cls, 0, 0, 0]))
        seq += 1
    timed.sort(key=lambda x: (x[0], x[1]))
    events = [["fo", LEAD_MS, 1, 0]] + [e for _, _, e in timed]
    end = timed[-1][0] if timed else 2 * LEAD_MS
    events.append(["su", _r(end + SUBMIT_AFTER_MS), 1, 1])
    return events, [[0, "text", final_len]]


def aalto_sessions(path: str | os.PathLike, keys_per_field: int | None = None) -> Iterator[dict[str, Any]]:
    """One payload per sentence typed in an Aalto ``*_keystrokes.txt`` file (file order).

    ``sid`` is ``aalto:<participant>:<test section>``; the first key press happens at
    ``2 * LEAD_MS`` after page load.

    ``keys_per_field=n`` cuts each sentence into consecutive runs of ``n`` key presses, one payload
    each (``sid`` suffixed ``:<run>``, a trailing run shorter than ``n`` dropped): short form fields
    (a name, a code), where every statistic rests on few keys. For stress-testing, not the default.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            return
        col = {name: i for i, name in enumerate(header)}
        i_pid, i_sec, i_in = col["PARTICIPANT_ID"], col["TEST_SECTION_ID"], col["USER_INPUT"]
        i_p, i_r, i_k = col["PRESS_TIME"], col["RELEASE_TIME"], col["KEYCODE"]
        current: tuple[str, str] | None = None
        rows: list[tuple[float, float, int]] = []
        typed = ""

        def one(sid: str, part: list[tuple[float, float, int]], final_len: int) -> dict[str, Any]:
            t0 = min(r[0] for r in part) - 2 * LEAD_MS
            events, fields = _aalto_events([(p - t0, r - t0, k) for p, r, k in part], final_len)
            return payload(sid, "/corpus/aalto", events, fields)

        def flush() -> Iterator[dict[str, Any]]:
            if current is None or not rows:
                return
            sid = f"aalto:{current[0]}:{current[1]}"
            if not keys_per_field:
                yield one(sid, rows, len(typed))
                return
            for i in range(len(rows) // keys_per_field):
                part = rows[i * keys_per_field:(i + 1) * keys_per_field]
                yield one(f"{sid}:{i}", part, sum(1 for _, _, k in part if _types_a_character(k, key_class(k))))

        for rec in reader:
            if len(rec) <= max(i_p, i_r, i_k):
                continue
            try:
                press, release = float(rec[i_p]), float(rec[i_r])
                code = int(rec[i_k]) if rec[i_k].strip() else 0
            except ValueError:
                continue
            if not (math.isfinite(press) and math.isfinite(release)):
                continue
            key = (rec[i_pid], rec[i_sec])
            if key != current:
                yield from flush()
                current, rows, typed = key, [], rec[i_in]
            rows.append((press, release, code))
        yield from flush()


# --- SapiMouse -----------------------------------------------------------------------------------

_BUTTONS = {"Left": 0, "Other": 1, "Right": 2}
# Where the page's viewport sits on the screen (window at the origin, 103 px of browser chrome):
# only used to give ``mm`` a plausible screenX/Y.
_VIEWPORT_ON_SCREEN = (0.0, 103.0)


def _sapimouse_rows(path: Path) -> list[tuple[float, str, str, float, float]]:
    out: list[tuple[float, str, str, float, float]] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for rec in reader:
            if len(rec) < 5:
                continue
            try:
                t, x, y = float(rec[0]), float(rec[3]), float(rec[4])
            except ValueError:
                continue
            if math.isfinite(t) and math.isfinite(x) and math.isfinite(y):
                out.append((t, rec[1].strip(), rec[2].strip(), x, y))
    return out


def _sapimouse_window(rows: list[tuple[float, str, str, float, float]]) -> list[list]:
    t0 = rows[0][0] - LEAD_MS
    events: list[list] = []
    last_t = 0.0
    last_xy: tuple[float, float] | None = None
    down_button: int | None = None
    last_click: tuple[float, float, float, int] | None = None  # t, x, y, detail
    sx0, sy0 = _VIEWPORT_ON_SCREEN
    for t_abs, button, state, x, y in rows:
        t = _r(max(t_abs - t0, last_t))  # the files are in time order; keep it non-decreasing anyway
        last_t = t
        if state in ("Move", "Drag"):
            mx, my = (x - last_xy[0], y - last_xy[1]) if last_xy else (0.0, 0.0)
            events.append(["mm", t, 1, x, y, mx, my, x + sx0, y + sy0])
        elif state == "Pressed":
            b = _BUTTONS.get(button, 0)
            down_button = b
            events.append(["pd", t, 1, x, y, "mouse", 0.5, 1, 1, 1 << (0 if b == 0 else 1 if b == 2 else 2)])
            events.append(["md", t, 1, x, y, b, 0, 0, 0, 0])
        elif state == "Released":
            b = _BUTTONS.get(button, 0) if down_button is None else down_button
            down_button = None
            events.append(["mu", t, 1, x, y, b])
            if b == 0:
                detail = 1
                if last_click and t - last_click[0] <= 500 and math.hypot(x - last_click[1], y - last_click[2]) <= 4:
                    detail = last_click[3] + 1
                last_click = (t, x, y, detail)
                events.append(["ck", t, 1, x, y, detail])
        last_xy = (x, y)
    return events


def sapimouse_sessions(path: str | os.PathLike, window_ms: float = SAPIMOUSE_WINDOW_MS) -> Iterator[dict[str, Any]]:
    """Payloads from one SapiMouse session CSV, one per ``window_ms`` of recording.

    A window starts at the first row at or after its start time, moved forward to the first Move
    row with no button held so that no press is cut from its release. A trailing window shorter
    than a quarter of ``window_ms`` is dropped (too little to judge, and not what a form sends).
    ``sid`` is ``sapimouse:<user>:<session file stem>:<window index>``.
    """
    path = Path(path)
    rows = _sapimouse_rows(path)
    if not rows:
        return
    user = path.parent.name
    idx = 0
    i = 0
    n = len(rows)
    while i < n:
        start = rows[i][0]
        j = i
        while j < n and rows[j][0] < start + window_ms:
            j += 1
        # extend to the end of a press in progress, then cut before the next Move
        held = False
        for k in range(i, j):
            st = rows[k][2]
            if st == "Pressed":
                held = True
            elif st == "Released":
                held = False
        while j < n and (held or rows[j][2] != "Move"):
            st = rows[j][2]
            if st == "Pressed":
                held = True
            elif st == "Released":
                held = False
            j += 1
        window = rows[i:j]
        if window and window[-1][0] - window[0][0] >= window_ms / 4:
            yield payload(f"sapimouse:{user}:{path.stem}:{idx}", "/corpus/sapimouse", _sapimouse_window(window))
            idx += 1
        i = j


# --- any folder laid out like the shared corpus ---------------------------------------------------

def iter_corpus(root: str | os.PathLike, *, keys_per_field: int | None = None,
                mouse_window_ms: float = SAPIMOUSE_WINDOW_MS) -> Iterator[dict[str, Any]]:
    """Every payload under ``root`` at any depth, in sorted path order (deterministic).

    ``*_keystrokes.txt`` files are read as Aalto keystrokes; ``session_*.csv`` files whose parent
    folder is named ``user*`` as SapiMouse sessions. Other files are ignored. ``keys_per_field``
    and ``mouse_window_ms`` are passed on (shorter payloads for stress-testing).
    """
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        parent = Path(dirpath)
        for name in sorted(filenames):
            if name.endswith("_keystrokes.txt"):
                yield from aalto_sessions(parent / name, keys_per_field)
            elif name.startswith("session_") and name.endswith(".csv") and parent.name.startswith("user"):
                yield from sapimouse_sessions(parent / name, mouse_window_ms)
