"""What the HTTP request itself says: the part of the evidence the browser cannot forge alone.

Everything here is computed from headers only — at the sidecar the gateway forwards nothing else —
so a rule on these features must be right on headers alone. ``request_features`` is on the hot path
of every write: string tests and precompiled regexes, no I/O, no parser libraries.

What real browsers send, and when (the expectations below encode these; each is referenced in
signatures/sets/network.yml):
- ``Accept-Language``: every engine, every request.
- ``Origin``: every engine on POST/PUT/PATCH/DELETE (Fetch standard, "append a request Origin header").
- ``Sec-Fetch-Site/Mode/Dest`` (+ ``User`` on user-activated navigations): Chromium 76+, Firefox 90+,
  Safari 16.4+ — to potentially trustworthy origins only (https, localhost).
- ``Sec-CH-UA``, ``-Mobile``, ``-Platform``: Chromium 89+ (Platform 93+) only, secure contexts only.
  Never Firefox, never Safari, never Chrome on iOS (which is WebKit).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

_BROWSER_WORDS = ("Mozilla/5.0",)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The request as Tell saw it (directly, or as the gateway forwarded it). Header names lower-case.

    ``tls_fingerprint`` is the JA4/JA3 the gateway computed for the client's TLS handshake (from the
    header named by ``network.tls_fingerprint_header``; the engine fills it in)."""

    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str = ""
    query: str = ""
    tls_fingerprint: str = ""

    @classmethod
    def from_headers(cls, method: str, path: str, headers: Mapping[str, str], client_ip: str = "", *, query: str = "") -> "RequestInfo":
        return cls(method=method.upper(), path=path, headers={k.lower(): v for k, v in headers.items()}, client_ip=client_ip, query=query)


# --- user agents -----------------------------------------------------------------------------------

# Non-browser HTTP clients by their default User-Agent: the script did not even bother to lie.
_HTTP_CLIENTS = (
    ("python-requests/", "python-requests"),
    ("python-httpx/", "python-httpx"),
    ("python-urllib", "python-urllib"),
    ("aiohttp/", "aiohttp"),
    ("python/", "python"),
    ("curl/", "curl"),
    ("wget/", "wget"),
    ("go-http-client/", "go-http-client"),
    ("node-fetch", "node-fetch"),
    ("undici", "undici"),
    ("node", "node"),
    ("axios/", "axios"),
    ("got (", "got"),
    ("okhttp/", "okhttp"),
    ("java/", "java"),
    ("apache-httpclient/", "apache-httpclient"),
    ("libwww-perl/", "libwww-perl"),
    ("guzzlehttp/", "guzzle"),
    ("ruby", "ruby"),
    ("faraday", "faraday"),
    ("scrapy/", "scrapy"),
    ("postmanruntime/", "postman"),
    ("insomnia/", "insomnia"),
    ("httpie/", "httpie"),
    ("reqwest", "reqwest"),
    ("dart:io", "dart"),
    ("dart/", "dart"),
)
_CHROME_MAJOR = re.compile(r"(?:Chrome|Chromium)/(\d+)")
_FIREFOX_MAJOR = re.compile(r"Firefox/(\d+)")
_SAFARI_VERSION = re.compile(r"Version/(\d+)(?:\.(\d+))?")
_BRAND = re.compile(r'"([^"]*)"\s*;\s*v\s*=\s*"([^"]*)"')
_LOCAL_HOSTS = ("localhost", "127.", "[::1]")


def _http_client(ua: str) -> str | None:
    low = ua.lower()
    if "aiohttp/" in low:  # "Python/3.12 aiohttp/3.9.5"
        return "aiohttp"
    for prefix, name in _HTTP_CLIENTS:
        if low.startswith(prefix):
            return name
    return None


def _ua_engine(ua: str) -> str:
    """blink | gecko | webkit for the three browser engines; other (a Mozilla/5.0 UA we cannot place,
    e.g. a crawler); tool (anything else); none (no UA at all)."""
    if not ua:
        return "none"
    if not ua.startswith(_BROWSER_WORDS):
        return "tool"
    if "Chrome/" in ua or "Chromium/" in ua:
        return "blink"
    if "Firefox/" in ua and "Gecko/" in ua:
        return "gecko"
    if "AppleWebKit/" in ua and ("Safari/" in ua or "Mobile/" in ua):
        return "webkit"
    return "other"


