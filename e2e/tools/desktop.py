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


# --- the human control in other browsers --------------------------------------------------------------
#
# The same recorded people, through the same X path, into Firefox ESR (Gecko) and GNOME Web (WebKitGTK),
# each started the way a person starts it: a fresh profile, the demo's URL on the command line, no
# Marionette, no remote protocol, no WebDriver. They go on past register: the result page's "next" link
# (clicked), a post, its "Comment on it" link, a comment.

POST_TEXT = "dumplings on 5th street, worth the queue"
COMMENT_TEXT = "agreed, the chive ones"
_KEYSYM.update({",": "comma", "'": "apostrophe"})

# Only what a person clicks away on a first start (welcome tab, default-browser question, data
# reporting notice, "save this password?" panel that would cover the page); nothing a page can read.
FIREFOX_USER_JS = """\
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "");
user_pref("startup.homepage_welcome_url.additional", "");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.firstRunURL", "");
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.normandy.enabled", false);
user_pref("signon.rememberSignons", false);
user_pref("browser.translations.automaticallyPopup", false);
"""
FIREFOX = os.environ.get("TELL_FIREFOX", "firefox-esr")
EPIPHANY = os.environ.get("TELL_EPIPHANY", "epiphany-browser")
# Where the page starts on the screen (left, top) and its inner size, on a bare X server at 1920×1080,
# measured from the telemetry of one run (screenX/Y − clientX/Y of every mousemove; innerWidth/Height):
# Firefox's tab strip and toolbar; GNOME Web's header bar inside its 5 px client-side shadow.
# GNOME Web adds a 47 px bar above the register page once its login form is first focused (its password
# manager; here there is no keyring), so there the page is 47 px lower after the first click.
PAGE_BOX = {"firefox": (0, 85, 1920, 995), "epiphany": (5, 51, 1910, 1024)}
LOGIN_BAR_PX = {"epiphany": 47}


def _stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _launch(stack: ExitStack, display: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    if not shutil.which(argv[0]):
        raise RuntimeError(f"{argv[0]} is not installed (scripts/test installs it with apt)")
    proc = subprocess.Popen(argv, env={**os.environ, "DISPLAY": display, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    stack.callback(_stop_group, proc)


def _firefox(stack: ExitStack, display: str, url: str, size: tuple[int, int]) -> None:
    profile = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tell-firefox-", ignore_cleanup_errors=True)))
    (profile / "user.js").write_text(FIREFOX_USER_JS)
    _launch(stack, display, [FIREFOX, "--no-remote", "--profile", str(profile), "--width", str(size[0]),
                             "--height", str(size[1]), url + "/register"])
    time.sleep(5)  # a new profile, first paint, collector loaded


def _epiphany(stack: ExitStack, display: str, url: str, size: tuple[int, int]) -> None:
    profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="tell-epiphany-", ignore_cleanup_errors=True))
    # Its settings live in GSettings, here a key file in the fresh home: only the two questions a person
    # answers on a first start (the "make GNOME Web your default browser?" and "save this password?"
    # bars, which push the page down when they appear).
    settings = Path(profile, "config", "glib-2.0", "settings")
    settings.mkdir(parents=True)
    (settings / "keyfile").write_text("[org/gnome/epiphany]\nask-for-default=false\n\n"
                                      "[org/gnome/epiphany/web]\nremember-passwords=false\n")
    # GNOME Web needs a session bus; as root in a container WebKit's bubblewrap sandbox cannot start.
    argv = ["dbus-run-session", "--", EPIPHANY, f"--profile={profile}", url + "/register"]
    _launch(stack, display, argv, {"WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS": "1", "XDG_RUNTIME_DIR": profile,
                                   "HOME": profile, "XDG_CONFIG_HOME": f"{profile}/config", "GSETTINGS_BACKEND": "keyfile"})
    time.sleep(6)
    wid = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--class", "epiphany"], capture_output=True,
                         text=True, timeout=20, env={**os.environ, "DISPLAY": display}).stdout.split()
    if wid:  # no window manager: size the window (at 0,0) as a maximised one, and give it the keyboard
        _xdo(display, "windowsize", wid[0], str(size[0]), str(size[1]), "windowfocus", wid[0])
        time.sleep(1.5)


