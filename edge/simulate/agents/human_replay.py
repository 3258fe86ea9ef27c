"""The honest control: recorded people's keystrokes and mouse paths, replayed into the real page.

Not an automation tool. It measures what Tell makes of human *behaviour* arriving through a browser:
key timing from the Aalto 136M Keystrokes corpus (every key pressed and released with the gaps and
holds one participant actually produced, rollover included, through ``keyboard.down``/``up``) and
pointer paths from SapiMouse (one user's recorded movements, each fitted from where the pointer is to
a point inside the target and replayed with ``mouse.move`` at the recorded timestamps, then the
recorded press and release). The text typed is the flow's own; its timing is the person's.

It is still a Playwright browser: headful on Xvfb, ``--enable-automation`` removed,
``AutomationControlled`` disabled and the stealth init script (:mod:`.stealth`) so that the textbook
device markers do not decide the row — but a CDP client is attached, the WebGL renderer is a software
one, and the stealth patches themselves can be seen by an integrity probe. Whatever flags this row is
reported as it is: a refusal here is either a false positive from behaviour or a device marker the
control could not hide, and the cell's rule families say which.

Data: ``$TELL_HUMAN_DATA`` or ``../shared/data/human`` beside the repository (``aalto-keystrokes/``,
``sapimouse/``); the participant and user are picked by the job's seed and named in the row's detail.
"""
from __future__ import annotations

import contextlib
import csv
import os
import random
from pathlib import Path

from edge.simulate.agents import stealth
from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.humanlike import KeyTimeline, Path as MousePath, Pointer, fit_path, keys_for, play_keys, \
    play_path, random_point_in
from edge.simulate.agents.pw import PlaywrightAgent
from edge.simulate.agents.xvfb import virtual_display

INFO = AgentInfo("human_replay",
                 "control: recorded human key timing (Aalto) and mouse paths (SapiMouse), headful, stealth",
                 "playwright", automated=False, heavy=True)
MAX_GAP_MS = 1500.0  # between sentences the participant read the next prompt: not typing rhythm
_TEXT_KEYCODES = set(range(65, 91)) | set(range(48, 58)) | {32} | {186, 187, 188, 189, 190, 191, 192, 219, 220, 221, 222}


class KeyTiming:
    """One Aalto participant's character keystrokes as a stream of (gap before press, hold) in ms."""

    def __init__(self, path: Path):
        self.name = path.stem.split("_")[0]
        self.strokes: list[tuple[float, float]] = []
        last_press: float | None = None
        last_section = None
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            col = {name: i for i, name in enumerate(next(reader))}
            for rec in reader:
                try:
                    press, release = float(rec[col["PRESS_TIME"]]), float(rec[col["RELEASE_TIME"]])
                    code = int(rec[col["KEYCODE"]])
                except (ValueError, IndexError):
                    continue
                if code not in _TEXT_KEYCODES:
                    continue
                section = rec[col["TEST_SECTION_ID"]]
                gap = 0.0 if last_press is None or section != last_section else press - last_press
                gap = min(max(gap, 0.0), MAX_GAP_MS) if section == last_section else 350.0
                self.strokes.append((gap, min(max(release - press, 15.0), 600.0)))
                last_press, last_section = press, section
        self.at = 0

    def timeline(self, text: str) -> tuple[KeyTimeline, list[bool]]:
        keys = keys_for(text)
        if len(self.strokes) < len(keys):
            raise RuntimeError(f"Aalto participant {self.name}: too few keystrokes")
        t = 0.0
        timeline: KeyTimeline = []
        for i, (key, _) in enumerate(keys):
            gap, hold = self.strokes[self.at % len(self.strokes)]
            self.at += 1
            t += gap if i else 0.0
            timeline.append((t, t + hold, key))
        return timeline, [s for _, s in keys]


