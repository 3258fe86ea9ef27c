"""A browser driven through the X server, with no automation client attached at all.

Chromium runs headful on a private Xvfb display, started with no automation switch and no DevTools
port; input is real X input (XTEST, through xdotool), so every event is trusted. Two drivers:

* ``computer_use`` — a computer-use desktop agent as Anthropic's computer-use-demo drives one
  (``computer_use_demo/tools/computer.py``): a 1024×768 Xvfb screen, ``xdotool mousemove`` (a jump)
  then ``click 1``, and ``xdotool type --delay 12`` in chunks of 50 characters.
* ``human`` — the negative control: a person's recorded mouse paths (SapiMouse) and key timings (Aalto
  136M keystrokes) from ``shared/data/human`` replayed through xdotool on a 1920×1080 screen.

Neither can read the page, so the decision is read from the admin API (the proxy forwards it).
Element positions come from the demo's fixed layout, measured once in a separate headless browser at
the same inner size (no client ever touches the driven browser).
"""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from e2e.tools import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ToolRun, browser_version
from e2e.tools.xvfb import xvfb

HUMAN_DATA = Path(os.environ.get("TELL_HUMAN_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "human"))
CHROME_TOP_PX = 87  # Chromium's tab strip + toolbar on a bare X server (no window manager), measured
TYPING_DELAY_MS = 12  # computer-use-demo computer.py
TYPING_GROUP_SIZE = 50


def _measure(url: str, inner: tuple[int, int]) -> dict[str, tuple[float, float]]:
    """Centres of the register form's controls at this inner size (a separate headless Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = b.new_page(viewport={"width": inner[0], "height": inner[1]})
            page.goto(url + "/register?measure=1")
            out = {}
            for sel in ("#username", "#password", "#submit"):
                r = page.locator(sel).bounding_box()
                out[sel] = (r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
            return out
        finally:
            b.close()


def _xdo(display: str, *args: str) -> None:
    if not shutil.which("xdotool"):
        raise RuntimeError("xdotool is not installed (apt-get install xdotool)")
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=60)


def _chromium(stack: ExitStack, display: str, url: str, size: tuple[int, int]) -> None:
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tell-desktop-", ignore_cleanup_errors=True))
    # --test-type only hides the "unsupported flag" bar that --no-sandbox (needed as root) would add.
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_ARGS, "--test-type", f"--user-data-dir={tmp}", "--password-store=basic",
                             "--window-position=0,0", f"--window-size={size[0]},{size[1]}", url + "/register"],
                            env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def stop():
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        time.sleep(0.3)  # its helpers finish writing the profile
    stack.callback(stop)
    time.sleep(4)  # first paint, collector loaded, idle probes done


def _decision(url: str, username: str) -> tuple[str | None, list[str], float | None]:
    from e2e.servers import ADMIN_TOKEN

    deadline = time.monotonic() + 15
    while True:
        req = urllib.request.Request(f"{url}/v1/accounts/{username}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                d = json.load(r)["decisions"][0]
                return d["decision"], sorted(d.get("families") or []), d.get("score")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _xdotool_version(display: str) -> str:
    p = subprocess.run(["xdotool", "version"], capture_output=True, text=True, timeout=10, env={**os.environ, "DISPLAY": display})
    words = (p.stdout + " " + p.stderr).split()
    return words[words.index("version") + 1] if "version" in words[:-1] else "unknown"


def computer_use(url: str, username: str) -> ToolRun:
    screen = (1024, 768)
    pos = _measure(url, (screen[0], screen[1] - CHROME_TOP_PX))
    with ExitStack() as stack:
        display = stack.enter_context(xvfb(*screen))
        _chromium(stack, display, url, screen)
        rng = random.Random(len(username))
        for sel, text in (("#username", username), ("#password", PASSWORD)):
            x, y = pos[sel]  # the model names a point near the middle of what it sees, not the exact centre
            x, y = x + rng.randint(-6, 6), y + rng.randint(-3, 3)
            _xdo(display, "mousemove", "--sync", str(round(x)), str(round(y + CHROME_TOP_PX)))
            _xdo(display, "click", "1")
            time.sleep(1.0)  # the model looks at a screenshot between actions
            for i in range(0, len(text), TYPING_GROUP_SIZE):
                _xdo(display, "type", "--delay", str(TYPING_DELAY_MS), "--", text[i:i + TYPING_GROUP_SIZE])
            time.sleep(1.0)
        x, y = pos["#submit"]
        _xdo(display, "mousemove", "--sync", str(round(x)), str(round(y + CHROME_TOP_PX)))
        _xdo(display, "click", "1")
        decision, fams, score = _decision(url, username)
        xdotool = _xdotool_version(display)
    return ToolRun("computer-use-xdotool", xdotool, browser_version(), decision, fams, score, note="xdotool under Xvfb 1024x768, Chromium started with no automation switch")


# --- the human control ------------------------------------------------------------------------------

def _mouse_segments(rng: random.Random) -> list[list[tuple[float, float, float]]]:
    """Movements that end in a press, from SapiMouse: [(t_ms, x, y), ...] plus the hold in the last item."""
    files = sorted((HUMAN_DATA / "sapimouse").rglob("*.csv"))
    if not files:
        raise RuntimeError(f"no SapiMouse files under {HUMAN_DATA} (set TELL_HUMAN_DATA)")
    out = []
    for f in rng.sample(files, min(6, len(files))):
        rows = list(csv.DictReader(open(f)))
        path: list[tuple[float, float, float]] = []
        for i, r in enumerate(rows):
            t, x, y = float(r["client timestamp"]), float(r["x"]), float(r["y"])
            if r["state"] == "Move":
                if path and t - path[-1][0] > 300:
                    path = []
                path.append((t, x, y))
            elif r["state"] == "Pressed":
                rel = next((float(q["client timestamp"]) for q in rows[i + 1:i + 20] if q["state"] == "Released"), t + 90)
                if len(path) >= 8 and 250 < path[-1][0] - path[0][0] < 1500 and abs(path[-1][1] - path[0][1]) + abs(path[-1][2] - path[0][2]) > 150:
                    out.append(path + [(t, x, y), (rel, x, y)])
                path = []
        if len(out) >= 6:
            break
    return out


def _fit(seg, start: tuple[float, float], end: tuple[float, float]):
    """Map a recorded path onto start → end (scale and rotate), keeping its timing and its wobble."""
    import cmath

    a, b = complex(*seg[0][1:]), complex(*seg[-1][1:])
    s, e = complex(*start), complex(*end)
    k = (e - s) / (b - a) if b != a else 1
    t0 = seg[0][0]
    return [(t - t0, ((complex(x, y) - a) * k + s).real, ((complex(x, y) - a) * k + s).imag) for t, x, y in seg]


def _key_timings(rng: random.Random, n: int) -> list[tuple[float, float]]:
    """(press offset, hold) in ms for n consecutive keystrokes of one Aalto participant."""
    files = sorted((HUMAN_DATA / "aalto-keystrokes").glob("*_keystrokes.txt"))
    for f in rng.sample(files, len(files)):
        rows = [r for r in csv.DictReader(open(f, encoding="utf-8", errors="replace"), delimiter="\t") if r["LETTER"] not in ("BKSP", "SHIFT")]
        for start in range(0, max(0, len(rows) - n), 7):
            chunk = rows[start:start + n]
            p = [float(r["PRESS_TIME"]) for r in chunk]
            if len(chunk) == n and all(0 < b - a < 900 for a, b in zip(p, p[1:])):
                return [(pt - p[0], max(30.0, float(r["RELEASE_TIME"]) - pt)) for pt, r in zip(p, chunk)]
    raise RuntimeError("no usable Aalto keystroke run")


_KEYSYM = {" ": "space", "_": "underscore", "-": "minus", ".": "period"}


def _play(display: str, timeline: list[tuple[float, list[str]]]) -> None:
    """One xdotool process for a timeline of (t_ms, command words): sleeps between, in order."""
    timeline.sort(key=lambda e: e[0])
    words, now = [], 0.0
    for t, cmd in timeline:
        if t > now:
            words += ["sleep", f"{(t - now) / 1000:.4f}"]
            now = t
        words += cmd
    _xdo(display, *words)


def human(url: str, username: str) -> ToolRun:
    rng = random.Random(sum(map(ord, username)))
    screen = (1920, 1080)
    pos = _measure(url, (screen[0], screen[1] - CHROME_TOP_PX))
    segs = _mouse_segments(rng)
    with ExitStack() as stack:
        display = stack.enter_context(xvfb(*screen))
        _chromium(stack, display, url, screen)
        here = (screen[0] * 0.6, screen[1] * 0.7)
        _xdo(display, "mousemove", str(round(here[0])), str(round(here[1])))
        for i, (sel, text) in enumerate((("#username", username), ("#password", PASSWORD), ("#submit", ""))):
            x, y = pos[sel]
            target = (x + rng.uniform(-20, 20) if sel != "#submit" else x + rng.uniform(-8, 8), y + CHROME_TOP_PX + rng.uniform(-3, 3))
            path = _fit(segs[i % len(segs)], here, target)
            *moves, press, release = path
            tl = [(t, ["mousemove", str(round(px)), str(round(py))]) for t, px, py in moves]
            tl += [(press[0], ["mousedown", "1"]), (release[0], ["mouseup", "1"])]
            if text:
                t0 = release[0] + rng.uniform(350, 700)
                for ch, (off, hold) in zip(text, _key_timings(rng, len(text))):
                    k = _KEYSYM.get(ch, ch)
                    tl += [(t0 + off, ["keydown", k]), (t0 + off + hold, ["keyup", k])]
            _play(display, tl)
            here = target
            time.sleep(rng.uniform(0.4, 0.9))
        decision, fams, score = _decision(url, username)
    return ToolRun("human-xdotool", "sapimouse+aalto", browser_version(), decision, fams, score,
                   note="recorded people (SapiMouse paths, Aalto key timings) replayed with xdotool under Xvfb 1920x1080; no automation client")