def _ua_os(ua: str) -> str | None:
    """The OS named in the UA, spelled as Sec-CH-UA-Platform spells it."""
    if "Windows NT" in ua:
        return "Windows"
    if "Android" in ua:
        return "Android"
    if "CrOS" in ua:
        return "Chrome OS"
    if "iPhone" in ua or "iPad" in ua or "iPod" in ua:
        return "iOS"
    if "Macintosh" in ua or "Mac OS X" in ua:
        return "macOS"
    if "Linux" in ua or "X11" in ua:
        return "Linux"
    return None


def _sf_string(v: str) -> str:
    v = v.strip()
    return v[1:-1] if len(v) >= 2 and v[0] == '"' and v[-1] == '"' else v


# --- the browser's expected headers ----------------------------------------------------------------

def _secure_context(h: Mapping[str, str]) -> bool | None:
    """Whether the page was a potentially trustworthy origin (https or localhost), where browsers send
    Sec-Fetch-* and client hints; None when the request does not say."""
    proto = h.get("x-forwarded-proto")
    if proto:
        if proto.split(",")[0].strip().lower() == "https":
            return True
    origin = h.get("origin")
    if origin and origin != "null":
        if origin.startswith("https://"):
            return True
        if origin.startswith("http://"):
            return origin[7:].startswith(_LOCAL_HOSTS)
    host = (h.get("x-forwarded-host") or h.get("host") or "").split(",")[0].strip().lower()
    if host.startswith(_LOCAL_HOSTS):
        return True
    if proto:
        return False
    return None


def _sends_sec_fetch(engine: str, ua: str) -> bool:
    if engine == "blink":
        m = _CHROME_MAJOR.search(ua)
        return bool(m) and int(m.group(1)) >= 76
    if engine == "gecko":
        m = _FIREFOX_MAJOR.search(ua)
        return bool(m) and int(m.group(1)) >= 90
    if engine == "webkit" and "Safari/" in ua and "CriOS" not in ua and "FxiOS" not in ua:
        m = _SAFARI_VERSION.search(ua)
        return bool(m) and (int(m.group(1)), int(m.group(2) or 0)) >= (16, 4)
    return False


def _sends_client_hints(engine: str, ua: str, major: int | None) -> bool:
    # Android WebView ("; wv)") shipped UA-CH late and in-app browsers vary: not expected there.
    return engine == "blink" and major is not None and major >= 90 and "; wv)" not in ua


_SEC_FETCH = ("sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest")
_SITE = frozenset(("same-origin", "same-site", "cross-site", "none"))
_MODE = frozenset(("navigate", "same-origin", "no-cors", "cors", "websocket", "nested-navigate"))
_NAV_DEST = frozenset(("document", "iframe", "frame", "embed", "object", "fencedframe"))
_UNSAFE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def _sec_fetch_invalid(h: Mapping[str, str]) -> bool:
    """Values or combinations no browser produces (Fetch Metadata spec)."""
    site, mode, user, dest = (h.get(n) for n in _SEC_FETCH)
    if site is not None and site not in _SITE:
        return True
    if mode is not None and mode not in _MODE:
        return True
    if user is not None and (user != "?1" or mode not in (None, "navigate", "nested-navigate")):
        return True
    return mode == "navigate" and dest is not None and dest not in _NAV_DEST


# --- TLS fingerprints of non-browser clients -------------------------------------------------------

# JA4 = a_b_c; b (cipher-suite hash) and c (extension + signature-algorithm hash) identify the TLS
# library, a (protocol, SNI, counts, ALPN) varies with how it was called — match on "_b_c".
# verified: measured on this project's test machine by tests/test_request_features.py (a ClientHello
# captured from the client and hashed per the JA4 spec); other rows are from FoxIO's published
# ja4plus-mapping.csv and not measured here.
NON_BROWSER_JA4: dict[str, tuple[str, bool]] = {
    # "_b_c" suffix: (client, verified here)
    # Python's ssl module on OpenSSL 3.0 (requests/urllib3, httpx, aiohttp all use it); matches
    # FoxIO's "Python" row t13d181000_85036bcba153_d41ae481755e.
    "_85036bcba153_d41ae481755e": ("python-openssl", True),
    # curl 7.88 on OpenSSL 3.0 (Debian 12).
    "_e8f1e7e78f70_b26ce05bbdd6": ("curl-openssl", True),
    # Go crypto/tls (net/http's default client) — FoxIO "GoLang" row t13d190900_9dc949149365_97f8aa674fd9.
    "_9dc949149365_97f8aa674fd9": ("go", False),
}
# JA3 (MD5 of version, ciphers, extensions, curves, point formats): these libraries neither GREASE
# nor shuffle extensions, so the hash is stable per build — but it changes with ALPN, hence two rows.
NON_BROWSER_JA3: dict[str, tuple[str, bool]] = {
    "93c7d42c0df602fb91589311534831f5": ("python-openssl", True),  # no ALPN (aiohttp, http.client)
    "304734bb1c086c3453b387400cf83f11": ("python-openssl", True),  # ALPN http/1.1 (urllib3 2, httpx)
    "0149f47eabf9a20d0893e2a44e5a6323": ("curl-openssl", True),
}