def _layout(inner: tuple[int, int]) -> dict[str, dict[str, tuple[float, float]]]:
    """Centres of what the person clicks on each page of the flow, at this inner size (the demo's own
    markup, laid out in a separate headless Chromium; no client touches the driven browser)."""
    from playwright.sync_api import sync_playwright

    from edge.demo import REGISTER_FORM, _post_form, page

    def result(h2: str, link: str) -> str:
        return (f"<h2>{h2}</h2><p>Tell: <span id=\"decision\" class=\"badge allow\">allow</span> <span class=\"muted\">"
                f"score 0.00 · request 0a1b2c3d</span></p><p><a id=\"next\" href=\"#\">{link}</a></p>")

    pages = {
        "register": (page("Register", REGISTER_FORM, None).text, ("#username", "#password", "#submit")),
        "registered": (page("Registered", result("Welcome, someone", "Write your first post"), "someone").text, ("#next",)),
        "post": (page("New post", "<h2>New post</h2>" + _post_form("/post", "post", "What's on your mind?"), "someone").text,
                 ("#body", "#submit")),
        "posted": (page("Posted", result("Posted #1", "Comment on it"), "someone").text, ("#next",)),
        "comment": (page("Comment", f'<div class="post"><p>{POST_TEXT}</p></div>'
                         + _post_form("/comment?post=1", "comment", "Your comment"), "someone").text, ("#body", "#submit")),
    }
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            p = b.new_page(viewport={"width": inner[0], "height": inner[1]})
            for name, (html_text, sels) in pages.items():
                p.set_content(html_text.replace('<script src="/edge/collector.js" defer></script>', ""))
                out[name] = {}
                for sel in sels:
                    r = p.locator(sel).bounding_box()
                    out[name][sel] = (r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
        finally:
            b.close()
    return out


def _decisions(url: str, username: str, n: int) -> list[dict]:
    """The account's decisions, oldest first, once ``n`` have been made (the admin API)."""
    from e2e.servers import ADMIN_TOKEN

    deadline = time.monotonic() + 15
    while True:
        req = urllib.request.Request(f"{url}/v1/accounts/{username}?limit=50", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                got = json.load(r)["decisions"]
            if len(got) >= n or time.monotonic() > deadline:
                return list(reversed(got))
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def _browser_version(argv0: str) -> str:
    p = subprocess.run([argv0, "--version"], capture_output=True, text=True, timeout=20)
    out = (p.stdout.strip() or p.stderr.strip()).splitlines()[-1] if (p.stdout or p.stderr) else "unknown"
    if argv0 == EPIPHANY:  # GNOME Web's engine is the system WebKitGTK
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libwebkit2gtk-4.1-0"], capture_output=True, text=True, timeout=20)
        out += f" (WebKitGTK {q.stdout.split('-')[0]})" if q.returncode == 0 and q.stdout else ""
    return out


def human_flow(url: str, username: str, browser: str = "firefox") -> ToolRun:
    """A recorded person registers, posts and comments in ``browser`` (``firefox`` or ``epiphany``),
    clicking the fields, the buttons and the result pages' links with SapiMouse paths and typing with
    Aalto timings; returns every write's decision (admin API) in ``writes``."""
    launch = {"firefox": _firefox, "epiphany": _epiphany}[browser]
    rng = random.Random(sum(map(ord, username)) + len(browser))
    screen = (1920, 1080)
    left, top, *inner = PAGE_BOX[browser]
    layout = _layout((inner[0], inner[1]))
    segs = _mouse_segments(rng)
    steps = [("register", "#username", username), ("register", "#password", PASSWORD), ("register", "#submit", ""),
             ("registered", "#next", ""), ("post", "#body", POST_TEXT), ("post", "#submit", ""),
             ("posted", "#next", ""), ("comment", "#body", COMMENT_TEXT), ("comment", "#submit", "")]
    with ExitStack() as stack:
        display = stack.enter_context(xvfb(*screen))
        launch(stack, display, url, screen)
        here = (screen[0] * 0.6, screen[1] * 0.7)
        _xdo(display, "mousemove", str(round(here[0])), str(round(here[1])))
        for i, (name, sel, text) in enumerate(steps):
            x, y = layout[name][sel]
            dx = 20 if sel in ("#username", "#password", "#body") else 6
            y += top + (LOGIN_BAR_PX.get(browser, 0) if name == "register" and i > 0 else 0)
            target = (x + left + rng.uniform(-dx, dx), y + rng.uniform(-3, 3))
            *moves, press, release = _fit(segs[i % len(segs)], here, target)
            tl = [(t, ["mousemove", str(round(px)), str(round(py))]) for t, px, py in moves]
            tl += [(press[0], ["mousedown", "1"]), (release[0], ["mouseup", "1"])]
            if text:
                t0 = release[0] + rng.uniform(350, 700)
                keys = list(zip(text, _key_timings(rng, len(text))))
                for j, (ch, (off, hold)) in enumerate(keys):
                    if j + 1 < len(keys) and keys[j + 1][0] == ch:  # one finger cannot press a key that is still down
                        hold = min(hold, max(5.0, keys[j + 1][1][0] - off - 5))
                    k = _KEYSYM.get(ch, ch)
                    tl += [(t0 + off, ["keydown", k]), (t0 + off + hold, ["keyup", k])]
            _play(display, tl)
            here = target
            # a page load and a look at the result after a submit or a link; a pause between fields
            time.sleep(rng.uniform(1.3, 1.9) if sel in ("#submit", "#next") else rng.uniform(0.4, 0.9))
        got = _decisions(url, username, 3)
        version = _browser_version(FIREFOX if browser == "firefox" else EPIPHANY)
    writes = [{"action": d.get("action"), "decision": d.get("decision"), "families": sorted(d.get("families") or []),
               "score": d.get("score"), "rules": sorted(r["id"] for r in d.get("rules", []))} for d in got]
    first = writes[0] if writes else {}
    return ToolRun(f"human-xdotool-{browser}", "sapimouse+aalto", version, first.get("decision"), first.get("families", []),
                   first.get("score"), note=(f"recorded people (SapiMouse paths, Aalto key timings) replayed with xdotool under "
                                             f"Xvfb 1920x1080 into {version}, started with a fresh profile and no automation "
                                             f"protocol; register, post, comment by clicking the result pages' links"),
                   writes=writes)


def record_human_flow(browser: str, out_dir: Path | None = None) -> list[Path]:
    """``python -m e2e.tools.desktop firefox|epiphany``: run :func:`human_flow` against `tell demo` behind
    the recording proxy and write one fixture per write, ``rec-human-xdotool-<browser>-<version>-<action>``
    (``.msgpack`` the telemetry body sent with that write, ``.headers.json`` its request headers,
    ``.json`` the provenance note)."""
    import datetime
    import re

    from e2e.servers import tell_process
    from e2e.tools.capture import RecordingProxy
    from e2e.tools.run import ROOT

    out_dir = out_dir or ROOT / "signatures" / "sets" / "fixtures"
    with tempfile.TemporaryDirectory() as tmp, tell_process("demo", Path(tmp)) as base, RecordingProxy(base) as proxy:
        result = human_flow(proxy.url, f"rec_person_{browser}", browser)
        sent = {path.strip("/").split("?")[0]: rec for path, rec in proxy.recorder.take_by_write()}
    version = re.search(r"\d[\w.]*", result.browser)
    stem = f"rec-human-xdotool-{browser}-{version.group(0) if version else 'x'}"
    paths = []
    for write in result.writes:
        rec = sent[write["action"]]
        name = f"{stem}-{write['action']}"
        (out_dir / f"{name}.msgpack").write_bytes(rec.body)
        keep = {k: v for k, v in rec.headers.items() if k not in ("cookie", "host", "content-length")}
        (out_dir / f"{name}.headers.json").write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n")
        note = {"tool": f"human-xdotool-{browser}", "tool_version": result.version, "browser": result.browser,
                "chromium": None, "date": datetime.date.today().isoformat(),
                "how": (f"python -m e2e.tools.desktop {browser}: e2e/tools/desktop.py human_flow; {result.note}; the body "
                        f"of the telemetry POST sent with the {write['action']} write, captured at a loopback proxy"),
                "decision_at_recording": write["decision"], "families_at_recording": write["families"],
                "rules_at_recording": write["rules"]}
        (out_dir / f"{name}.json").write_text(json.dumps(note, indent=1) + "\n")
        paths.append(out_dir / f"{name}.msgpack")
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m e2e.tools.desktop BROWSER`` records fixtures; with ``--url URL --username U`` it runs the
    flow against a running demo and prints the result line (`e2e/test_other_browsers.py`)."""
    import argparse

    from e2e.tools import RESULT_MARK

    p = argparse.ArgumentParser(prog="python -m e2e.tools.desktop")
    p.add_argument("browser", choices=sorted(PAGE_BOX))
    p.add_argument("--url")
    p.add_argument("--username")
    args = p.parse_args(argv)
    if args.url:
        print(RESULT_MARK + json.dumps(human_flow(args.url, args.username or "person", args.browser).to_json()), flush=True)
        return 0
    for path in record_human_flow(args.browser):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
