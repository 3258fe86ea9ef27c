"""Record signature fixtures from real tools: ``python -m e2e.tools.record NAME [NAME…]``.

Starts `tell demo` on loopback behind the recording proxy, runs each tool once through the register
flow, and writes the telemetry the page sent at the write as
``signatures/sets/fixtures/rec-<tool>-<version>-register.msgpack`` with a ``.json`` note (tool, version,
Chromium version, date, how) and a ``.headers.json`` (the HTTP headers of that telemetry POST).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import tempfile
from pathlib import Path

from e2e.servers import ADMIN_TOKEN, tell_process
from e2e.tools import browser_version
from e2e.tools.capture import RecordingProxy
from e2e.tools.run import ROOT, TOOLS, run_tool
from edge.simulate.process import running

FIXTURES = ROOT / "signatures" / "sets" / "fixtures"
# Tools whose artefact is reproduced (not the tool itself): the note says so.
SYNTHETIC = {
    "browser-use": "browser_use/dom/buildDomTree.js (highlight container, data-browser-use-* attributes); browser_use/browser/session.py click/type cadence",
    "playwright-mcp": "microsoft/playwright-mcp: Playwright's own injected script and aria snapshot (pw markers, fill, centre click)",
    "stagehand": "browserbase/stagehand: lib/dom (window.__stagehandV3Injected, attachShadow patch), 1288x711 default viewport",
    "skyvern": "Skyvern-AI/skyvern: skyvern/webeye/scraper/domUtils.js (unique_id attributes, window.GlobalSkyvernFrameIndex), handler.py fill (bulk then last 10 chars at 10 ms)",
    "nanobrowser": "nanobrowser/nanobrowser: chrome-extension/public/buildDomTree.js (#playwright-highlight-container), content script forcing open shadow roots, window.chrome = {runtime:{}}",
    "cjk-inserttext": "automation entering Chinese text with CDP Input.insertText (no IME composition); Chinese locale",
    "cjk-ime": "an IME's delivery of Chinese text (compositionstart/update/end around each word), sent with CDP Input.imeSetComposition; zh-CN locale",
    "go-rod": "go-rod/rod lib/devices/list.go (LaptopWithMDPIScreen: 1280x800, Macintosh Chrome/114 UA) and xpzouying/xiaohongshu-mcp (go-rod + stealth on Linux)",
    "computer-use-xdotool": "Anthropic computer-use-demo: computer.py (xdotool mousemove + click, type --delay 12 in 50-char chunks) on Xvfb 1024x768",
}


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", s.lower()).strip("-")


def record(name: str, out_dir: Path = FIXTURES, what: str = "register") -> Path:
    with tempfile.TemporaryDirectory() as tmp, tell_process("demo", Path(tmp)) as base, RecordingProxy(base) as proxy:
        result = run_tool(name, proxy.url, f"rec_{slug(name).replace('-', '_').replace('.', '_')}"[:30], timeout=120)
        recs = proxy.recorder.take()
    if not recs:
        raise RuntimeError(f"{name}: the page sent no telemetry")
    last = recs[-1]  # the one sent with the write
    version = slug(result.version.split(" + ")[0].split()[0]) if result.version else "x"
    stem = f"rec-{slug(name)}-{version}-{what}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.msgpack").write_bytes(last.body)
    keep = {k: v for k, v in last.headers.items() if k not in ("cookie", "host", "content-length")}
    (out_dir / f"{stem}.headers.json").write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n")
    note = {
        "tool": name, "tool_version": result.version, "chromium": browser_version(),
        "date": datetime.date.today().isoformat(),
        "how": (f"python -m e2e.tools.record {name}: e2e/tools/{TOOLS[name].split(':')[0]}.py drove the register flow of "
                f"`tell demo`; the body of the telemetry POST sent with the write, captured at a loopback proxy"),
        "decision_at_recording": result.decision, "families_at_recording": result.families,
    }
    if name in SYNTHETIC:
        note["synthetic"] = f"synthetic reproduction of {name} artefact per {SYNTHETIC[name]}"
    if result.note:
        note["note"] = result.note
    (out_dir / f"{stem}.json").write_text(json.dumps(note, indent=1) + "\n")
    return out_dir / f"{stem}.msgpack"


@contextlib.contextmanager
def seeded_demo(tmp: Path):
    """`tell demo` with one post on the board (edge.simulate.seeded_demo, as `tell simulate --demo` runs
    it): a tool whose own post is refused still has a post to comment on, so its comment is recorded."""
    env = {**os.environ, "TELL_ADMIN_TOKEN": ADMIN_TOKEN, "TELL_SECRET": "e2e-" + "x" * 28,
           "TELL_STORE": f"sqlite:///{tmp}/tell.sqlite3"}
    with running("edge.simulate.seeded_demo", env=env, log=tmp / "seeded-demo.log") as base:
        yield base


def record_flow(name: str, out_dir: Path = FIXTURES) -> list[Path]:
    """Like :func:`record`, for a tool that goes on past register (e2e/tools/unseen.py): one fixture
    per write — ``rec-<tool>-<version>-register|post|comment`` — each with the telemetry sent with it."""
    with tempfile.TemporaryDirectory() as tmp, seeded_demo(Path(tmp)) as base, RecordingProxy(base) as proxy:
        result = run_tool(name, proxy.url, f"rec_{slug(name).replace('-', '_').replace('.', '_')}"[:30], timeout=200)
        sent = proxy.recorder.take_by_write()
    by_action = {path.strip("/"): rec for path, rec in sent}  # /register, /post, /comment
    version = slug(result.version.split(" + ")[0].split()[0]) if result.version else "x"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for write in result.writes:
        action = write["action"]
        if action not in by_action:
            raise RuntimeError(f"{name}: no telemetry went with the {action} write")
        stem = f"rec-{slug(name)}-{version}-{action}"
        rec = by_action[action]
        (out_dir / f"{stem}.msgpack").write_bytes(rec.body)
        keep = {k: v for k, v in rec.headers.items() if k not in ("cookie", "host", "content-length")}
        (out_dir / f"{stem}.headers.json").write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n")
        note = {
            "tool": name, "tool_version": result.version, "chromium": browser_version(),
            "date": datetime.date.today().isoformat(),
            "how": (f"python -m e2e.tools.record --flow {name}: e2e/tools/{TOOLS[name].split(':')[0]}.py drove register → post → "
                    f"comment of `tell demo` (seeded with one post, edge.simulate.seeded_demo) with the tool's own API "
                    f"({result.note}); the body of the telemetry POST sent with the {action} write, captured at a loopback proxy"),
            "decision_at_recording": write["decision"], "families_at_recording": write["families"],
        }
        (out_dir / f"{stem}.json").write_text(json.dumps(note, indent=1, ensure_ascii=False) + "\n")
        paths.append(out_dir / f"{stem}.msgpack")
    return paths


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m e2e.tools.record")
    p.add_argument("names", nargs="+", choices=sorted(TOOLS))
    p.add_argument("--out", type=Path, default=FIXTURES)
    p.add_argument("--flow", action="store_true", help="register → post → comment, one fixture per write (e2e/tools/unseen.py)")
    args = p.parse_args()
    for name in args.names:
        for path in record_flow(name, args.out) if args.flow else [record(name, args.out)]:
            print(f"{name}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