def tls_client(fingerprint: str) -> str | None:
    """The non-browser TLS client a JA4 or JA3 fingerprint belongs to, if it is a known one."""
    fp = fingerprint.strip().lower()
    if len(fp) == 32:
        hit = NON_BROWSER_JA3.get(fp)
        return hit[0] if hit else None
    i = fp.find("_")
    if i < 0:
        return None
    hit = NON_BROWSER_JA4.get(fp[i:])
    return hit[0] if hit else None


# --- features --------------------------------------------------------------------------------------

def request_features(req: RequestInfo, page_ua: str | None, page_languages: list[str] | None) -> dict[str, Any]:
    h = req.headers
    if not h:
        return {}
    f: dict[str, Any] = {}
    ua = h.get("user-agent", "")
    engine = _ua_engine(ua)
    is_browser_ua = engine in ("blink", "gecko", "webkit")
    m = _CHROME_MAJOR.search(ua) if engine == "blink" else None
    major = int(m.group(1)) if m else None
    f["req_ua_engine"] = engine
    client = _http_client(ua) if engine == "tool" else None
    if client:
        f["req_http_client"] = client

    has_ch = "sec-ch-ua" in h
    f["req_has_sec_ch_ua"] = has_ch
    f["req_has_sec_fetch"] = "sec-fetch-mode" in h or "sec-fetch-site" in h
    secure = _secure_context(h)
    if secure is not None:
        f["req_secure_context"] = secure

    # What every browser with this UA would have sent, and did not.
    missing: list[str] = []
    if is_browser_ua:
        if "accept-language" not in h:
            missing.append("accept-language")
        if req.method in _UNSAFE_METHODS and "origin" not in h:
            missing.append("origin")
        if secure:
            if not f["req_has_sec_fetch"] and _sends_sec_fetch(engine, ua):
                missing.append("sec-fetch")
            if not has_ch and _sends_client_hints(engine, ua, major):
                missing.append("sec-ch-ua")
        f["req_missing_browser_headers"] = missing
    f["req_browser_ua_without_browser_headers"] = bool(missing)

    order = [n[10:] for n in h if n.startswith("sec-fetch-")]
    if order:
        f["req_sec_fetch_order"] = ",".join(order)
        f["req_sec_fetch_invalid"] = _sec_fetch_invalid(h)

    if has_ch:
        brands = _BRAND.findall(h["sec-ch-ua"])
        f["req_ch_brands"] = [b for b, _ in brands]
        f["req_ch_on_non_chromium"] = engine in ("gecko", "webkit")
        if major is not None:
            versions = dict(brands)
            ch_major = versions.get("Chromium") or versions.get("Google Chrome") or versions.get("HeadlessChrome")
            if ch_major is not None:
                f["req_ch_version_mismatch"] = ch_major.split(".")[0] != str(major)
    platform = h.get("sec-ch-ua-platform")
    ua_os = _ua_os(ua) if is_browser_ua else None
    if platform is not None and ua_os is not None:
        p = _sf_string(platform).replace("Chromium OS", "Chrome OS")
        if p and p != "Unknown":
            # Chrome on Android's "desktop site" mode sends a Linux UA and still says Android.
            f["req_ch_platform_mismatch"] = p != ua_os and not (p == "Android" and ua_os == "Linux")
    mobile = h.get("sec-ch-ua-mobile")
    if mobile is not None and is_browser_ua and mobile.strip() in ("?0", "?1"):
        f["req_ch_mobile_mismatch"] = (mobile.strip() == "?1") != ("Mobile" in ua)

    if req.tls_fingerprint:
        fp = req.tls_fingerprint.strip()[:128]
        f["req_tls_fingerprint"] = fp
        lib = tls_client(fp)
        if lib:
            f["req_tls_client"] = lib
        f["req_browser_ua_library_tls"] = bool(lib and is_browser_ua)

    if page_ua is not None and ua:
        f["req_ua_mismatch"] = ua != page_ua
    al = h.get("accept-language")
    if al and page_languages:
        first = al.split(",")[0].split(";")[0].strip().lower()
        f["req_accept_language_mismatch"] = first != page_languages[0].lower()
    f["req_signature_agent"] = "signature-agent" in h or "signature-input" in h
    return f
