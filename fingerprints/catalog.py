"""Every feature Tell computes, with its type, unit and a plain-words definition.

Rules may only name features listed here (the linter checks); docs/features.md is written from the
same entries. Timing features come from ``fingerprints.timing.TIMING_FEATURES``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    type: str  # bool | int | float | str | list
    unit: str
    doc: str
    source: str


def _f(source: str, rows: list[tuple[str, str, str, str]]) -> dict[str, Feature]:
    return {n: Feature(n, t, u, d, source) for n, t, u, d in rows}


DEVICE = _f("device", [
    ("ua", "str", "", "the User-Agent string the page reported"),
    ("ua_family", "str", "", "browser family parsed from the UA (ua-parser), e.g. Chrome, HeadlessChrome, Firefox"),
    ("ua_major", "int", "version", "browser major version from the UA"),
    ("os_family", "str", "", "operating system family parsed from the UA"),
    ("ua_is_bot", "bool", "", "the UA declares itself a bot/crawler (user-agents)"),
    ("ua_is_mobile", "bool", "", "the UA is a mobile browser's"),
    ("ua_headless", "bool", "", "the UA contains 'HeadlessChrome'"),
    ("platform", "str", "", "navigator.platform"),
    ("platform_ua_mismatch", "bool", "", "navigator.platform names another OS than the UA"),
    ("languages_count", "int", "count", "length of navigator.languages"),
    ("language", "str", "", "navigator.language"),
    ("timezone", "str", "", "IANA time zone the browser reports"),
    ("viewport", "str", "WxH px", "window.innerWidth x innerHeight"),
    ("window_outer", "str", "WxH px", "window.outerWidth x outerHeight"),
    ("screen", "str", "WxH px", "screen.width x height"),
    ("outer_minus_inner_h", "int", "px", "outerHeight - innerHeight (browser chrome height; 85 is puppeteer-stealth's forgery)"),
    ("outer_minus_inner_w", "int", "px", "outerWidth - innerWidth"),
    ("screen_eq_viewport", "bool", "", "the viewport fills the whole screen (no taskbar, no browser chrome)"),
    ("screen_avail_eq_screen", "bool", "", "available screen equals the full screen (no taskbar or dock)"),
    ("dpr", "float", "ratio", "devicePixelRatio"),
    ("hw_concurrency", "int", "cores", "navigator.hardwareConcurrency"),
    ("device_memory", "float", "GiB", "navigator.deviceMemory"),
    ("touch_points", "int", "count", "navigator.maxTouchPoints"),
    ("plugins", "int", "count", "navigator.plugins.length"),
    ("mime_types", "int", "count", "navigator.mimeTypes.length"),
    ("webgl_vendor", "str", "", "unmasked WebGL vendor"),
    ("webgl_renderer", "str", "", "unmasked WebGL renderer"),
    ("webgl_missing", "bool", "", "WebGL was unavailable"),
    ("webgl_software", "bool", "", "the WebGL renderer is a software rasteriser (SwiftShader, llvmpipe, softpipe)"),
    ("uad_present", "bool", "", "navigator.userAgentData exists"),
    ("uad_brands", "list", "", "brand names in navigator.userAgentData.brands"),
    ("uad_headless_brand", "bool", "", "a userAgentData brand is 'HeadlessChrome'"),
    ("uad_platform_mismatch", "bool", "", "userAgentData.platform names another OS than the UA"),
    ("uad_missing_for_chromium", "bool", "", "a Chromium UA (v90+) without navigator.userAgentData"),
])

MARKERS = _f("markers", [
    ("webdriver", "bool", "", "navigator.webdriver is true"),
    ("chrome_missing", "bool", "", "a Chrome UA without window.chrome"),
    ("chrome_runtime_missing", "bool", "", "window.chrome exists but has no runtime member"),
    ("cdc_globals", "list", "", "chromedriver-injected global names (cdc_*, *_Array/_Promise/_Symbol aliases)"),
    ("automation_globals", "list", "", "automation framework globals found on window"),
    ("doc_automation_attrs", "list", "", "webdriver/selenium/driver attributes on <html>"),
    ("stack_markers", "list", "", "automation names seen in an Error stack (pptr:, __puppeteer_evaluation_script__)"),
    ("notification_inconsistent", "bool", "", "Notification.permission is 'denied' while permissions.query says 'prompt' (headless Chrome)"),
    ("outer_zero", "bool", "", "outerWidth and outerHeight are both 0"),
    ("pw_marker_events", "int", "count", "Playwright __playwright_mark_target__/__playwright_reset_targets__ events seen"),
    ("events_dropped", "int", "count", "events the collector dropped from its full buffer"),
])

REQUEST = _f("request", [
    ("req_has_sec_ch_ua", "bool", "", "the HTTP request carried Sec-CH-UA"),
    ("req_has_sec_fetch", "bool", "", "the HTTP request carried Sec-Fetch-* headers"),
    ("req_ua_mismatch", "bool", "", "the HTTP User-Agent differs from the one the page reported"),
    ("req_browser_ua_without_browser_headers", "bool", "", "a browser User-Agent on a request lacking what every such browser sends (Sec-Fetch-*, Accept-Language)"),
    ("req_accept_language_mismatch", "bool", "", "Accept-Language's first language differs from navigator.languages[0]"),
    ("req_signature_agent", "bool", "", "the request declares an agent with Signature-Agent / Signature-Input headers"),
    ("req_ua_engine", "str", "", "browser engine the HTTP User-Agent claims: blink, gecko, webkit; other (Mozilla/5.0 we cannot place), tool (not Mozilla/5.0), none (no UA)"),
    ("req_http_client", "str", "", "non-browser HTTP library named by the User-Agent (python-requests, python-httpx, aiohttp, curl, go-http-client, node, axios, …)"),
    ("req_secure_context", "bool", "", "the page origin was https or localhost (X-Forwarded-Proto, Origin or Host say so); absent when unknown"),
    ("req_missing_browser_headers", "list", "", "headers every browser with this User-Agent sends here and this request lacks: accept-language, origin, sec-fetch, sec-ch-ua"),
    ("req_sec_fetch_order", "str", "", "the Sec-Fetch-* headers in the order received, e.g. 'site,mode,user,dest' (Chromium's order)"),
    ("req_sec_fetch_invalid", "bool", "", "Sec-Fetch-* values or combinations no browser sends (unknown site/mode, User on a non-navigation)"),
    ("req_ch_brands", "list", "", "brand names in the Sec-CH-UA header"),
    ("req_ch_on_non_chromium", "bool", "", "Sec-CH-UA sent with a Firefox or Safari User-Agent (neither sends client hints)"),
    ("req_ch_version_mismatch", "bool", "", "the Chromium major version in Sec-CH-UA differs from the User-Agent's Chrome/NNN"),
    ("req_ch_platform_mismatch", "bool", "", "Sec-CH-UA-Platform names another OS than the User-Agent"),
    ("req_ch_mobile_mismatch", "bool", "", "Sec-CH-UA-Mobile disagrees with the User-Agent's Mobile token"),
    ("req_tls_fingerprint", "str", "", "the client's TLS fingerprint (JA4 or JA3) as the gateway forwarded it in network.tls_fingerprint_header"),
    ("req_tls_client", "str", "", "the non-browser TLS library the fingerprint belongs to (python-openssl, curl-openssl, go), from fingerprints.request's table"),
    ("req_browser_ua_library_tls", "bool", "", "a browser User-Agent over a TLS handshake made by a non-browser library"),
    ("req_agent_signature", "str", "", "RFC 9421 / Web Bot Auth signature check: verified, unknown-key, bad-signature, expired, not-yet-valid, malformed, missing-component, unsupported, no-web-bot-auth, agent-mismatch"),
    ("req_agent_name", "str", "", "the declared agent whose key verified the request's signature (key directory name)"),
])


def probe_feature(name: str) -> str:
    return f"probe_{name}"


def all_features() -> dict[str, Feature]:
    """The full catalog, timing features included (imported lazily: they live in their own module)."""
    feats = {**DEVICE, **MARKERS, **REQUEST}
    try:
        from fingerprints.timing import TIMING_FEATURES
    except ImportError:  # pragma: no cover - during bootstrap only
        TIMING_FEATURES = {}
    for name, spec in TIMING_FEATURES.items():
        t, unit, doc = spec[:3] if isinstance(spec, tuple) else (spec.type, spec.unit, spec.doc)
        feats[name] = Feature(name, t, unit, doc, "timing")
    try:
        from fingerprints.probes import PROBE_FEATURES
    except ImportError:
        PROBE_FEATURES = {}
    feats.update(PROBE_FEATURES)
    return feats
