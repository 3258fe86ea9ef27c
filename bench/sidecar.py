"""The sidecar over HTTP on loopback, against a bare aiohttp handler measured in the same run.

Two servers, one process each, started here and stopped at the end:

* **Tell**: ``python -m edge.cli serve`` (``tell serve``, one worker) with its defaults except a
  temporary SQLite ledger, a fixed secret, and ``tokens.max_uses`` raised so that a token can be
  replayed by the load generator (the use is still counted in the store on every request), and the
  ``[velocity]`` limits raised likewise (64 accounts write thousands of times; still counted);
* **bare**: bench/bare_server.py, an aiohttp handler that reads the body and answers 200.

Requests are built once, as raw HTTP (bench/loadgen.py's format, read by wrk through
bench/wrk_requests.lua): every recorded payload (the tool fixtures and human corpus sessions) is
posted to Tell's ``/edge/telemetry`` with its own session cookie for a real token, and each
``/v1/decide`` request then carries what nginx's ``auth_request`` would pass on — the original
method and URI, the user's browser headers, the cookie, ``X-Tell-Token``, an account id (64
accounts) and ``X-Forwarded-For``. The ingest requests are the recorded fixture bodies with their
recorded headers.

* **Throughput**: closed loop at saturation (wrk, 1 thread, 16 connections; or bench/loadgen.py
  when wrk is missing), the bare handler and Tell taking turns on the *same* requests, several
  rounds; the ratio is the median of the per-round ratios.
* **Latency**: open loop at a fixed rate, half of Tell's measured ``/v1/decide`` throughput
  (bench/loadgen.py: latency from each request's due time, no coordinated omission), and the bare
  handler at the same rate for the floor the generator and loopback set.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench.loadgen import write_requests
from bench.payloads import Sample, human_recordings, recorded, tool_recordings
from bench.report import Section, Target

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "wrk_requests.lua"
ACCOUNTS = 64
DECIDE_TARGET = 0.5  # of the bare handler's throughput
INGEST_TARGET = 0.25
P99_TARGET_MS = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(argv: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A server process on 127.0.0.1:port until the block ends (SIGTERM, then kill)."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[2]} exited with {proc.returncode}: {log.read_text(errors='replace')[-500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[2]} did not answer on port {port} within 30 s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def raw_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    skip = {"host", "content-length", "connection", "transfer-encoding"}
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in skip]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _browser(headers: dict[str, str]) -> dict[str, str]:
    """The user's own headers as a gateway passes them on (not the telemetry POST's content type)."""
    return {k: v for k, v in headers.items() if k.lower() not in ("content-type", "accept-encoding")}


def issue_tokens(port: int, samples: list[Sample]) -> list[tuple[Sample, str, str]]:
    """(sample, session cookie, token) for each payload, from Tell's own /edge/telemetry."""
    out = []
    for s in samples:
        sid = secrets.token_hex(16)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/edge/telemetry", data=s.body, method="POST",
                                     headers={**s.headers, "Content-Type": "application/msgpack", "Cookie": f"tell_sid={sid}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            out.append((s, sid, json.loads(r.read())["token"]))
    return out


def decide_requests(tokens: list[tuple[Sample, str, str]]) -> list[bytes]:
    out = []
    for i, (s, sid, token) in enumerate(tokens):
        h = _browser(s.headers)
        h.update({
            "X-Original-Method": "POST", "X-Original-URI": "/post", "X-Tell-Action": "post",
            "X-Tell-Token": token, "Cookie": f"tell_sid={sid}", "X-Tell-Account": f"bench-{i % ACCOUNTS}",
            "X-Forwarded-For": f"203.0.113.{i % 250 + 1}", "Content-Type": "application/x-www-form-urlencoded",
        })
        out.append(raw_request("GET", "/v1/decide", h))
    return out


def ingest_requests(samples: list[Sample]) -> list[bytes]:
    return [raw_request("POST", "/edge/telemetry", {**_browser(s.headers), "Content-Type": "application/msgpack",
                                                     "Cookie": f"tell_sid={secrets.token_hex(16)}"}, s.body)
            for s in samples]


def statuses(port: int, requests: list[bytes]) -> dict[int, int]:
    """One pass over ``requests``: what Tell answers (the mix the load is made of)."""
    from collections import Counter

    got: Counter = Counter()
    for r in requests:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(r.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
            got[int(c.recv(64)[9:12])] += 1
    return dict(sorted(got.items()))


# --- load -----------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def wrk(port: int, reqfile: Path, duration: float, connections: int = 16) -> dict | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    p = subprocess.run([exe, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(LUA),
                        f"http://127.0.0.1:{port}", "--", str(reqfile)],
                       capture_output=True, text=True, timeout=duration + 30)
    out = p.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if p.returncode != 0 or not rps:
        raise RuntimeError(f"wrk failed: {p.stderr.strip()[-300:] or out[-300:]}")
    pct = {f"p{m.group(1)}": _ms(m.group(2)) for m in re.finditer(r"^\s+(\d+)%\s+(\S+)$", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)$", out, re.M)
    return {"tool": "wrk", "rps": float(rps.group(1)), "latency_ms": pct,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1).strip() if errors else ""}


