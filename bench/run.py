"""Run the whole benchmark suite and write ``bench/RESULTS.md``: ``python -m bench`` (or ``python bench/run.py``).

Sections (``--only``/``--skip`` take their names): ``decision`` (in-process decision latency by
payload size, with the pre-optimisation revision side by side), ``http`` (``/v1/decide`` and
``/edge/telemetry`` against a bare aiohttp handler, open-loop latency), ``rules`` (50 / 500 / 5,000
generated rules), ``store`` (SQLite and Redis), ``collector`` (bench/collector_cost.py in Chromium),
``profile`` (pyinstrument over the hot path). The whole run stays under five minutes on two shared
cores; ``--quick`` runs every section on tiny sizes in seconds (tests/test_bench_smoke.py).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine  # noqa: E402
from bench.report import Section, Target  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
MISSES = ROOT / "bench" / "MISSES.md"
SECTIONS = ("decision", "http", "rules", "store", "collector", "profile")


def _section(name: str, quick: bool, args: argparse.Namespace) -> Section:
    if name == "decision":
        from bench.sections import decision
        return decision(quick, baseline=args.baseline)
    if name == "http":
        from bench.sidecar import section
        return section(quick)
    if name == "rules":
        from bench.rules import section
        return section(quick)
    if name == "store":
        from bench.store import section
        return section(quick)
    if name == "collector":
        from bench.sections import collector
        return collector(quick)
    if name == "profile":
        from bench.sections import profile
        return profile(quick)
    raise ValueError(name)


def render(sections: list[Section], info: dict[str, str], started: float, quick: bool) -> str:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench` on {when}; the whole run took {time.monotonic() - started:.0f} s"
        + (" (**--quick**: tiny sizes, not results)" if quick else "") + ". How each figure is measured is said "
        "in its section and in the docstrings of `bench/`. The machines are shared and noisy: targets are "
        "ratios measured side by side in this run, or latency distributions over many runs.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in info.items()),
        f"| load average at the end | {machine.load_average()} |",
        "",
        "## Targets",
        "",
        "| target | measured | target | |",
        "| --- | --- | --- | --- |",
    ]
    for s in sections:
        lines.extend(t.row() for t in s.targets)
    lines.append("")
    if MISSES.exists() and not quick:
        # Why the targets this suite misses are missed: written by hand (bench/MISSES.md) from the
        # profiles below, and kept beside the figures it explains.
        lines += [MISSES.read_text().rstrip(), ""]
    for s in sections:
        lines.append(s.markdown())
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds: checks the harness, measures nothing")
    p.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    p.add_argument("--skip", default="", help="comma-separated sections to leave out")
    p.add_argument("--output", default=None, help=f"where to write the Markdown (default {RESULTS.relative_to(ROOT)}; '-' for none)")
    p.add_argument("--baseline", default=None, help="git revision measured side by side in the decision section "
                   "(default: bench/sections.py BASELINE, the tree the latest hot-path work started from; 'none' to skip)")
    args = p.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else SECTIONS) if n]
    skip = {n for n in args.skip.split(",") if n}
    for n in [*names, *skip]:
        if n not in SECTIONS:
            p.error(f"unknown section {n!r} (one of {', '.join(SECTIONS)})")
    started = time.monotonic()
    info = machine.describe()
    print("machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), file=sys.stderr, flush=True)
    sections: list[Section] = []
    for name in names:
        if name in skip:
            continue
        t0 = time.monotonic()
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        try:
            s = _section(name, args.quick, args)
        except Exception as exc:  # one broken section must not lose the others' figures
            traceback.print_exc()
            s = Section(name, [f"This section failed: `{type(exc).__name__}: {exc}`."],
                        [Target(f"{name}: the section ran", "failed", "runs", False, str(exc)[:120])])
        s.seconds = time.monotonic() - t0
        print(f"bench: {name} done in {s.seconds:.0f} s", file=sys.stderr, flush=True)
        sections.append(s)
    text = render(sections, info, started, args.quick)
    out(text)
    dest = args.output if args.output is not None else (None if args.quick else str(RESULTS))
    if dest and dest != "-":
        Path(dest).write_text(text, encoding="utf-8")
        print(f"bench: wrote {dest}", file=sys.stderr)
    failed = [t for s in sections for t in s.targets if t.ok is False and t.name.endswith("the section ran")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
