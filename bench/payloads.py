"""Recorded telemetry for the benchmarks, and longer payloads built from it.

Two pools, both recorded, never invented:

* **tools**: every ``signatures/sets/fixtures/*.msgpack`` — bodies saved from real tool runs against
  the demo (Playwright, Puppeteer, Selenium, nodriver, …), with the request headers saved beside
  them (``*.headers.json``);
* **humans**: the shared corpus of recorded people (``../shared/data/human``), converted by
  ``fingerprints.corpus.iter_corpus``: typed sentences (Aalto) and 20-second mouse windows
  (SapiMouse).

The recordings are 9 to 1,500 events long. **Payloads of a given size** are built by concatenating
whole event streams from one pool: the pool is shuffled (seeded), each stream's timestamps are
shifted so that its first event comes ``GAP_MS`` after the previous stream's last one (so every
interval inside a stream is unchanged), streams are appended until there are at least ``n`` events,
and the newest ``n`` are kept — as the collector keeps its newest 1,500. Device, markers, probes and
fields come from the last stream appended (the one the newest events belong to). The human pool
alternates a mouse window and a typed sentence, so a human payload has both.
"""
from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import telemetry as tm

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "signatures" / "sets" / "fixtures"
HUMAN_CORPUS = ROOT.parent / "shared" / "data" / "human"
GAP_MS = 1500.0
"""Time between two concatenated streams: a pause between fields or pages, not a rhythm."""

# What the desktop Chrome of fingerprints.corpus.DESKTOP_DEVICE sends with a same-origin fetch: the
# corpus records no request, so the human payloads get these.
HUMAN_HEADERS: dict[str, str] = {
    "user-agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/124.0.0.0 Safari/537.36"),
    "accept": "*/*",
    "accept-language": "en-US,en;q=0.9",
    "accept-encoding": "gzip, deflate, br, zstd",
    "content-type": "application/msgpack",
    "origin": "https://social.example",
    "referer": "https://social.example/post",
    "sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    telemetry: dict[str, Any]
    headers: dict[str, str]
    human: bool
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Sample:
    """One payload as the service receives it: the msgpack body and the request's headers."""

    name: str
    body: bytes
    headers: dict[str, str]
    events: int
    human: bool


def tool_recordings(fixtures: Path = FIXTURES) -> list[Recording]:
    out = []
    for p in sorted(fixtures.glob("*.msgpack")):
        h = p.with_suffix(".headers.json")
        headers = json.loads(h.read_text(encoding="utf-8")) if h.exists() else dict(HUMAN_HEADERS)
        body = p.read_bytes()
        out.append(Recording(p.stem, tm.decode(body), headers, human=False, body=body))
    return out


def human_recordings(root: Path = HUMAN_CORPUS, *, sentences: int = 120, windows: int = 24) -> list[Recording]:
    """The first ``sentences`` typed sentences and ``windows`` mouse windows of the corpus (sorted
    path order, so the same ones on every run). Empty when the corpus is not there."""
    from fingerprints.corpus import iter_corpus

    root = Path(root)
    if not root.is_dir():
        return []
    keys = list(itertools.islice(iter_corpus(root / "aalto-keystrokes"), sentences))
    mouse = list(itertools.islice(iter_corpus(root / "sapimouse"), windows))
    return ([Recording(f"aalto-{i}", t, dict(HUMAN_HEADERS), True) for i, t in enumerate(keys)]
            + [Recording(f"sapimouse-{i}", t, dict(HUMAN_HEADERS), True) for i, t in enumerate(mouse)])


def concatenate(streams: list[Recording], n: int, gap_ms: float = GAP_MS) -> tuple[dict[str, Any], Recording]:
    """The newest ``n`` events of ``streams`` played one after another (see the module docstring),
    and the recording the newest events belong to."""
    events: list[list] = []
    last = streams[0]
    end = 0.0
    for rec in streams:
        ev = rec.telemetry.get("events") or []
        if not ev:
            continue
        shift = end + gap_ms - ev[0][1] if events else 0.0
        events.extend([e[0], round(e[1] + shift, 1), *e[2:]] for e in ev)
        end = events[-1][1]
        last = rec
        if len(events) >= n:
            break
    if len(events) < n:
        raise ValueError(f"the pool holds only {len(events)} events, fewer than {n}")
    events = events[-n:]
    t = last.telemetry
    payload = {**t, "events": events, "dropped": 0, "sent_ms": round(events[-1][1] + 50.0, 1),
               "fields": t.get("fields", [])}
    return payload, last


def _human_order(pool: list[Recording], rng: random.Random) -> list[Recording]:
    keys = [r for r in pool if r.name.startswith("aalto")]
    mouse = [r for r in pool if not r.name.startswith("aalto")]
    rng.shuffle(keys)
    rng.shuffle(mouse)
    out = []
    for m, k in itertools.zip_longest(itertools.cycle(mouse) if mouse else [], keys):
        if k is None:
            break
        out += [m, k] if m is not None else [k]
    return out


def sized(n: int, tools: list[Recording], humans: list[Recording], *, count: int = 16, seed: int = 9) -> list[Sample]:
    """``count`` payloads of exactly ``n`` events, half from each pool (all tools when there are
    no humans)."""
    rng = random.Random(seed * 100_003 + n)
    out = []
    for i in range(count):
        human = bool(humans) and i % 2 == 1
        if human:
            order = _human_order(humans, rng)
        else:
            order = tools[:]
            rng.shuffle(order)
        order = order * (1 + n // max(1, sum(len(r.telemetry.get("events") or []) for r in order)))
        payload, last = concatenate(order, n)
        body = tm.encode(payload)
        tm.decode(body)  # it must be valid telemetry, as the service would see it
        out.append(Sample(f"{'human' if human else 'tools'}-{n}-{i}", body, dict(last.headers), n, human))
    return out


def recorded(tools: list[Recording]) -> list[Sample]:
    """The tool fixtures as recorded (for the ingest benchmark)."""
    return [Sample(r.name, r.body, r.headers, len(r.telemetry.get("events") or []), False) for r in tools]
