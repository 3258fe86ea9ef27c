"""Sections of the suite that drive code living elsewhere: the in-process decision (bench/decision.py),
the collector's cost in Chromium (bench/collector_cost.py) and the profile of the hot path."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import msgpack

from bench import decision as dec
from bench.payloads import human_recordings, sized, tool_recordings
from bench.report import Section, Target, us

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "4da9e20"  # the tree this session started from
"""The tree the latest round of hot-path work (issue 9) started from: the decision is measured side by side with it."""

SIZES = (50, 500, 2000)
ROUNDS = {50: 250, 500: 120, 2000: 40}  # × 16 payloads each
TARGET_P50_US, TARGET_P99_US = 150.0, 1000.0


def _pools(quick: bool):
    tools = tool_recordings()
    humans = human_recordings(sentences=20 if quick else 120, windows=4 if quick else 24)
    return tools, humans


def decision(quick: bool, baseline: str | None = None) -> Section:
    s = Section("In-process decision")
    tools, humans = _pools(quick)
    sizes = (20, 60) if quick else SIZES
    rounds = {n: 3 for n in sizes} if quick else ROUNDS
    s.add("Telemetry decode and validation, features, signatures, behaviour score and the policy's decision "
          "(`tm.decode` → `Engine.assess` with the telemetry request → `Engine.decide` with the write request), "
          "timed one payload at a time with `perf_counter_ns`; payloads are visited in a fresh shuffled order "
          "every round after a warm-up round; the garbage collector stays on.",
          "",
          f"Payloads: {len(tools)} recorded tool runs (`signatures/sets/fixtures/*.msgpack`) and "
          f"{len(humans)} recorded human sessions ({sum(r.name.startswith('aalto') for r in humans)} typed sentences, "
          f"{sum(not r.name.startswith('aalto') for r in humans)} mouse windows) from `../shared/data/human` through "
          "`fingerprints.corpus.iter_corpus`. Each size has 16 payloads, half from each pool, built by concatenating "
          "whole recorded event streams: every following stream is shifted to start 1.5 s after the previous one's last "
          "event (intervals inside a stream unchanged), and the newest *n* events are kept, as the collector keeps its "
          "newest 1,500 (`bench/payloads.py`).",
          "")
    samples = {n: sized(n, tools, humans) for n in sizes}
    rows = []
    gc_rows = []
    s.data["sizes"] = {}
    for n in sizes:
        seen = dec.GCTime()
        per = dec.run(samples[n], rounds[n], gc_seen=seen)
        d = dec.Dist.of(dec.flat(per))
        tools_p50 = dec.Dist.of(dec.flat([x for x, smp in zip(per, samples[n]) if not smp.human])).p50
        human = [x for x, smp in zip(per, samples[n]) if smp.human]
        human_p50 = dec.Dist.of(dec.flat(human)).p50 if human else float("nan")
        kb = sum(len(x.body) for x in samples[n]) / len(samples[n]) / 1024
        rows.append([f"{n:,}", f"{kb:.1f} KB", f"{d.n:,}", us(d.p50), us(d.p90), us(d.p99), us(d.max), us(tools_p50), us(human_p50)])
        s.data["sizes"][n] = d.to_json()
        gc_rows.append([f"{n:,}", *(f"{c:,}" + (f" ({ns / c / 1e6:.1f} ms each)" if c else "") for c, ns in zip(seen.count, seen.ns)),
                        us(sum(seen.ns) / d.n / 1000)])
        s.data["sizes"][n]["gc"] = {"collections": seen.count, "ns": seen.ns}
        if n == 500:
            s.targets.append(Target("decision, 500 events, p50", us(d.p50), f"≤ {us(TARGET_P50_US)}", d.p50 <= TARGET_P50_US,
                                    "" if d.p50 <= TARGET_P50_US else f"{d.p50 / TARGET_P50_US:.1f}× over"))
            s.targets.append(Target("decision, 500 events, p99", us(d.p99), f"≤ {us(TARGET_P99_US)}", d.p99 <= TARGET_P99_US,
                                    "" if d.p99 <= TARGET_P99_US else f"{d.p99 / TARGET_P99_US:.1f}× over"))
    s.table(["events", "mean body", "decisions", "p50", "p90", "p99", "max", "p50 tools", "p50 humans"], rows)
    s.add("Garbage collections while those decisions ran (the collector's own generations; a full collection walks "
          "every object of the loaded engine):", "")
    s.table(["events", "young (gen 0)", "gen 1", "full (gen 2)", "GC time per decision, mean"], gc_rows)

    mid = 60 if quick else 500
    st = dec.stages(dec.make_engine(), samples[mid], 3 if quick else 40)
    s.add(f"Each stage on its own, {mid} events (p50 over the same payloads):", "")
    s.table(["stage", "p50"], [[k, us(v)] for k, v in st.items()])
    s.data["stages"] = st

    if baseline != "none":
        _baseline(s, baseline or BASELINE, samples, quick)
    return s


def _baseline(s: Section, rev: str, samples: dict, quick: bool) -> None:
    """The same payloads through another revision's code, alternating with this tree's, each in a
    fresh subprocess (so both start equal: imports, caches, allocator)."""
    tmp = Path(tempfile.mkdtemp(prefix="tell-bench-base-"))
    try:
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "edge", "fingerprints", "signatures"],
                              capture_output=True, timeout=60)
        if arch.returncode != 0:
            s.add(f"Side by side with `{rev}`: not run (`git archive` failed: {arch.stderr.decode(errors='replace').strip()[:200]}).", "")
            return
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=arch.stdout, check=True, timeout=60)
        blob = tmp / "samples.msgpack"
        blob.write_bytes(msgpack.packb({n: [[x.body, x.headers] for x in v] for n, v in samples.items()}, use_bin_type=True))
        rounds = 2 if quick else 12
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for i in range(1 if quick else 2):
            for label, tree in (("before", tmp), ("after", ROOT)) if i % 2 == 0 else (("after", ROOT), ("before", tmp)):
                p = subprocess.run([sys.executable, str(ROOT / "bench" / "decision.py"), "--tree", str(tree),
                                    "--samples", str(blob), "--rounds", str(rounds)],
                                   capture_output=True, text=True, timeout=300, cwd=str(tmp))
                if p.returncode != 0:
                    s.add(f"Side by side with `{rev}`: the {label} run failed: `{p.stderr.strip()[-300:]}`", "")
                    return
                runs[label].append(json.loads(p.stdout))
        rows = []
        for n in samples:
            b = min(r[str(n)]["p50_us"] for r in runs["before"])
            a = min(r[str(n)]["p50_us"] for r in runs["after"])
            b99 = min(r[str(n)]["p99_us"] for r in runs["before"])
            a99 = min(r[str(n)]["p99_us"] for r in runs["after"])
            rows.append([f"{n:,}", us(b), us(a), f"{b / a:.1f}×", us(b99), us(a99)])
        s.add(f"**Before and after**, side by side in this run: the same payloads through revision `{rev}` (the tree "
              "this round of work started from) and through this tree, each in fresh subprocesses, alternating "
              f"({len(runs['after'])} runs each × {rounds} rounds; the better run of each is shown):", "")
        s.table(["events", f"p50 `{rev}`", "p50 now", "speed-up", f"p99 `{rev}`", "p99 now"], rows)
        s.data["baseline"] = runs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- the collector in Chromium ---------------------------------------------------------------------

def collector(quick: bool) -> Section:
    s = Section("Collector cost in Chromium")
    script = ROOT / "bench" / "collector_cost.py"
    if quick:
        s.add("Not run with --quick (it drives Chromium).")
        s.targets.append(Target("collector: gzipped size", "—", "≤ 12 KB", None, "skipped (--quick)"))
        return s
    chromium = os.environ.get("TELL_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        s.add(f"Not run: no Chromium at {chromium} (set TELL_CHROMIUM).")
        s.targets.append(Target("collector: gzipped size and load time", "—", "≤ 12 KB, ≤ 3 ms", None, "no Chromium"))
        return s
    runs, events = 5, 300
    try:
        p = subprocess.run([sys.executable, str(script), "--runs", str(runs), "--events", str(events)],
                           capture_output=True, text=True, timeout=240, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        s.add("`bench/collector_cost.py` did not finish within 240 s.")
        s.targets.append(Target("collector cost", "timed out", "≤ 12 KB, ≤ 3 ms", None))
        return s
    table = p.stdout.strip()
    s.add(f"`python bench/collector_cost.py --runs {runs} --events {events}` (owned by the collector's authors; "
          "its docstring says how each figure is taken):", "", table or f"(no output; stderr: `{p.stderr.strip()[-300:]}`)")
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[2].startswith("≤"):
            name = "collector: " + (cells[0] if cells[0].startswith("size") else cells[0].split(" (")[0])  # the row's own measure
            s.targets.append(Target(name, cells[1], cells[2], cells[3] == "yes"))
    return s


# --- profile ----------------------------------------------------------------------------------------

def profile(quick: bool) -> Section:
    s = Section("Profile of the hot path")
    tools, humans = _pools(quick)
    n = 60 if quick else 500
    samples = sized(n, tools, humans)
    engine = dec.make_engine()
    one = dec.decision_fn(engine)
    args = dec.prepared(samples)
    reps = 2 if quick else 300

    def work() -> None:
        for _ in range(reps):
            for a in args:
                one(*a)

    work() if quick else None
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    if Profiler is None:
        import cProfile
        import pstats
        import io

        pr = cProfile.Profile()
        pr.runcall(work)
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(15)
        s.add("pyinstrument is not installed (`pip install -e .[bench]`); cProfile, top 15 by own time:", "", "```",
              buf.getvalue().strip(), "```")
        return s
    prof = Profiler(interval=0.0002)
    prof.start()
    work()
    prof.stop()
    root = _merged(prof.last_session.root_frame())
    total = root["time"] or 1e-9
    own: Counter = Counter()
    _self_times(root, own)
    s.add(f"pyinstrument (sampling every 0.2 ms) over {reps * len(args):,} decisions of {n}-event payloads "
          f"(the 16 of the decision section). Own time per function, largest first:", "")
    s.table(["function", "where", "own time"],
            [[f"`{fn}`", f"`{where}`", f"{t / total:.0%}"] for (fn, where), t in own.most_common(18)])
    s.add("The call tree (frames with 3% or more of the time):", "", "```")
    _tree(root, total, s.lines, 0)
    s.add("```", "")
    s.data["own"] = {f"{fn} {where}": t / total for (fn, where), t in own.most_common(40)}
    return s


def _where(frame) -> str:
    path = frame.file_path or ""
    for marker in ("site-packages/", "lib/python3.", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = path.split("/", 1)[-1]
    return f"{path}:{frame.line_no}" if frame.line_no else path


def _merged(frame) -> dict:
    """pyinstrument's tree with the frames of one function merged (it splits them by the line being
    run) and its synthetic ``[self]`` frames folded into their parent's own time."""
    node = {"time": frame.time, "own": 0.0, "children": {}}
    for child in frame.children:
        if child.is_synthetic:
            node["own"] += child.time
            continue
        key = (child.function or "?", _where(child))
        sub = _merged(child)
        have = node["children"].get(key)
        if have is None:
            node["children"][key] = sub
        else:
            _add(have, sub)
    node["own"] += max(0.0, frame.time - sum(c.time for c in frame.children))
    return node


def _add(into: dict, other: dict) -> None:
    into["time"] += other["time"]
    into["own"] += other["own"]
    for key, sub in other["children"].items():
        if key in into["children"]:
            _add(into["children"][key], sub)
        else:
            into["children"][key] = sub


def _self_times(node: dict, acc: Counter, key=None) -> None:
    if key is not None and node["own"] > 0:
        acc[key] += node["own"]
    for k, sub in node["children"].items():
        _self_times(sub, acc, k)


def _tree(node: dict, total: float, out: list[str], depth: int, key=("", "")) -> None:
    if node["time"] / total < 0.03 or depth > 16:
        return
    if depth:
        out.append(f"{'  ' * (depth - 1)}{node['time'] / total:5.1%}  {key[0]}  {key[1]}")
    for k, sub in sorted(node["children"].items(), key=lambda kv: -kv[1]["time"]):
        _tree(sub, total, out, depth + 1, k)
