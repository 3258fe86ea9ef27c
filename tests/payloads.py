"""Hand-built telemetry for unit tests of the service plumbing (not for judging detection:
detection is judged on telemetry recorded from real browsers and tools, under e2e/ and
signatures/sets/fixtures/)."""
from __future__ import annotations

import random
import re

DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
HEADLESS_UA = DESKTOP_UA.replace("Chrome/", "HeadlessChrome/")


def browser_headers(ua: str = DESKTOP_UA, origin: str = "http://127.0.0.1") -> dict[str, str]:
    """What Chromium sends with a same-origin form POST from a localhost page (secure context):
    without them a Chrome UA is a script's (signatures/sets/network.yml)."""
    m = re.search(r"Chrome/(\d+)", ua)
    major = m.group(1) if m else "131"
    brand = "HeadlessChrome" if "HeadlessChrome/" in ua else "Google Chrome"
    return {
        "User-Agent": ua, "Accept-Language": "en-US,en;q=0.9", "Origin": origin,
        "Sec-CH-UA": f'"{brand}";v="{major}", "Chromium";v="{major}", "Not_A Brand";v="24"',
        "Sec-CH-UA-Mobile": "?0", "Sec-CH-UA-Platform": '"Linux"',
        "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1", "Sec-Fetch-Dest": "document",
    }


def person(seed: int = 1, ua: str = DESKTOP_UA) -> dict:
    """A desktop session with irregular, human-like typing and mouse movement."""
    rng = random.Random(seed)
    events: list[list] = []
    t = 800.0 + rng.random() * 400
    x, y = 300.0, 500.0
    for _ in range(40):  # a curved, decelerating approach to the field
        t += 16 + rng.random() * 3
        x += 6 + rng.gauss(0, 2)
        y -= 4 + rng.gauss(0, 2)
        events.append(["mm", round(t, 1), 1, round(x, 1), round(y, 1), 6, -4, round(x, 1), round(y + 80, 1)])
    t += 90
    events.append(["md", round(t, 1), 1, round(x, 1), round(y, 1), 0, round(rng.gauss(4, 6), 1), round(rng.gauss(2, 3), 1), 280, 36])
    t += 95 + rng.random() * 40
    events.append(["mu", round(t, 1), 1, round(x, 1), round(y, 1), 0])
    events.append(["ck", round(t, 1), 1, round(x, 1), round(y, 1), 1])
    events.append(["fo", round(t + 1, 1), 1, 0])
    n = 0
    for _ in range(24):
        t += 60 + rng.lognormvariate(4.6, 0.5)
        events.append(["kd", round(t, 1), 1, "l", 0, 0, 0])
        events.append(["in", round(t + 2, 1), 1, "insertText", 1, n + 1, 0])
        n += 1
        t += 50 + rng.random() * 70
        events.append(["ku", round(t, 1), 1, "l", 0, 0, 0])
    events.append(["su", round(t + 400, 1), 1, 2])
    return {
        "v": 1, "sid": f"person{seed}", "page": "/register", "sent_ms": round(t + 410, 1),
        "device": {"ua": ua, "platform": "Linux x86_64", "language": "en-US", "languages": ["en-US", "en"],
                   "tz": "Europe/Berlin", "tz_offset_min": -60, "screen": [1920, 1080, 1920, 1053, 24],
                   "window": [1920, 1053, 1920, 947], "dpr": 1, "hw_concurrency": 8, "device_memory": 8,
                   "touch_points": 0, "webgl_vendor": "Google Inc. (Intel)",
                   "webgl_renderer": "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)",
                   "plugins": 5, "mime_types": 2, "uad": {"brands": [["Chromium", "131"], ["Google Chrome", "131"]], "mobile": False, "platform": "Linux"},
                   "cookie_enabled": True, "pdf_viewer": True},
        "markers": {"webdriver": False, "chrome": [True, True, True, True], "cdc": [], "globals": [], "doc_attrs": [],
                    "notif_perm": "default", "perm_query": "prompt", "outer_zero": False, "stack_markers": [], "pw_events": 0},
        "probes": {}, "events": events, "dropped": 0, "fields": [[0, "text", n]],
    }


def headless_playwright() -> dict:
    """What default headless Playwright looks like: webdriver, HeadlessChrome, 1280x720, fill()."""
    p = person(2, ua=HEADLESS_UA)
    p["device"]["window"] = [1280, 720, 1280, 720]
    p["device"]["screen"] = [1280, 720, 1280, 720, 24]
    p["device"]["plugins"] = 0
    p["device"]["webgl_renderer"] = "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)"
    p["markers"]["webdriver"] = True
    p["events"] = [["fo", 50.0, 1, 0], ["in", 51.0, 1, "insertText", 8, 8, 0], ["md", 60.0, 1, 640, 360, 0, 0, 0, 120, 36],
                   ["mu", 61.0, 1, 640, 360, 0], ["ck", 61.0, 1, 640, 360, 1], ["su", 62.0, 1, 2]]
    return p
