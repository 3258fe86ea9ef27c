"""Device signals and automation markers → features. Pure; the UA parse is cached (bounded)."""
from __future__ import annotations

import functools
import re
from typing import Any

import user_agents
from ua_parser import parse as ua_parse

_SOFTWARE_GL = re.compile(r"swiftshader|llvmpipe|softpipe|software|mesa offscreen|basic render", re.I)
_OS_WORDS = (("win", "Windows"), ("mac", "Mac"), ("iphone", "iOS"), ("ipad", "iOS"), ("android", "Android"), ("linux", "Linux"), ("cros", "Chrome OS"))


def _os_of(text: str | None) -> str | None:
    if not text:
        return None
    low = text.lower()
    for word, name in _OS_WORDS:
        if word in low:
            return name
    return None


@functools.lru_cache(maxsize=4096)
def parse_ua(ua: str) -> tuple[str, int | None, str, bool, bool]:
    """(browser family, major, os family, is_bot, is_mobile); cached because UAs repeat endlessly."""
    r = ua_parse(ua)
    family = r.user_agent.family if r.user_agent else "Other"
    major = None
    if r.user_agent and r.user_agent.major and r.user_agent.major.isdigit():
        major = int(r.user_agent.major)
    os_family = r.os.family if r.os else "Other"
    ua_obj = user_agents.parse(ua)
    return family, major, os_family, bool(ua_obj.is_bot), bool(ua_obj.is_mobile)


def _os_class(os_family: str) -> str | None:
    return _os_of(os_family.replace("Mac OS X", "Mac").replace("Ubuntu", "Linux").replace("Fedora", "Linux"))


def device_features(dev: dict[str, Any]) -> dict[str, Any]:
    f: dict[str, Any] = {}
    ua = dev.get("ua") or ""
    f["ua"] = ua
    family, major, os_family, is_bot, is_mobile = parse_ua(ua[:512])
    f["ua_family"] = family
    if major is not None:
        f["ua_major"] = major
    f["os_family"] = os_family
    f["ua_is_bot"] = is_bot
    f["ua_is_mobile"] = is_mobile
    f["ua_headless"] = "HeadlessChrome" in ua
    ua_os = _os_class(os_family) or _os_of(ua)
    platform = dev.get("platform")
    if platform is not None:
        f["platform"] = platform
        p_os = _os_of(platform)
        # iPadOS reports MacIntel; Android reports Linux armv8l: both are legitimate.
        benign = {("iOS", "Mac"), ("Android", "Linux"), ("Chrome OS", "Linux")}
        f["platform_ua_mismatch"] = bool(ua_os and p_os and ua_os != p_os and (ua_os, p_os) not in benign)
    langs = dev.get("languages") or []
    f["languages_count"] = len(langs)
    if dev.get("language"):
        f["language"] = dev["language"]
    if dev.get("tz"):
        f["timezone"] = dev["tz"]
    win = dev.get("window")
    scr = dev.get("screen")
    if win:
        ow, oh, iw, ih = (int(x) for x in win)
        f["viewport"] = f"{iw}x{ih}"
        f["window_outer"] = f"{ow}x{oh}"
        f["outer_minus_inner_h"] = oh - ih
        f["outer_minus_inner_w"] = ow - iw
    if scr:
        sw, sh, aw, ah, _depth = (int(x) for x in scr)
        f["screen"] = f"{sw}x{sh}"
        f["screen_avail_eq_screen"] = (aw, ah) == (sw, sh)
        if win:
            f["screen_eq_viewport"] = (iw, ih) == (sw, sh)
    for src, dst in (("dpr", "dpr"), ("hw_concurrency", "hw_concurrency"), ("device_memory", "device_memory"),
                     ("touch_points", "touch_points"), ("plugins", "plugins"), ("mime_types", "mime_types")):
        v = dev.get(src)
        if v is not None:
            f[dst] = v
    renderer = dev.get("webgl_renderer")
    if dev.get("webgl_vendor") is not None:
        f["webgl_vendor"] = dev["webgl_vendor"]
    if renderer is not None:
        f["webgl_renderer"] = renderer
        f["webgl_software"] = bool(_SOFTWARE_GL.search(renderer))
        f["webgl_missing"] = False
    elif "webgl_renderer" in dev:
        f["webgl_missing"] = True
    uad = dev.get("uad")
    chromium = family in ("Chrome", "HeadlessChrome", "Chromium", "Edge", "Opera") and (major or 0) >= 90
    f["uad_present"] = uad is not None
    if uad is not None:
        brands = [b[0] for b in uad.get("brands") or []]
        f["uad_brands"] = brands
        f["uad_headless_brand"] = "HeadlessChrome" in brands
        u_os = _os_of(uad.get("platform"))
        f["uad_platform_mismatch"] = bool(u_os and ua_os and u_os != ua_os)
    elif chromium:
        # userAgentData exists only in secure contexts (https, localhost): a rule must say so too.
        f["uad_missing_for_chromium"] = True
    return f


_CHROME_FAMILIES = ("Chrome", "HeadlessChrome", "Chromium", "Edge", "Opera")


def marker_features(m: dict[str, Any], dev_feats: dict[str, Any]) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if m.get("webdriver") is not None:
        f["webdriver"] = m["webdriver"]
    chrome = m.get("chrome")
    if chrome is not None and dev_feats.get("ua_family") in _CHROME_FAMILIES and not dev_feats.get("ua_is_mobile"):
        f["chrome_missing"] = not chrome[0]
        f["chrome_runtime_missing"] = bool(chrome[0] and not chrome[1])
    for src, dst in (("cdc", "cdc_globals"), ("globals", "automation_globals"), ("doc_attrs", "doc_automation_attrs"), ("stack_markers", "stack_markers")):
        if src in m:
            f[dst] = m[src]
    if m.get("notif_perm") is not None and m.get("perm_query") is not None:
        f["notification_inconsistent"] = m["notif_perm"] == "denied" and m["perm_query"] == "prompt"
    if m.get("outer_zero") is not None:
        f["outer_zero"] = m["outer_zero"]
    if m.get("pw_events") is not None:
        f["pw_marker_events"] = m["pw_events"]
    return f