def loadgen(port: int, reqfile: Path, duration: float, *, rate: float | None = None, connections: int = 16) -> dict:
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--requests", str(reqfile),
            "--duration", str(duration), "--connections", str(connections)]
    if rate:
        argv += ["--rate", f"{rate:.1f}"]
    p = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True, timeout=duration + 60)
    if p.returncode != 0:
        raise RuntimeError(f"loadgen failed: {p.stderr.strip()[-300:]}")
    return json.loads(p.stdout)


def throughput(port: int, reqfile: Path, duration: float) -> dict:
    got = wrk(port, reqfile, duration)
    if got is not None:
        return got
    lg = loadgen(port, reqfile, duration)
    return {"tool": "bench.loadgen", "rps": lg["achieved_rps"], "latency_ms": {k: v / 1000 for k, v in lg["latency_us"].items()},
            "non_2xx": sum(v for k, v in lg["statuses"].items() if not k.startswith("2")), "socket_errors": lg["errors"]}


# --- where the sidecar's time goes -----------------------------------------------------------------

def spy(pid: int, port: int, reqfile: Path, seconds: float, out: Path) -> dict | str:
    """py-spy samples of the server process (all threads) during one more saturation run, which is
    not counted: (function, share of samples in it or below, own share), Tell's frames and the
    largest others."""
    exe = shutil.which("py-spy")
    if exe is None:
        return "py-spy is not installed (`pip install -e .[bench]`)"
    rec = subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250", "-f", "raw",
                            "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    throughput(port, reqfile, seconds)
    try:
        _, err = rec.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        rec.kill()
        return "py-spy did not finish"
    if rec.returncode != 0 or not out.exists():
        return f"py-spy failed: {err.decode(errors='replace').strip()[-200:]}"
    return spy_summary(out)


TELL_CODE = ("edge/", "fingerprints/", "signatures/")


def spy_summary(path: Path, top: int = 24) -> dict:
    """Shares of py-spy's samples: per thread (the event loop, the store's worker), idle waits, and
    the functions of Tell's own code (in or below, and own)."""
    from collections import Counter

    incl: Counter = Counter()
    own: Counter = Counter()
    threads: Counter = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = [_frame(f) for f in stack.split(";")]
        leaf = frames[-1]
        if "EpollSelector.select" in leaf:
            threads["event loop: idle in epoll"] += k
        elif "concurrent/futures/thread.py" in leaf and "_worker" in leaf:
            threads["store worker: idle, waiting for work"] += k
        elif any("thread.py" in f and "_worker" in f for f in frames):
            threads["store worker: busy (SQLite calls, their Python)"] += k
        else:
            threads["event loop: busy"] += k
        own[leaf] += k
        for f in set(frames):
            if f.split(" (", 1)[-1].startswith(TELL_CODE) and "edge/cli.py" not in f:
                incl[f] += k
    if not total:
        return {"threads": {}, "tell": []}
    return {"samples": total,
            "threads": {k: v / total for k, v in threads.most_common()},
            "tell": [(f, n / total, own[f] / total) for f, n in incl.most_common(top)]}


def _frame(f: str) -> str:
    """'func (path:line)' → 'func (path)', the path relative to site-packages or the repository."""
    if " (" not in f:
        return f
    name, where = f.split(" (", 1)
    where = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# --- the section ----------------------------------------------------------------------------------

