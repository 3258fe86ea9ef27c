"""A recording reverse proxy on loopback: every tool talks to it, it forwards to `tell demo`, and it
keeps each telemetry POST body exactly as the browser sent it (with the request's headers).

Capturing at the proxy rather than inside each tool means one way to record for every tool
(Playwright, Puppeteer, Selenium, CDP-direct tools, a browser driven by xdotool with no automation
client at all), and nothing attached to the browser only to watch it.
"""
from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

TELEMETRY_PATH = "/edge/telemetry"
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
        "transfer-encoding", "upgrade", "content-length"}


@dataclass
class Recording:
    body: bytes
    headers: dict[str, str]


@dataclass
class Recorder:
    telemetry: list[Recording] = field(default_factory=list)
    # every other POST (the protected writes), with how many telemetry bodies had arrived before it
    writes: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Recording]:
        with self.lock:
            out, self.telemetry, self.writes = self.telemetry, [], []
        return out

    def take_by_write(self) -> list[tuple[str, Recording]]:
        """(path of the write, the telemetry sent last before it) for each write that had one."""
        with self.lock:
            tel, writes = self.telemetry, self.writes
            self.telemetry, self.writes = [], []
        return [(path, tel[n - 1]) for path, n in writes if n > 0]


def _handler(upstream: tuple[str, int], recorder: Recorder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _forward(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if self.command == "POST" and urlsplit(self.path).path == TELEMETRY_PATH:
                with recorder.lock:
                    recorder.telemetry.append(Recording(body, {k.lower(): v for k, v in headers.items()}))
            elif self.command == "POST":
                with recorder.lock:
                    recorder.writes.append((urlsplit(self.path).path, len(recorder.telemetry)))
            conn = http.client.HTTPConnection(*upstream, timeout=15)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _forward

    return Handler


class RecordingProxy:
    """``with RecordingProxy(upstream_url) as proxy:`` — browse ``proxy.url``; read ``proxy.recorder``."""

    def __init__(self, upstream_url: str):
        u = urlsplit(upstream_url)
        self.recorder = Recorder()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler((u.hostname, u.port), self.recorder))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
