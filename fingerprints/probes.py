"""The collector's deeper probes as catalog features, and the few features derived from them.

Every key of the telemetry's ``probes`` map becomes the feature ``probe_<key>`` unchanged
(``fingerprints.extract``); the entries below give each a type, unit and definition, so the rule
linter can check the operators a rule applies to them. ``probe_features`` adds derived features that
read a probe together with the device signals (pure, no I/O).
"""
from __future__ import annotations

from typing import Any

from fingerprints.catalog import Feature

__all__ = ["PROBE_FEATURES", "probe_features"]


def _p(rows: list[tuple[str, str, str, str]]) -> dict[str, Feature]:
    return {n: Feature(n, t, u, d, "probes") for n, t, u, d in rows}


PROBE_FEATURES: dict[str, Feature] = _p([
    ("probe_cdp", "list", "", "side effects of an attached DevTools client with Runtime enabled: prepare_stack_trace, error_name_reads, stack_getter"),
    ("probe_lies", "list", "", "natives that fail an integrity check (toString, own keys, wrong-receiver TypeError, getter descriptor): webdriver, userAgent, platform, languages, plugins, hardwareConcurrency, navigator.own, Permissions.query, WebGL.getParameter, Function.toString, attachShadow"),
    ("probe_ctx_mismatch", "list", "", "<context>.<name> where a fresh iframe or a Worker disagrees with the page (ua, platform, languages, hw_concurrency, webgl_renderer)"),
    ("probe_ctx_done", "list", "", "contexts (iframe, worker) whose values had arrived when the payload was sent"),
    ("probe_screen_eq_viewport", "bool", "", "screen.width/height equal innerWidth/innerHeight (no browser chrome, no taskbar)"),
    ("probe_mm_dpr", "bool", "", "the matchMedia resolution disagrees with devicePixelRatio"),
    ("probe_voices", "int", "count", "speechSynthesis.getVoices().length"),
    ("probe_codecs", "list", "", "supported of h264, aac, vp9, av1, opus"),
    ("probe_tz_locale", "str", "", "Intl.DateTimeFormat().resolvedOptions().locale"),
    ("probe_locale_mismatch", "bool", "", "the language of the Intl locale differs from navigator.language's"),
    ("probe_dom", "list", "", "agent artefacts in the page: playwright-highlight-container, data-browser-use, unique_id, __stagehandV3Injected, shadow_forced_open"),
    ("probe_untrusted_after_trusted", "int", "count", "untrusted input/change events within 1 s after a trusted input event"),
    ("probe_tamper", "list", "", "natives the collector relies on found replaced (name: before it loaded; name@late: afterwards)"),
    ("probe_errors", "list", "", "probes that threw or could not run"),
    # derived
    ("probe_cdp_runtime", "bool", "", "a DevTools client with the Runtime domain enabled is attached (probe_cdp names prepare_stack_trace or error_name_reads)"),
    ("probe_navigator_lies", "int", "count", "Navigator getters (and navigator own properties) that failed the integrity check"),
    ("probe_ua_lie", "bool", "", "the User-Agent was overridden in the page but not in a fresh iframe or Worker (ctx_mismatch names .ua), or its getter lies"),
    ("probe_hw_lie", "bool", "", "hardwareConcurrency differs in a Worker or iframe, or its getter lies"),
    ("probe_webgl_lie", "bool", "", "WebGL.getParameter fails the integrity check, or a Worker's WebGL renderer differs from the page's"),
    ("window_exceeds_screen", "bool", "", "the browser window (outer size) is wider or taller than the screen (a --window-size larger than headless Chromium's 800x600 screen)"),
])

_CDP_RUNTIME = frozenset({"prepare_stack_trace", "error_name_reads"})
_NAV = frozenset({"webdriver", "userAgent", "platform", "languages", "plugins", "hardwareConcurrency", "navigator.own"})


def probe_features(probes: dict[str, Any], device: dict[str, Any] | None = None) -> dict[str, Any]:
    """Derived features; each only when the probes (or device signals) it reads are in the payload."""
    f: dict[str, Any] = {}
    win, scr = (device or {}).get("window"), (device or {}).get("screen")
    if win and scr and len(win) == 4 and len(scr) >= 2 and scr[0] > 0 and scr[1] > 0:
        # A few px of slack: window borders and scaling round outer sizes past the screen's.
        f["window_exceeds_screen"] = win[0] > scr[0] + 16 or win[1] > scr[1] + 16
    cdp = probes.get("cdp")
    if isinstance(cdp, list):
        f["probe_cdp_runtime"] = not _CDP_RUNTIME.isdisjoint(cdp)
    lies = probes.get("lies")
    ctx = probes.get("ctx_mismatch")
    if isinstance(lies, list):
        f["probe_navigator_lies"] = sum(1 for x in lies if x in _NAV)
        f["probe_webgl_lie"] = "WebGL.getParameter" in lies
    if isinstance(lies, list) or isinstance(ctx, list):
        lies = lies if isinstance(lies, list) else []
        ctx = ctx if isinstance(ctx, list) else []
        f["probe_ua_lie"] = "userAgent" in lies or any(str(x).endswith(".ua") for x in ctx)
        f["probe_hw_lie"] = "hardwareConcurrency" in lies or any(str(x).endswith(".hw_concurrency") for x in ctx)
        f["probe_webgl_lie"] = f.get("probe_webgl_lie", False) or any(str(x).endswith(".webgl_renderer") for x in ctx)
    return f
