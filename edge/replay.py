"""Offline tools over recorded traffic: ``tell replay`` and ``tell decisions``.

``tell replay FILE|DIR…`` runs recorded telemetry (``*.msgpack``, the bodies the collector POSTs to
``/edge/telemetry``; directories are searched recursively) through a signature set — the
configured one, or a candidate with ``--signatures DIR`` — and summarises what Tell would decide:
files, allow/challenge/block counts, top rules, and every file it could not read, with the error.
A ``<name>.headers.json`` beside a payload (as ``tell simulate`` and the fixture recorder write
them) supplies the HTTP headers the server saw; the action comes from ``--action`` or else from the
file name (``…-register.msgpack``), defaulting to ``post``.

``tell decisions --since 1h`` prints the most recent decisions from the configured store.

The progress bar is twenty lines here rather than a dependency: it only has to draw one line on a
terminal, and stays silent when stderr is not one (CI logs, pipes).
"""
from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TextIO

from edge.decision import ACTIONS, Decision

OUTCOMES = ("allow", "challenge", "block")


@dataclass(frozen=True, slots=True)
class BadFile:
    path: str
    error: str


@dataclass
class ReplaySummary:
    set_version: str
    files: int = 0
    verdicts: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    families: Counter = field(default_factory=Counter)
    bad: list[BadFile] = field(default_factory=list)
    test_rules: set[str] = field(default_factory=set)  # status "test": recorded, not acted on
    decisions: list[tuple[str, Decision]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "set_version": self.set_version,
            "files": self.files,
            "decided": sum(self.verdicts.values()),
            "decisions": {k: self.verdicts[k] for k in OUTCOMES},
            "rules": dict(self.rules.most_common()),
            "families": dict(self.families.most_common()),
            "bad_files": [{"path": b.path, "error": b.error} for b in self.bad],
            "results": [{"path": p, "decision": d.decision.value, "score": round(d.score, 4), "action": d.action,
                         "rules": [h.id for h in d.rules]} for p, d in self.decisions],
        }


def find_payloads(paths: Iterable[str | Path]) -> tuple[list[Path], list[BadFile]]:
    """Files to replay, in a stable order; paths that do not exist are reported, not raised."""
    files: list[Path] = []
    missing: list[BadFile] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*.msgpack") if f.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            missing.append(BadFile(str(p), "no such file or directory"))
    return files, missing


_ACTION_IN_NAME = re.compile(r"-(%s)$" % "|".join(ACTIONS))


def action_for(path: Path, default: str | None) -> str:
    if default:
        return default
    m = _ACTION_IN_NAME.search(path.stem)
    return m.group(1) if m else "post"


def _request(path: Path):
    from fingerprints import RequestInfo

    headers = path.with_suffix(".headers.json")
    if not headers.exists():
        return None
    data = json.loads(headers.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{headers.name}: expected a JSON object of headers")
    return RequestInfo.from_headers("POST", "/edge/telemetry", {str(k): str(v) for k, v in data.items()})


def replay(files: Sequence[Path], engine: Any, *, action: str | None = None,
           progress: Callable[[int], None] | None = None) -> ReplaySummary:
    """Decide every file with ``engine`` (an :class:`edge.engine.Engine`); never stops at a bad file."""
    from edge.telemetry import TelemetryError, decode

    summary = ReplaySummary(set_version=engine.signatures.version, files=len(files))
    for i, path in enumerate(files, 1):
        try:
            payload = decode(path.read_bytes())
            d = engine.decide_payload(payload, action_for(path, action), _request(path))
        except TelemetryError as exc:
            summary.bad.append(BadFile(str(path), f"bad telemetry at {exc.field}: {exc.detail}"))
        except (OSError, ValueError) as exc:
            summary.bad.append(BadFile(str(path), str(exc) or type(exc).__name__))
        else:
            summary.decisions.append((str(path), d))
            summary.verdicts[d.decision.value] += 1
            summary.rules.update(h.id for h in d.rules)
            summary.test_rules.update(h.id for h in d.rules if h.status == "test")
            summary.families.update(d.families)
        if progress is not None:
            progress(i)
    return summary


class ProgressBar:
    """``[#####·····]  412/1000  41%  3.2 s`` on one terminal line; nothing when not a terminal."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, *, force: bool = False, width: int = 30):
        self.total, self.stream, self.width = total, stream, width
        self.enabled = total > 0 and (force or (hasattr(stream, "isatty") and stream.isatty()))
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (done < self.total and now - self._last < 0.1):
            return  # at most ten redraws a second
        self._last = now
        filled = self.width * done // self.total
        self.stream.write(f"\r[{'#' * filled}{'·' * (self.width - filled)}] {done:>{len(str(self.total))}}/{self.total} "
                          f"{100 * done // self.total:3d}%  {now - self.started:.1f} s")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def render_summary(s: ReplaySummary, top: int = 10) -> str:
    decided = sum(s.verdicts.values())
    lines = [f"signature set {s.set_version}: {s.files} file(s), {decided} decided, {len(s.bad)} unreadable", ""]
    lines.append(f"{'decision':<12}{'count':>8}{'share':>9}")
    for k in OUTCOMES:
        share = f"{100 * s.verdicts[k] / decided:.1f}%" if decided else "—"
        lines.append(f"{k:<12}{s.verdicts[k]:>8}{share:>9}")
    if s.rules:
        named = [(r + (" (test)" if r in s.test_rules else ""), n) for r, n in s.rules.most_common(top)]
        width = max(len(r) for r, _ in named)
        lines += ["", f"{'top rules':<{width}}  {'files':>6}"]
        lines += [f"{r:<{width}}  {n:>6}" for r, n in named]
    if s.bad:
        lines += ["", "unreadable files:"]
        lines += [f"  {b.path}: {b.error}" for b in s.bad]
    return "\n".join(lines)


# --- tell decisions ----------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``2d``, ``1w`` (a bare number is seconds) → seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"--since: {text!r} is not a duration like 30m, 1h or 2d")
    return float(m.group(1)) * _UNIT[m.group(2) or "s"]


def render_decisions(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "no decisions in that window"
    out = [f"{'time (UTC)':<20} {'decision':<10} {'action':<9} {'score':>5}  {'account':<24} rules"]
    for d in rows:
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(d.get("ts", 0)))
        acct = (d.get("account_id") or "—")
        acct = acct if len(acct) <= 24 else acct[:23] + "…"
        # repr-free but control-character-free: an account id must not move the terminal cursor.
        acct = "".join(c if c.isprintable() else "?" for c in acct)
        rules = ",".join(r["id"] for r in d.get("rules", ())) or "—"
        out.append(f"{ts:<20} {d.get('decision', ''):<10} {d.get('action', ''):<9} {float(d.get('score', 0)):>5.2f}  {acct:<24} {rules}")
    return "\n".join(out)


async def recent_decisions(store_url: str, since_s: float, limit: int, policy: Any = None) -> list[dict[str, Any]]:
    from edge.store import open_store

    store = open_store(store_url, **({"policy": policy} if policy is not None else {}))
    try:
        return await store.decisions(limit=limit, since=time.time() - since_s)
    finally:
        await store.close()