def section(quick: bool) -> Section:
    s = Section("HTTP: the sidecar and telemetry ingest against a bare aiohttp handler")
    tools = tool_recordings()
    humans = human_recordings(sentences=8 if quick else 48, windows=2 if quick else 16)
    tmp = Path(tempfile.mkdtemp(prefix="tell-bench-http-"))
    duration, rounds, open_s = (1.0, 1, 1.0) if quick else (4.0, 3, 10.0)
    bare_port, tell_port = free_port(), free_port()
    env = {**os.environ, "TELL_STORE": f"sqlite:///{tmp / 'ledger.sqlite3'}", "TELL_SECRET": secrets.token_hex(32),
           "TELL_TOKENS_MAX_USES": "1000000000", "TELL_TOKENS_TTL_S": "3600", "PYTHONPATH": str(ROOT),
           # 64 accounts writing thousands of times: raised like max_uses, still counted on every write.
           **{f"TELL_VELOCITY_{a}": "1000000000/hour" for a in ("POST", "COMMENT", "MESSAGE")}}
    env.pop("TELL_CONFIG", None)
    try:
        with server([sys.executable, "-m", "bench.bare_server", "--port", str(bare_port)], bare_port, env, tmp / "bare.log"), \
             server([sys.executable, "-m", "edge.cli", "serve", "--host", "127.0.0.1", "--port", str(tell_port)], tell_port, env,
                    tmp / "tell.log") as tell_proc:
            token_samples = recorded(tools)[: 8 if quick else None] + [
                Sample(r.name, _encode(r.telemetry), r.headers, len(r.telemetry.get("events") or []), True) for r in humans]
            tokens = issue_tokens(tell_port, token_samples)
            decide_file, ingest_file = tmp / "decide.req", tmp / "ingest.req"
            write_requests(str(decide_file), decide_requests(tokens))
            ingest = recorded(tools)
            write_requests(str(ingest_file), ingest_requests(ingest))
            mix = statuses(tell_port, decide_requests(tokens))
            # warm-up: caches, the SQLite file, the connection pools
            for port, f in ((bare_port, decide_file), (tell_port, decide_file), (tell_port, ingest_file)):
                throughput(port, f, 1.0)
            runs: dict[str, list[float]] = {k: [] for k in ("bare_decide", "decide", "bare_ingest", "ingest")}
            lat: dict[str, dict] = {}
            for r in range(rounds):
                pairs = [("bare_decide", bare_port, decide_file), ("decide", tell_port, decide_file),
                         ("bare_ingest", bare_port, ingest_file), ("ingest", tell_port, ingest_file)]
                if r % 2:
                    pairs = [pairs[1], pairs[0], pairs[3], pairs[2]]
                for key, port, f in pairs:
                    got = throughput(port, f, duration)
                    runs[key].append(got["rps"])
                    lat[key] = got
            decide_ratio = statistics.median(d / b for d, b in zip(runs["decide"], runs["bare_decide"]))
            ingest_ratio = statistics.median(i / b for i, b in zip(runs["ingest"], runs["bare_ingest"]))
            rate = 0.5 * statistics.median(runs["decide"])
            if quick:
                rate = min(rate, 100.0)
            open_tell = loadgen(tell_port, decide_file, open_s, rate=rate)
            open_bare = loadgen(bare_port, decide_file, min(open_s, 5.0), rate=rate)
            profile = spy(tell_proc.pid, tell_port, decide_file, 1.0 if quick else 4.0, tmp / "spy.txt")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    tool = lat["decide"]["tool"]
    s.add(__doc__.split("\n\n", 1)[1].strip(), "")
    s.add(f"Payloads: {len(token_samples)} tokens ({sum(not x.human for x in token_samples)} recorded tool runs, "
          f"{sum(x.human for x in token_samples)} human corpus sessions); Tell's answers to one pass over the "
          f"/v1/decide requests: {', '.join(f'{v} × {k}' for k, v in mix.items())} (200 allow, 401 challenge, 403 block). "
          f"Ingest: the {len(ingest)} recorded tool bodies, {sum(x.events for x in ingest) / len(ingest):.0f} events and "
          f"{sum(len(x.body) for x in ingest) / len(ingest) / 1024:.1f} KB on average.", "")
    rows = []
    for key, label in (("bare_decide", "bare handler, /v1/decide-shaped requests"), ("decide", "Tell `/v1/decide`"),
                       ("bare_ingest", "bare handler, telemetry-shaped requests"), ("ingest", "Tell `/edge/telemetry`")):
        pct = lat[key]["latency_ms"]
        rows.append([label, " / ".join(f"{x:,.0f}" for x in runs[key]), f"{statistics.median(runs[key]):,.0f}",
                     f"{pct.get('p50', float('nan')):.2f} / {pct.get('p99', float('nan')):.2f} ms"])
    s.add(f"Throughput at saturation ({tool}, one thread, 16 connections, {duration:g} s per run, {rounds} rounds taking turns):", "")
    s.table(["server and requests", "requests/s per round", "median", "latency p50 / p99 (last round, closed loop)"], rows)
    s.add(f"Tell `/v1/decide` / bare: **{decide_ratio:.0%}**; Tell `/edge/telemetry` / bare: **{ingest_ratio:.0%}** "
          "(median of the per-round ratios).", "")
    orow = []
    for label, o in (("Tell `/v1/decide`", open_tell), ("bare handler, same requests", open_bare)):
        L, S = o["latency_us"], o["service_us"]
        orow.append([label, f"{o['rate']:,.0f}/s for {o['elapsed_s']:.0f} s", f"{o['done']:,} of {o['sent']:,}",
                     *(f"{L.get(k, float('nan')) / 1000:.2f} ms" for k in ("p50", "p90", "p99", "p99.9", "max")),
                     f"{S.get('p50', float('nan')) / 1000:.2f} / {S.get('p99', float('nan')) / 1000:.2f} ms",
                     json.dumps(o["errors"]) if o["errors"] else "none"])
    s.add("Open loop at half of Tell's `/v1/decide` throughput (bench/loadgen.py; latency counted from each "
          "request's due time; *sent → answered* leaves out the wait before the request was written):", "")
    s.table(["server", "rate", "answered", "p50", "p90", "p99", "p99.9", "max", "sent → answered p50 / p99", "errors"], orow)
    if isinstance(profile, str):
        s.add(f"Where the sidecar's time goes: {profile}.", "")
    else:
        s.add("Where the sidecar's time goes under `/v1/decide` at saturation: py-spy (250 Hz) on the Tell process "
              f"during one more run, not counted above ({profile.get('samples', 0):,} samples of both threads, the "
              "event loop and the SQLite store's worker).", "")
        s.table(["thread", "share of samples"], [[k, f"{v:.0%}"] for k, v in profile["threads"].items()])
        s.add("Tell's own functions, share of all samples in the function or below it, and in it:", "")
        s.table(["function", "in or below", "own"], [[f"`{f}`", f"{a:.0%}", f"{b:.0%}"] for f, a, b in profile["tell"]])
    p99 = open_tell["latency_us"].get("p99", float("inf")) / 1000
    s.targets += [
        Target("sidecar `/v1/decide` throughput, one worker", f"{decide_ratio:.0%} of bare", f"≥ {DECIDE_TARGET:.0%} of bare",
               decide_ratio >= DECIDE_TARGET, "" if decide_ratio >= DECIDE_TARGET else f"{DECIDE_TARGET / decide_ratio:.1f}× short"),
        Target("sidecar `/v1/decide` p99 at half that load (open loop)", f"{p99:.2f} ms", f"≤ {P99_TARGET_MS:g} ms",
               p99 <= P99_TARGET_MS and not open_tell["errors"], "" if p99 <= P99_TARGET_MS else f"{p99 / P99_TARGET_MS:.1f}× over"),
        Target("telemetry ingest throughput", f"{ingest_ratio:.0%} of bare", f"≥ {INGEST_TARGET:.0%} of bare",
               ingest_ratio >= INGEST_TARGET, "" if ingest_ratio >= INGEST_TARGET else f"{INGEST_TARGET / ingest_ratio:.1f}× short"),
    ]
    s.data = {"runs": runs, "decide_ratio": decide_ratio, "ingest_ratio": ingest_ratio, "open_tell": open_tell,
              "open_bare": open_bare, "mix": mix, "profile": profile}
    return s


def _encode(telemetry: dict) -> bytes:
    from edge import telemetry as tm

    return tm.encode(telemetry)