class MousePaths:
    """One SapiMouse user's pointing movements: the moves before each left press, with press and release."""

    def __init__(self, user_dir: Path):
        self.name = user_dir.name
        self.segments: list[tuple[MousePath, float, float]] = []  # path, press_ms, release_ms (from path start)
        for f in sorted(user_dir.glob("*.csv")):
            self._read(f)
        if not self.segments:
            raise RuntimeError(f"SapiMouse {self.name}: no usable pointing movements")
        self.at = 0

    def _read(self, path: Path) -> None:
        moves: list[tuple[float, float, float]] = []
        pending: tuple[MousePath, float] | None = None
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for rec in reader:
                try:
                    t, button, state, x, y = float(rec[0]), rec[1].strip(), rec[2].strip(), float(rec[3]), float(rec[4])
                except (ValueError, IndexError):
                    continue
                if state == "Move":
                    moves.append((t, x, y))
                elif state == "Pressed" and button == "Left":
                    # The movement that led to this press: back to the last pause of 300 ms or more.
                    seg = moves[:]
                    for k in range(len(seg) - 1, 0, -1):
                        if seg[k][0] - seg[k - 1][0] >= 300:
                            seg = seg[k:]
                            break
                    pending = (seg, t) if seg else None
                    moves = []
                elif state == "Released" and button == "Left" and pending:
                    seg, press = pending
                    t0 = seg[0][0]
                    dist = ((seg[-1][1] - seg[0][1]) ** 2 + (seg[-1][2] - seg[0][2]) ** 2) ** 0.5
                    if len(seg) >= 6 and 200 <= press - t0 <= 2500 and dist >= 80:
                        self.segments.append(([(tt - t0, xx, yy) for tt, xx, yy in seg], press - t0, t - t0))
                    pending = None
                elif state not in ("Move",):
                    moves = []

    def next(self) -> tuple[MousePath, float, float]:
        seg = self.segments[self.at % len(self.segments)]
        self.at += 1
        return seg


def _pick(rng: random.Random, items: list[Path]) -> Path:
    if not items:
        raise RuntimeError("no recorded human data found")
    return items[rng.randrange(len(items))]


class HumanReplay(PlaywrightAgent):
    headless = False

    def __init__(self, job: Job):
        root = Path(job.human_data)
        if not (root / "aalto-keystrokes").is_dir() or not (root / "sapimouse").is_dir():
            raise RuntimeError(f"no recorded human data at {root} (set TELL_HUMAN_DATA)")
        rng = random.Random(job.seed)
        self.keys = KeyTiming(_pick(rng, sorted((root / "aalto-keystrokes").glob("*_keystrokes.txt"))))
        self.mouse = MousePaths(_pick(rng, sorted(p for p in (root / "sapimouse").iterdir() if p.is_dir())))
        self.rng = rng
        self.pointer = Pointer(rng.uniform(300, 900), rng.uniform(200, 600))

    @property
    def detail(self) -> str:
        return f"Aalto participant {self.keys.name}, SapiMouse {self.mouse.name}"

    @contextlib.contextmanager
    def environment(self, job: Job):
        with virtual_display() as display:
            yield {**os.environ, "DISPLAY": display}

    def launch_options(self, job: Job) -> dict:
        options = super().launch_options(job)
        options["args"] += ["--disable-blink-features=AutomationControlled", "--window-size=1366,900",
                            "--window-position=0,0"]
        options["ignore_default_args"] = ["--enable-automation"]
        return options

    def context_options(self, job: Job, browser) -> dict:
        return {"no_viewport": True, "user_agent": stealth.user_agent(browser.version), "locale": "en-US"}

    def prepare(self, context, page) -> None:
        context.add_init_script(stealth.INIT_SCRIPT)

    def _point_and_press(self, page, selector: str) -> None:
        box = page.locator(selector).bounding_box()
        if box is None:
            raise RuntimeError(f"{selector} has no box (not visible)")
        end = random_point_in(self.rng, box)
        path, press, release = self.mouse.next()
        play_path(page, fit_path(path, (self.pointer.x, self.pointer.y), end), press, release)
        self.pointer = Pointer(*end)

    def enter(self, page, selector: str, text: str) -> None:
        self._point_and_press(page, selector)
        timeline, shift = self.keys.timeline(text)
        # The first key follows the click after one recorded gap, as it would after reaching the field.
        offset = min(self.keys.strokes[self.keys.at % len(self.keys.strokes)][0] + 250.0, MAX_GAP_MS)
        play_keys(page, [(d + offset, u + offset, k) for d, u, k in timeline], shift)

    def click(self, page, selector: str) -> None:
        self._point_and_press(page, selector)


def run(job: Job) -> Outcome:
    agent = HumanReplay(job)
    out = agent.run(job)
    out.detail = agent.detail
    return out
