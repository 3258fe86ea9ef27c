"""Network-layer features (fingerprints/request.py) and the network rules they feed, on headers alone.

Browser header sets are what the browsers send on a same-origin form POST (Chrome 131, Firefox 133,
Safari 17/15 per their Fetch Metadata and UA-CH support); script sets are what the libraries send
by default, plus the usual hard-coded Chrome User-Agent."""
from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import struct
import subprocess
import threading

import pytest

import edge  # noqa: F401 - imports signatures in dependency order (signatures <-> edge import cycle)
from fingerprints import RequestInfo
from fingerprints.catalog import REQUEST
from fingerprints.request import NON_BROWSER_JA3, NON_BROWSER_JA4, request_features, tls_client
from signatures import SHIPPED, SignatureSet

CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
CHROME_WIN_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
ANDROID_UA = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI17_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"
SAFARI15_UA = SAFARI17_UA.replace("Version/17.2", "Version/15.6")

CHROME_FORM_POST = {  # Chromium's own order
    "Host": "social.example", "Content-Length": "42", "Cache-Control": "max-age=0",
    "Sec-CH-UA": '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
    "Sec-CH-UA-Mobile": "?0", "Sec-CH-UA-Platform": '"Linux"', "Origin": "https://social.example",
    "Content-Type": "application/x-www-form-urlencoded", "Upgrade-Insecure-Requests": "1", "User-Agent": CHROME_UA,
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
    "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1", "Sec-Fetch-Dest": "document",
    "Referer": "https://social.example/post", "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-US,en;q=0.9", "Cookie": "tell_sid=abc",
}
FIREFOX_FORM_POST = {
    "Host": "social.example", "User-Agent": FIREFOX_UA, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.5", "Accept-Encoding": "gzip, deflate, br, zstd",
    "Content-Type": "application/x-www-form-urlencoded", "Origin": "https://social.example",
    "Referer": "https://social.example/post", "Upgrade-Insecure-Requests": "1",
    "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-User": "?1",
}
SAFARI_FORM_POST = {
    "Host": "social.example", "Origin": "https://social.example", "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "text/html,*/*;q=0.8", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document",
    "Accept-Language": "en-GB,en;q=0.9", "Sec-Fetch-Mode": "navigate", "User-Agent": SAFARI17_UA,
    "Referer": "https://social.example/post", "Accept-Encoding": "gzip, deflate, br",
}
REQUESTS_DEFAULT = {"Host": "social.example", "User-Agent": "python-requests/2.32.3", "Accept-Encoding": "gzip, deflate",
                    "Accept": "*/*", "Connection": "keep-alive", "X-Forwarded-Proto": "https"}
SCRIPT_WITH_CHROME_UA = {**REQUESTS_DEFAULT, "User-Agent": CHROME_UA}


def _without(d: dict, *names: str) -> dict:
    return {k: v for k, v in d.items() if k not in names}


def feats(headers: dict, method: str = "POST", *, tls: str = "", page_ua=None, page_languages=None) -> dict:
    req = RequestInfo.from_headers(method, "/post", headers)
    if tls:
        req = RequestInfo(req.method, req.path, req.headers, tls_fingerprint=tls)
    return request_features(req, page_ua, page_languages)


@pytest.fixture(scope="module")
def shipped() -> SignatureSet:
    return SignatureSet.load(SHIPPED)


def network_hits(shipped, f) -> set[str]:
    return {h.id for h in shipped.match(f) if h.id.startswith(("network.", "declared-agent."))}


@pytest.mark.parametrize(
    "name, headers, expected",
    [
        ("chrome-131-form-post", CHROME_FORM_POST, set()),
        ("firefox-133-form-post", FIREFOX_FORM_POST, set()),
        ("safari-17-form-post", SAFARI_FORM_POST, set()),
        ("safari-15-has-no-sec-fetch", {**_without(SAFARI_FORM_POST, "Sec-Fetch-Site", "Sec-Fetch-Dest", "Sec-Fetch-Mode"),
                                        "User-Agent": SAFARI15_UA}, set()),
        ("chrome-over-plain-http-sends-no-sec-fetch", {**_without(CHROME_FORM_POST, "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User",
                                                                 "Sec-Fetch-Dest", "Sec-CH-UA", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform"),
                                                       "Origin": "http://social.example"}, set()),
        ("chrome-android-desktop-site-mode", {**CHROME_FORM_POST, "Sec-CH-UA-Platform": '"Android"'}, set()),
        ("chrome-android-phone", {**CHROME_FORM_POST, "User-Agent": ANDROID_UA, "Sec-CH-UA-Platform": '"Android"',
                                  "Sec-CH-UA-Mobile": "?1"}, set()),
        ("python-requests-default", REQUESTS_DEFAULT, {"network.http-library-ua"}),
        ("aiohttp-default", {**REQUESTS_DEFAULT, "User-Agent": "Python/3.11 aiohttp/3.9.5"}, {"network.http-library-ua"}),
        ("curl-default", {"Host": "social.example", "User-Agent": "curl/7.88.1", "Accept": "*/*"}, {"network.http-library-ua"}),
        ("okhttp-is-not-flagged", {"Host": "social.example", "User-Agent": "okhttp/4.12.0"}, set()),
        ("script-with-chrome-ua", SCRIPT_WITH_CHROME_UA,
         {"network.browser-ua-without-sec-fetch", "network.chromium-ua-without-client-hints",
          "network.browser-ua-post-without-origin", "network.browser-ua-without-accept-language"}),
        ("script-with-chrome-ua-and-language", {**SCRIPT_WITH_CHROME_UA, "Accept-Language": "en-US,en;q=0.9",
                                                "Origin": "https://social.example"},
         {"network.browser-ua-without-sec-fetch", "network.chromium-ua-without-client-hints"}),
        ("windows-hints-with-linux-ua", {**CHROME_FORM_POST, "Sec-CH-UA-Platform": '"Windows"'}, {"network.ch-platform-mismatch"}),
        ("linux-hints-with-windows-ua", {**CHROME_FORM_POST, "User-Agent": CHROME_WIN_UA}, {"network.ch-platform-mismatch"}),
        ("chrome-major-mismatch", {**CHROME_FORM_POST, "User-Agent": CHROME_UA.replace("131", "120")}, {"network.ch-version-mismatch"}),
        ("mobile-hint-on-desktop-ua", {**CHROME_FORM_POST, "Sec-CH-UA-Mobile": "?1"}, {"network.ch-mobile-mismatch"}),
        ("headless-brand", {**CHROME_FORM_POST, "Sec-CH-UA": '"HeadlessChrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'},
         {"network.ch-headless-brand"}),
        ("client-hints-with-firefox-ua", {**CHROME_FORM_POST, "User-Agent": FIREFOX_UA}, {"network.ch-on-non-chromium"}),
        ("sec-fetch-user-not-?1", {**CHROME_FORM_POST, "Sec-Fetch-User": "?0"}, {"network.sec-fetch-invalid"}),
        ("sec-fetch-user-on-cors", {**CHROME_FORM_POST, "Sec-Fetch-Mode": "cors"}, {"network.sec-fetch-invalid"}),
        ("sec-fetch-site-typo", {**CHROME_FORM_POST, "Sec-Fetch-Site": "same_origin"}, {"network.sec-fetch-invalid"}),
        ("alphabetical-sec-fetch-from-devtools",
         {**_without(CHROME_FORM_POST, "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User", "Sec-Fetch-Dest"),
          "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-User": "?1"},
         {"network.chromium-sec-fetch-order"}),
    ],
)
def test_header_sets(shipped, name, headers, expected):
    assert network_hits(shipped, feats(headers)) == expected


@pytest.mark.parametrize(
    "headers, missing",
    [
        (CHROME_FORM_POST, []),
        (SCRIPT_WITH_CHROME_UA, ["accept-language", "origin", "sec-fetch", "sec-ch-ua"]),
        # A GET carries no Origin; nothing else is expected without a secure context.
        (_without(SCRIPT_WITH_CHROME_UA, "X-Forwarded-Proto"), ["accept-language"]),
    ],
)
def test_missing_browser_headers_lists_what_is_absent(headers, missing):
    f = feats(headers, method="GET" if "X-Forwarded-Proto" not in headers else "POST")
    assert f["req_missing_browser_headers"] == missing
    assert f["req_browser_ua_without_browser_headers"] is bool(missing)


@pytest.mark.parametrize(
    "headers, secure",
    [
        ({"X-Forwarded-Proto": "https"}, True),
        ({"X-Forwarded-Proto": "http", "Host": "social.example"}, False),
        ({"Origin": "https://social.example"}, True),
        ({"Origin": "http://127.0.0.1:8080"}, True),
        ({"Origin": "http://social.example", "Host": "social.example"}, False),
        ({"Host": "localhost:8080"}, True),
        ({"Host": "social.example"}, None),
    ],
)
def test_secure_context(headers, secure):
    assert feats({"User-Agent": CHROME_UA, **headers}).get("req_secure_context") is secure


def test_sec_fetch_order_is_kept():
    assert feats(CHROME_FORM_POST)["req_sec_fetch_order"] == "site,mode,user,dest"
    assert feats(FIREFOX_FORM_POST)["req_sec_fetch_order"] == "dest,mode,site,user"


def test_client_hint_brands():
    assert feats(CHROME_FORM_POST)["req_ch_brands"] == ["Google Chrome", "Chromium", "Not_A Brand"]


def test_page_language_and_ua_against_the_request():
    f = feats(CHROME_FORM_POST, page_ua=CHROME_UA, page_languages=["de-DE", "de"])
    assert f["req_accept_language_mismatch"] is True and f["req_ua_mismatch"] is False
    f = feats(CHROME_FORM_POST, page_ua=CHROME_UA.replace("131", "130"), page_languages=["en-US"])
    assert f["req_accept_language_mismatch"] is False and f["req_ua_mismatch"] is True


# --- TLS fingerprints ------------------------------------------------------------------------------

CHROME_JA4 = "t13d1516h2_8daaf6152771_02713d6af862"  # FoxIO mapping: Chromium
PYTHON_JA4 = "t13d1812h1_85036bcba153_d41ae481755e"


@pytest.mark.parametrize(
    "headers, tls, client, rules",
    [
        (CHROME_FORM_POST, CHROME_JA4, None, set()),
        (CHROME_FORM_POST, PYTHON_JA4, "python-openssl", {"network.browser-ua-library-tls"}),
        (CHROME_FORM_POST, "t13i181100_85036bcba153_d41ae481755e", "python-openssl", {"network.browser-ua-library-tls"}),
        (CHROME_FORM_POST, "0149F47EABF9A20D0893E2A44E5A6323", "curl-openssl", {"network.browser-ua-library-tls"}),
        (CHROME_FORM_POST, "t13d190900_9dc949149365_97f8aa674fd9", "go", set()),  # status: test — recorded, not acted on
        (REQUESTS_DEFAULT, PYTHON_JA4, "python-openssl", {"network.http-library-ua"}),
        (CHROME_FORM_POST, "garbage", None, set()),
    ],
)
def test_tls_fingerprint(shipped, headers, tls, client, rules):
    f = feats(headers, tls=tls)
    assert f["req_tls_fingerprint"] == tls
    assert f.get("req_tls_client") == client
    acted = {h.id for h in shipped.match(f) if h.status == "stable" and h.id.startswith("network.")}
    assert acted == rules


def test_go_fingerprint_rule_is_recorded_as_test(shipped):
    hits = {h.id: h.status for h in shipped.match(feats(CHROME_FORM_POST, tls="t13d190900_9dc949149365_97f8aa674fd9"))}
    assert hits.get("network.browser-ua-go-tls") == "test"


GREASE = {0x0A0A + 0x1010 * i for i in range(16)}


def _client_hello(data: bytes) -> tuple[int, list[int], list[tuple[int, bytes]]]:
    p = 9 + 2 + 32  # record + handshake headers, legacy_version, random
    legacy = struct.unpack(">H", data[9:11])[0]
    p += 1 + data[p]
    n = struct.unpack(">H", data[p:p + 2])[0]
    ciphers = [struct.unpack(">H", data[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
    p += 2 + n
    p += 1 + data[p]
    end = p + 2 + struct.unpack(">H", data[p:p + 2])[0]
    p += 2
    exts = []
    while p < end:
        t, ln = struct.unpack(">HH", data[p:p + 4])
        exts.append((t, data[p + 4:p + 4 + ln]))
        p += 4 + ln
    return legacy, ciphers, exts


def _u16s(b: bytes) -> list[int]:
    return [struct.unpack(">H", b[i:i + 2])[0] for i in range(0, len(b) - 1, 2)]


def ja4(data: bytes) -> str:
    """JA4 of a captured ClientHello, per FoxIO's technical_details/JA4.md."""
    _, ciphers, exts = _client_hello(data)
    ext = dict(exts)
    versions = [v for v in _u16s(ext[43][1:]) if v not in GREASE] if 43 in ext else []
    ver = {0x0304: "13", 0x0303: "12"}.get(max(versions, default=0x0303), "00")
    cs = sorted(c for c in ciphers if c not in GREASE)
    es = [t for t, _ in exts if t not in GREASE]
    alpn = "00"
    if 16 in ext:
        first = ext[16][3:3 + ext[16][2]].decode()
        alpn = first[0] + first[-1]
    a = f"t{ver}{'d' if 0 in ext else 'i'}{len(cs):02d}{len(es):02d}{alpn}"
    b = hashlib.sha256(",".join(f"{c:04x}" for c in cs).encode()).hexdigest()[:12]
    c_in = ",".join(f"{e:04x}" for e in sorted(e for e in es if e not in (0, 16)))
    if 13 in ext:
        c_in += "_" + ",".join(f"{s:04x}" for s in _u16s(ext[13][2:]))
    return f"{a}_{b}_{hashlib.sha256(c_in.encode()).hexdigest()[:12]}"


def ja3(data: bytes) -> str:
    legacy, ciphers, exts = _client_hello(data)
    ext = dict(exts)
    fields = [str(legacy), "-".join(str(c) for c in ciphers if c not in GREASE),
              "-".join(str(t) for t, _ in exts if t not in GREASE),
              "-".join(str(c) for c in _u16s(ext.get(10, b"\0\0")[2:]) if c not in GREASE),
              "-".join(str(x) for x in ext.get(11, b"\0")[1:])]
    return hashlib.md5(",".join(fields).encode()).hexdigest()


def capture_client_hello(connect) -> bytes:
    """Accept one TLS connection on 127.0.0.1, keep the ClientHello record, hang up."""
    srv = socket.create_server(("127.0.0.1", 0))
    got: dict[str, bytes] = {}

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(5)
        buf = b""
        while len(buf) < 5 or len(buf) < 5 + struct.unpack(">H", buf[3:5])[0]:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
        got["hello"] = buf
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        connect(srv.getsockname()[1])
    except (OSError, ssl.SSLError, subprocess.SubprocessError):
        pass  # the server hangs up after the hello: the handshake is meant to fail
    t.join(5)
    srv.close()
    return got["hello"]


def _python_tls(alpn: list[str] | None):
    def connect(port: int) -> None:
        ctx = ssl.create_default_context()
        if alpn:
            ctx.set_alpn_protocols(alpn)
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            ctx.wrap_socket(s, server_hostname="social.example")
    return connect


def _curl(port: int) -> None:
    subprocess.run(["curl", "-sk", "--max-time", "3", "--resolve", f"social.example:{port}:127.0.0.1",
                    f"https://social.example:{port}/"], capture_output=True, timeout=10)


def test_ja4_helper_matches_the_spec_example_shape():
    hello = capture_client_hello(_python_tls(["h2", "http/1.1"]))
    assert ja4(hello).startswith("t13d") and ja4(hello)[8:10] == "h2"


@pytest.mark.parametrize("alpn", [None, ["http/1.1"]], ids=["no-alpn", "alpn-http1.1"])
def test_python_tls_fingerprint_table_is_measured_here(alpn):
    """The "verified" rows are true of this machine's Python: capture its ClientHello and hash it."""
    hello = capture_client_hello(_python_tls(alpn))
    assert tls_client(ja4(hello)) == "python-openssl", ja4(hello)
    assert tls_client(ja3(hello)) == "python-openssl", ja3(hello)


def test_curl_tls_fingerprint_table_is_measured_here():
    assert shutil.which("curl"), "curl is part of the test machine (Debian); install it to check the curl rows"
    hello = capture_client_hello(_curl)
    assert tls_client(ja4(hello)) == "curl-openssl", ja4(hello)
    assert tls_client(ja3(hello)) == "curl-openssl", ja3(hello)


def test_every_table_row_says_whether_it_was_measured():
    for table in (NON_BROWSER_JA4, NON_BROWSER_JA3):
        for key, (client, verified) in table.items():
            assert client and isinstance(verified, bool), key


# --- properties of the function --------------------------------------------------------------------

@pytest.mark.parametrize("headers", [CHROME_FORM_POST, FIREFOX_FORM_POST, REQUESTS_DEFAULT, SCRIPT_WITH_CHROME_UA, {"X": "y"}])
def test_every_feature_is_in_the_catalog_with_its_type(headers):
    types = {"bool": bool, "str": str, "list": list, "int": int}
    for name, value in feats(headers, tls=PYTHON_JA4, page_ua=CHROME_UA, page_languages=["en-US"]).items():
        assert name in REQUEST, name
        assert isinstance(value, types[REQUEST[name].type]), (name, value)


def test_no_headers_no_features():
    assert request_features(RequestInfo(headers={}), None, None) == {}


def test_pure():
    """Same answer every time, request untouched. (Its cost is measured in bench/, not here.)"""
    req = RequestInfo.from_headers("POST", "/post", CHROME_FORM_POST)
    before = dict(req.headers)
    first = request_features(req, CHROME_UA, ["en-US"])
    for _ in range(50):
        assert request_features(req, CHROME_UA, ["en-US"]) == first
    assert dict(req.headers) == before
