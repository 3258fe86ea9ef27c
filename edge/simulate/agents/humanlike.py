"""Pointer paths and key timelines for the agents that try to look like a person.

Both ``playwright_humanised`` (synthetic: Bézier paths, random delays) and ``human_replay`` (recorded
people) reduce to the same two things, replayed through Playwright's ``page.mouse`` and
``page.keyboard`` (CDP ``Input.dispatch*Event``: trusted events):

* a **path**: ``[(t_ms, x, y), ...]`` moved along with one ``mouse.move`` per point at its time, then a
  press and a release;
* a **key timeline**: ``[(t_down_ms, t_up_ms, key), ...]``, whose downs and ups are interleaved in time
  order, so a key still held when the next is pressed (rollover) is replayed as such.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

Path = list[tuple[float, float, float]]  # (t_ms, x, y), t from the start of the movement
KeyTimeline = list[tuple[float, float, str]]  # (t_down_ms, t_up_ms, key), t from the first press


def _sleep_until(start: float, t_ms: float) -> None:
    delay = start + t_ms / 1000 - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def keys_for(text: str) -> list[tuple[str, bool]]:
    """Playwright key names for each character, and whether Shift is held for it (US layout)."""
    shifted = set('~!@#$%^&*()_+{}|:"<>?')
    return [("Space" if ch == " " else ch, ch.isupper() or ch in shifted) for ch in text]


def play_keys(page, timeline: KeyTimeline, shift: list[bool] | None = None) -> None:
    """Replay ``timeline`` with ``keyboard.down``/``up`` at the recorded times.

    ``shift[i]`` holds Shift from just before key ``i`` goes down until just after it comes up.
    """
    events: list[tuple[float, int, str, str]] = []  # (t, order, "down"/"up", key)
    for i, (down, up, key) in enumerate(timeline):
        if shift and shift[i]:
            events += [(down - 40, 0, "down", "Shift"), (up + 15, 3, "up", "Shift")]
        events += [(down, 1, "down", key), (max(up, down + 1), 2, "up", key)]
    events.sort(key=lambda e: (e[0], e[1]))
    start = time.monotonic() - min(0.0, events[0][0] / 1000) if events else time.monotonic()
    pending: dict[str, int] = {}  # key → releases still to come; the key is down while any are
    for t, _, kind, key in events:
        _sleep_until(start, t)
        if kind == "down":
            if pending.get(key):
                # The same key again before its release ("ee" typed with overlapping holds): a finger
                # lifts before it presses again. Pressing a held key would be an auto-repeat, and
                # Playwright would type nothing: the character would be lost.
                page.keyboard.up(key)
            page.keyboard.down(key)
            pending[key] = pending.get(key, 0) + 1
        elif pending.get(key):
            pending[key] -= 1
            if not pending[key]:  # the newest press's own release
                page.keyboard.up(key)
    for key, n in pending.items():
        if n:
            page.keyboard.up(key)


def play_path(page, path: Path, press_ms: float | None = None, release_ms: float | None = None) -> None:
    """Move along ``path`` at its times; then, if given, press and release at those times."""
    start = time.monotonic()
    for t, x, y in path:
        _sleep_until(start, t)
        page.mouse.move(x, y)
    if press_ms is not None:
        _sleep_until(start, press_ms)
        page.mouse.down()
        _sleep_until(start, release_ms if release_ms is not None else press_ms + 90)
        page.mouse.up()


def fit_path(path: Path, start: tuple[float, float], end: tuple[float, float]) -> Path:
    """Rotate, scale and translate a recorded path so that it runs from ``start`` to ``end``.

    The shape — curvature, overshoot, corrections — and the timing are the recording's; only its
    placement changes.
    """
    (_, x0, y0), (_, x1, y1) = path[0], path[-1]
    src = complex(x1 - x0, y1 - y0)
    dst = complex(end[0] - start[0], end[1] - start[1])
    k = dst / src if abs(src) > 1e-6 else 1
    out = []
    for t, x, y in path:
        z = complex(start[0], start[1]) + (complex(x - x0, y - y0)) * k
        out.append((t, round(z.real, 1), round(z.imag, 1)))
    return out


@dataclass
class Pointer:
    """Where the (virtual) mouse is: a person's pointer starts somewhere, not at (0, 0)."""

    x: float
    y: float


def bezier_path(rng: random.Random, start: tuple[float, float], end: tuple[float, float]) -> Path:
    """A cubic Bézier from ``start`` to ``end`` with random bowing, ease-in-out timing and ±1 px jitter."""
    (x0, y0), (x3, y3) = start, end
    dist = math.hypot(x3 - x0, y3 - y0)
    nx, ny = (-(y3 - y0) / dist, (x3 - x0) / dist) if dist > 1 else (0.0, 0.0)
    bow1, bow2 = rng.uniform(-0.3, 0.3) * dist, rng.uniform(-0.3, 0.3) * dist
    x1, y1 = x0 + (x3 - x0) * 0.3 + nx * bow1, y0 + (y3 - y0) * 0.3 + ny * bow1
    x2, y2 = x0 + (x3 - x0) * 0.7 + nx * bow2, y0 + (y3 - y0) * 0.7 + ny * bow2
    steps = max(12, min(60, int(dist / 10)))
    duration = 250 + dist * rng.uniform(0.8, 1.4)  # ms: Fitts-like, longer for longer moves
    path: Path = []
    for i in range(1, steps + 1):
        s = i / steps
        u = s * s * (3 - 2 * s)  # ease in and out
        bx = (1 - u) ** 3 * x0 + 3 * (1 - u) ** 2 * u * x1 + 3 * (1 - u) * u ** 2 * x2 + u ** 3 * x3
        by = (1 - u) ** 3 * y0 + 3 * (1 - u) ** 2 * u * y1 + 3 * (1 - u) * u ** 2 * y2 + u ** 3 * y3
        jitter = 0 if i == steps else 1
        path.append((s * duration + rng.uniform(-3, 3), bx + rng.uniform(-jitter, jitter), by + rng.uniform(-jitter, jitter)))
    path.sort(key=lambda p: p[0])
    return path


def random_point_in(rng: random.Random, box: dict) -> tuple[float, float]:
    """Somewhere inside an element's box, near but not at its centre (people aim, they do not compute)."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    x = cx + max(-0.35, min(0.35, rng.gauss(0, 0.15))) * box["width"]
    y = cy + max(-0.3, min(0.3, rng.gauss(0, 0.12))) * box["height"]
    return round(x, 1), round(y, 1)


def synthetic_keys(rng: random.Random, text: str) -> tuple[KeyTimeline, list[bool]]:
    """Randomised typing: log-normal holds and gaps, longer pauses at word starts."""
    t = 0.0
    timeline: KeyTimeline = []
    shift = []
    for i, (key, shifted) in enumerate(keys_for(text)):
        if i:
            gap = rng.lognormvariate(math.log(150), 0.4)
            if text[i - 1] == " ":
                gap += rng.uniform(60, 250)
            t += gap
        hold = rng.lognormvariate(math.log(90), 0.3)
        timeline.append((t, t + hold, key))
        shift.append(shifted)
    return timeline, shift
