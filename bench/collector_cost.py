"""What the collector costs a page, measured in Chromium: ``python bench/collector_cost.py [--runs N]``.

* size: ``edge/static/collector.js`` gzipped (level 9), against the 12 KB budget;
* load: main-thread script time the collector adds to a page load, until the page is used — CDP
  ``Performance.getMetrics`` ScriptDuration of a page with the collector minus the same page without
  it (median of N loads, 600 ms after ``load``), and the evaluation of the script itself
  (``performance.measure`` around the inline script, in a Chromium with no DevTools client);
* first input: the deferred probes (CDP, iframe, WebGL, Worker, permissions), which start in idle
  callbacks once the page gets its first input event — ScriptDuration added by one CDP mouse move,
  with minus without. They are not skipped, only moved out of the load: this row is their cost;
* load, from a trace of a Chromium with no DevTools client: the script's evaluation and the deferred
  probes (the page dispatches one mousemove 300 ms after ``load`` to start them), each as wall and as
  thread CPU time (CPU time is steadier than wall time on a shared machine, and shows what is waiting
  on the GPU process);
* per event: trusted events sent through CDP ``Input.dispatch*`` (as a person's would arrive), the
  ScriptDuration they add with vs without the collector, per event; and untrusted events dispatched
  from page script, timed with ``performance.now()`` (an upper bound: on untrusted events the
  collector also reads the stack, looking for automation frames).

Pages are served by Playwright's router (no network, no server). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = ROOT / "edge" / "static" / "collector.js"
CHROMIUM = os.environ.get("TELL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
BUDGET_GZIP = 12 * 1024
BUDGET_LOAD_MS = 3.0
ORIGIN = "http://bench.tell.test"

FORM = ('<form data-tell-protect="post"><input id="u"><textarea id="b"></textarea><button>Post</button></form>'
        + "".join(f"<p>paragraph {i} of an ordinary page</p>" for i in range(40)))


def page_html(with_collector: bool, source: str) -> str:
    script = (f"<script>performance.mark('c0')</script><script>{source}</script>"
              "<script>performance.mark('c1');performance.measure('collector','c0','c1')</script>") if with_collector else ""
    return f"<!doctype html><html><head><meta charset=utf-8>{script}</head><body>{FORM}</body></html>"


def script_ms(cdp) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["ScriptDuration"] * 1000.0


def measure(runs: int, events: int) -> dict:
    from playwright.sync_api import sync_playwright

    source = COLLECTOR.read_text(encoding="utf-8")
    pages = {"/with": page_html(True, source), "/without": page_html(False, source)}
    out: dict = {"load": {"with": [], "without": []}, "first_input": {"with": [], "without": []}, "eval": [],
                 "trusted": {"with": [], "without": []}, "untrusted": {"with": [], "without": []}}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else None, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(f"{ORIGIN}/**", lambda route: route.fulfill(
                status=200, content_type="text/html", body=pages.get(route.request.url[len(ORIGIN):], "")))
            for i in range(runs):
                for kind in ("without", "with") if i % 2 else ("with", "without"):
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                    page.goto(f"{ORIGIN}/{kind}")
                    page.wait_for_timeout(600)  # idle, nobody has used the page: the deferred probes wait
                    out["load"][kind].append(script_ms(cdp))
                    if kind == "with":
                        out["eval"].append(page.evaluate("performance.getEntriesByName('collector')[0].duration"))
                    # The first input starts the deferred probes (idle callbacks): their cost, separately,
                    # and before the per-event figures, which they would otherwise inflate.
                    before = script_ms(cdp)
                    cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 5, "y": 5})
                    page.wait_for_timeout(600)
                    if kind == "with":
                        page.wait_for_function("Tell.collect().probes.ctx_done.length === 2", timeout=10_000)
                    out["first_input"][kind].append(script_ms(cdp) - before)
                    if i < 3:  # per-event costs: a few pages are enough (thousands of events each)
                        before = script_ms(cdp)
                        for j in range(events):
                            cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 100 + j % 400, "y": 100 + (j * 7) % 300})
                        for j in range(events // 2):
                            cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "a", "code": "KeyA", "windowsVirtualKeyCode": 65})
                            cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "a", "code": "KeyA", "windowsVirtualKeyCode": 65})
                        out["trusted"][kind].append((script_ms(cdp) - before) / (2 * events))
                        out["untrusted"][kind].append(page.evaluate("""(n) => {
                            const t0 = performance.now();
                            for (let i = 0; i < n; i++) {
                              window.dispatchEvent(new MouseEvent('mousemove', {clientX: i % 500, clientY: 20}));
                              window.dispatchEvent(new KeyboardEvent('keydown', {key: 'a', code: 'KeyA'}));
                            }
                            return (performance.now() - t0) / (2 * n);
                        }""", events))
                    page.close()
        finally:
            browser.close()
    return out


def plain_loads(body: bytes, loads: int, flags: tuple[str, ...] = (), done=None) -> list[str]:
    """Loads a page ``loads + 1`` times in a headless Chromium with no DevTools client at all (as in a
    person's browser), from a loopback server. The page beacons a string back after each load and,
    while the server answers 204, loads itself again. Returns the beacons but the first (cold: it
    compiles everything). ``done``: a callable; the browser is kept up after the loads until it is true
    (at most 60 s)."""
    import http.server
    import subprocess
    import tempfile
    import threading
    import time

    got: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            got.append(self.rfile.read(n).decode())
            self.send_response(204 if len(got) <= loads else 404)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="tell-bench-", ignore_cleanup_errors=True) as profile_dir:
        proc = subprocess.Popen([CHROMIUM, "--headless=new", *ARGS, f"--user-data-dir={profile_dir}", *flags,
                                 f"http://127.0.0.1:{server.server_address[1]}/"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 5 + 2 * loads
            while len(got) < loads + 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            deadline = time.monotonic() + 60
            while done and not done() and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            proc.kill()
            proc.wait(10)
            server.shutdown()
    return got[1:]


BEACON = ("<script>addEventListener('load', () => setTimeout(() => fetch('/r', {method: 'POST', body: String(%s)})"
          ".then((r) => { if (r.status === 204) location.search = '?' + Date.now(); }), 700))</script>")
# A first input, after the load: it starts the collector's deferred probes (idle callbacks).
FIRST_INPUT = "<script>addEventListener('load', () => setTimeout(() => dispatchEvent(new MouseEvent('mousemove')), 300))</script>"


def eval_without_cdp(loads: int) -> list[float]:
    """The script's evaluation time (``performance.measure`` around the inline script, wall clock) in a
    Chromium with no DevTools client."""
    body = page_html(True, COLLECTOR.read_text(encoding="utf-8"))
    body = body.replace("</body>", BEACON % "performance.getEntriesByName('collector')[0].duration" + "</body>")
    return [float(x) for x in plain_loads(body.encode(), loads)]


def trace_without_cdp(loads: int) -> list[dict]:
    """Main-thread time attributable to the collector, from a trace of a Chromium with no DevTools client
    (startup tracing, ``devtools.timeline``): per load, the ``EvaluateScript`` of the collector's inline
    script (compile and run; not the HTML parser's tokenising of its text) and every ``FireIdleCallback``
    (the collector's deferred probes, started by a synthetic mousemove 300 ms after ``load``; the page
    schedules no other) until the next load — each as wall
    time and as thread CPU time. Wall time includes waiting on other processes, such as the GPU process
    while a WebGL context is created."""
    import json
    import tempfile

    html = page_html(True, COLLECTOR.read_text(encoding="utf-8"))
    at = html.index("<script>", html.index("performance.mark('c0')")) + len("<script>")
    line, column = html.count("\n", 0, at) + 1, at - (html.rfind("\n", 0, at) + 1) + 1  # as the trace counts
    body = html.replace("</body>", FIRST_INPUT + BEACON % "1" + "</body>").encode()
    seconds = int(8 + 2 * (loads + 1))  # the trace is written when it ends: longer than the loads take
    with tempfile.TemporaryDirectory(prefix="tell-trace-", ignore_cleanup_errors=True) as tmp:
        path = os.path.join(tmp, "trace.json")
        trace: list = []

        def written() -> bool:
            try:
                with open(path, encoding="utf-8") as f:
                    trace.append(json.load(f)["traceEvents"])
            except (OSError, ValueError):
                return False
            return True

        plain_loads(body, loads, ("--trace-startup=devtools.timeline", "--trace-startup-format=json",
                                  f"--trace-startup-file={path}", f"--trace-startup-duration={seconds}"), written)
    if not trace:
        return []
    events = trace[0]
    main = sorted((e for e in events if e.get("ph") == "X" and e.get("pid") == e.get("tid")), key=lambda e: e["ts"])
    evals = [e for e in main if e["name"] == "EvaluateScript"
             and (e["args"].get("data", {}).get("lineNumber"), e["args"].get("data", {}).get("columnNumber")) == (line, column)]
    idle = [e for e in main if e["name"] == "FireIdleCallback"]
    out = []
    for i, ev in enumerate(evals[1:], 1):  # the first load compiles everything cold
        until = evals[i + 1]["ts"] if i + 1 < len(evals) else float("inf")
        mine = [e for e in idle if ev["ts"] < e["ts"] < until]
        out.append({"eval_wall": ev["dur"] / 1000, "eval_cpu": ev.get("tdur", 0) / 1000, "callbacks": len(mine),
                    "idle_wall": sum(e["dur"] for e in mine) / 1000, "idle_cpu": sum(e.get("tdur", 0) for e in mine) / 1000})
    return out


def profile(loads: int = 5) -> list[tuple[str, float]]:
    """Where the load-time cost goes: CDP Profiler samples (100 µs) over page loads with the collector,
    self time per collector function (the inline script's frames), averaged per load."""
    from collections import Counter

    from playwright.sync_api import sync_playwright

    source = COLLECTOR.read_text(encoding="utf-8")
    html = page_html(True, source)
    self_ms: Counter = Counter()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else None, args=ARGS)
        try:
            context = browser.new_context()
            context.route(f"{ORIGIN}/**", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
            for _ in range(loads):
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 100})
                cdp.send("Profiler.start")
                page.goto(f"{ORIGIN}/with")
                page.wait_for_timeout(600)
                prof = cdp.send("Profiler.stop")["profile"]
                nodes = {n["id"]: n for n in prof["nodes"]}
                deltas = prof.get("timeDeltas", [])
                for sid, dt in zip(prof.get("samples", []), deltas[1:] + [0]):
                    cf = nodes[sid]["callFrame"]
                    if cf.get("url", "").startswith(ORIGIN):
                        self_ms[cf.get("functionName") or "(top level)"] += dt / 1000.0
                    elif cf.get("functionName") in ("(garbage collector)", "(program)"):
                        continue
                page.close()
        finally:
            browser.close()
    return [(name, ms / loads) for name, ms in self_ms.most_common(8)]


def report(runs: int, events: int) -> tuple[str, bool]:
    raw = COLLECTOR.read_bytes()
    gz = len(gzip.compress(raw, 9))
    m = measure(runs, events)
    med = statistics.median
    load_ms = med(m["load"]["with"]) - med(m["load"]["without"])
    first_input_ms = med(m["first_input"]["with"]) - med(m["first_input"]["without"])
    eval_ms = med(m["eval"])
    plain = eval_without_cdp(runs)
    plain_ms = med(plain) if plain else float("nan")
    traced = trace_without_cdp(runs)

    def traced_ms(key: str) -> float:
        return med(t[key] for t in traced) if traced else float("nan")
    trusted_us = (med(m["trusted"]["with"]) - med(m["trusted"]["without"])) * 1000
    untrusted_us = (med(m["untrusted"]["with"]) - med(m["untrusted"]["without"])) * 1000
    rows = [
        ("size, gzip -9", f"{gz / 1024:.1f} KB ({len(raw) / 1024:.1f} KB raw)", "≤ 12 KB", gz <= BUDGET_GZIP),
        ("main-thread script time at load under Playwright (ScriptDuration with − without, 600 ms after load, no input yet)",
         f"{load_ms:.2f} ms", "≤ 3 ms", load_ms <= BUDGET_LOAD_MS),
        ("deferred probes, started by the first input (ScriptDuration of one CDP mouse move, with − without; idle callbacks)",
         f"{first_input_ms:.2f} ms", "", None),
        ("evaluating the script, no DevTools client attached (plain Chromium, warm)", f"{plain_ms:.2f} ms", "≤ 3 ms", plain_ms <= BUDGET_LOAD_MS),
        ("evaluating the script, no DevTools client, from a trace (compile and run; wall / thread CPU)",
         f"{traced_ms('eval_wall'):.2f} / {traced_ms('eval_cpu'):.2f} ms", "", None),
        (f"deferred probes after the first input, no DevTools client ({traced[0]['callbacks'] if traced else '?'} idle callbacks, trace; wall / thread CPU)",
         f"{traced_ms('idle_wall'):.2f} / {traced_ms('idle_cpu'):.2f} ms", "", None),
        ("evaluating the script under Playwright (Runtime enabled: console probe serialised)", f"{eval_ms:.2f} ms", "", None),
        ("per trusted event (CDP mousemove/keydown/keyup, ScriptDuration with − without)", f"{trusted_us:.1f} µs", "", None),
        ("per untrusted event (dispatched from script; includes the stack scan)", f"{untrusted_us:.1f} µs", "", None),
    ]
    name = COLLECTOR.relative_to(ROOT) if COLLECTOR.is_relative_to(ROOT) else COLLECTOR
    lines = [f"Collector cost of {name} — Chromium {browser_version()}, median of {runs} loads, {events} mousemoves + {events // 2} key pairs per page",
             "", "| measure | value | target | ok |", "| --- | --- | --- | --- |"]
    for name, value, target, ok in rows:
        lines.append(f"| {name} | {value} | {target} | {'' if ok is None else ('yes' if ok else 'NO')} |")
    lines += ["", "Where the load-time script time goes (CDP Profiler, self time per collector function, mean per load):", "",
              "| function | ms |", "| --- | --- |"]
    lines += [f"| {name} | {ms:.2f} |" for name, ms in profile()]
    return "\n".join(lines), all(ok is not False for *_, ok in rows)


def browser_version() -> str:
    import subprocess

    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout.split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def main() -> int:
    global COLLECTOR
    p = argparse.ArgumentParser(prog="python bench/collector_cost.py")
    p.add_argument("--runs", type=int, default=11, help="page loads per variant (median)")
    p.add_argument("--events", type=int, default=1000, help="mousemoves per page (plus half as many key pairs)")
    p.add_argument("--collector", type=Path, default=COLLECTOR,
                   help="the script to measure (before/after: git show REV:edge/static/collector.js > old.js)")
    args = p.parse_args()
    COLLECTOR = args.collector.resolve()
    table, ok = report(args.runs, args.events)
    print(table)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
