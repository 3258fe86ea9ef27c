"""The feature record, pinned: the same values as the implementation recorded in
``tests/testdata/features_reference.json.gz``, on the recorded tool fixtures (those there when it was
recorded; probe features aside, fingerprints/probes.py pins those), on recorded humans and on
seeded random event streams that go where the recordings do not (ties in time, right and middle
presses, drags, releases before any press, touch-emulated clicks, IME compositions, odd fields).

The reference was recorded by the implementation before the hot-path rework (revision 4da9e20) with
``python tests/test_features_reference.py --record``, and recorded again when the keydown → insertText
lag features were added (only those names and the fixtures recorded since were new; every value
already pinned was unchanged). A faster decoder or feature pass must give the
same record: integers, booleans and the set of names exactly, floats to 1e-9 (relative for large
values). When a feature is changed *on purpose*, record again and say so in the commit.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # (for --record, run as a script)
    sys.path.insert(0, str(ROOT))

from edge import telemetry as tm  # noqa: E402
from fingerprints import extract  # noqa: E402
from fingerprints.timing import timing_features  # noqa: E402

REFERENCE = Path(__file__).parent / "testdata" / "features_reference.json.gz"
FIXTURES = ROOT / "signatures" / "sets" / "fixtures"
HUMAN_ROOT = Path(os.environ.get("TELL_HUMAN_CORPUS", "/work/shared/data/human"))
HUMANS = 300  # of each cut: whole sentences and 20 s windows, 10-key fields and 3 s windows
STREAMS = 600
SEED = 20261124


# --- seeded random event streams --------------------------------------------------------------------

def random_stream(rng: random.Random, n: int) -> list[list]:
    """``n`` valid events of mixed kinds: mostly plausible, with the corner cases the recordings lack."""
    weights = {"mm": 30, "md": 3, "mu": 3, "ck": 3, "pd": 2, "kd": 12, "ku": 12, "in": 8, "cs": 1, "ce": 1, "pa": 1,
               "fo": 1, "bl": 1, "sc": 2, "ts": 1, "tm": 1, "te": 1, "su": 1}
    mode = rng.random()
    if mode < 0.2:  # pointer only
        weights = {"mm": 50, "md": 5, "mu": 5, "ck": 4, "pd": 2}
    elif mode < 0.4:  # keys only
        weights = {"kd": 20, "ku": 20, "in": 10, "fo": 1, "cs": 1, "ce": 1, "su": 1}
    elif mode < 0.5:  # touch, with emulated mouse presses
        weights = {"ts": 5, "tm": 10, "te": 5, "md": 2, "mu": 2, "ck": 2, "pd": 3, "kd": 3, "ku": 3, "in": 3}
    kinds, w = list(weights), list(weights.values())
    t = rng.choice([0.0, round(rng.uniform(0, 5000), 1)])
    x, y = rng.uniform(0, 1000), rng.uniform(0, 800)
    held: list[str] = []
    ev: list[list] = []
    for _ in range(n):
        k = rng.choices(kinds, w)[0]
        r = rng.random()
        dt = 0.0 if r < 0.08 else rng.choice([16.7, 16.6, 8.0, 1.0, 0.5]) if r < 0.5 else \
            rng.expovariate(1 / 60) if r < 0.95 else rng.uniform(100, 3000)
        t = round(t + dt, 1) if rng.random() < 0.9 else t + dt
        trusted = 1 if rng.random() < 0.95 else 0
        if k == "mm":
            if rng.random() < 0.85:
                x += rng.gauss(0, 8) if rng.random() < 0.8 else rng.gauss(0, 120)
                y += rng.gauss(0, 8) if rng.random() < 0.8 else rng.gauss(0, 120)
            xx, yy = round(x, rng.choice([0, 1])), round(y, rng.choice([0, 1]))
            if rng.random() < 0.3:
                xx, yy = int(xx), int(yy)
            mx = 0 if rng.random() < 0.3 else round(rng.gauss(0, 5))
            my = 0 if rng.random() < 0.3 else round(rng.gauss(0, 5))
            e = ["mm", t, trusted, xx, yy, mx, my, xx, yy + 100]
        elif k == "md":
            ox = rng.choice([0, 0.5, 1, -1, 1.5, rng.uniform(-50, 50)])
            oy = rng.choice([0, 0.5, -1, rng.uniform(-20, 20)])
            if rng.random() < 0.5:
                x, y = x + rng.uniform(-60, 60), y + rng.uniform(-60, 60)
            e = ["md", t, trusted, round(x, 1), round(y, 1), rng.choice([0, 0, 0, 0, 1, 2]), ox, oy,
                 rng.choice([0, 0, 5, 10, 20, 100, 300]), rng.choice([0, 5, 10, 20, 40])]
        elif k == "mu":
            e = ["mu", t, trusted, round(x, 1), round(y, 1), rng.choice([0, 0, 0, 1, 2])]
        elif k == "ck":
            e = ["ck", t, trusted, round(x, 1), round(y, 1), rng.choice([0, 1, 1, 2])]
        elif k == "pd":
            e = ["pd", t, trusted, round(x, 1), round(y, 1), rng.choice(["mouse", "mouse", "touch", "pen"]),
                 rng.choice([0, 0.5, 0.5, 1]), rng.choice([1, 20]), rng.choice([1, 20]), rng.choice([0, 1, 1, 2])]
        elif k in ("kd", "ku"):
            c = rng.choice("ldsbetmnpo") if rng.random() < 0.4 else rng.choice("lllldsbo")
            if k == "kd":
                held.append(c)
            elif held and rng.random() < 0.8:
                c = held.pop(rng.randrange(len(held)))
            e = [k, t, trusted, c, int(rng.random() < 0.1), int(rng.random() < 0.05), int(rng.random() < 0.05)]
        elif k == "in":
            kind = rng.choice(["insertText", "insertText", "insertText", "deleteContentBackward", "insertFromPaste",
                               "insertCompositionText", ""])
            n_data = rng.choice([0, 1, 1, 1, 2, 5, 30])
            e = ["in", t, trusted, kind, n_data, rng.choice([n_data, n_data + 3, rng.randint(0, 50)]), rng.choice([0, 0, 1, 2])]
        elif k == "cs":
            e = ["cs", t, trusted]
        elif k in ("ce", "pa", "fo", "bl", "sc", "su"):
            e = [k, t, trusted, rng.choice([0, 1, 2, 5, 12, 100, 3.5])]
        elif k == "ts":
            e = ["ts", t, trusted, round(x, 1), round(y, 1), rng.choice([0, 5, 11.5, 20]), rng.choice([0, 0.5, 1])]
        else:
            e = [k, t, trusted, round(x, 1), round(y, 1)]
        ev.append(e)
    return ev


def random_streams() -> list[list[list]]:
    """The streams, valid ones only (an unrounded time can make the next rounded one go backwards)."""
    rng = random.Random(SEED)
    out = []
    while len(out) < STREAMS:
        ev = random_stream(rng, rng.choice([1, 2, 3, 5, 8, 13, 30, 60, 150, 400]))
        try:
            tm.validate({"v": 1, "events": ev})
        except tm.TelemetryError:
            continue
        out.append(ev)
    return out


def _digest(streams: list) -> str:
    return hashlib.sha256(json.dumps(streams).encode()).hexdigest()


# --- the records ------------------------------------------------------------------------------------

def fixture_records() -> dict[str, dict[str, Any]]:
    return {p.name: extract(tm.decode(p.read_bytes())) for p in sorted(FIXTURES.glob("*.msgpack"))}


def human_records() -> dict[str, dict[str, Any]]:
    from itertools import islice

    from fingerprints.corpus import iter_corpus

    out = {}
    for cut, kw in (("whole", {}), ("short", {"keys_per_field": 10, "mouse_window_ms": 3000})):
        for root in ("aalto-keystrokes", "sapimouse"):
            for i, t in enumerate(islice(iter_corpus(HUMAN_ROOT / root, **kw), HUMANS // 2)):
                out[f"{cut}/{root}/{i}"] = timing_features(tm.decode(tm.encode(t))["events"])
    return out


def stream_records(streams: list) -> list[dict[str, Any]]:
    return [timing_features(tm.decode(tm.encode({"v": 1, "events": ev}))["events"]) for ev in streams]


def _reference() -> dict[str, Any]:
    with gzip.open(REFERENCE, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if type(a) is not type(b):
            return False
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return type(a) is type(b) and a == b


def _differences(want: dict[str, Any], got: dict[str, Any]) -> dict[str, tuple]:
    return {k: (want.get(k, "absent"), got.get(k, "absent")) for k in sorted(set(want) | set(got))
            if k not in want or k not in got or not _same(want[k], got[k])}


def _check(want: dict[str, dict], got: dict[str, dict]) -> None:
    assert want.keys() == got.keys()
    bad = {name: d for name in want if (d := _differences(want[name], got[name]))}
    assert not bad, f"{len(bad)} of {len(want)} records differ, e.g. {dict(list(bad.items())[:3])}"


# --- tests ------------------------------------------------------------------------------------------

def _without_probes(record: dict[str, Any]) -> dict[str, Any]:
    """The probes' features are fingerprints/probes.py's, pinned by its own tests."""
    return {k: v for k, v in record.items() if not k.startswith("probe_")}


def test_every_recorded_tool_fixture_gives_the_reference_record():
    want = _reference()["fixtures"]
    got = fixture_records()
    assert len(set(want) & set(got)) >= 60  # fixtures added since are not in the reference
    _check({k: _without_probes(want[k]) for k in want if k in got}, {k: _without_probes(got[k]) for k in want if k in got})


@pytest.mark.skipif(not HUMAN_ROOT.is_dir(), reason=f"human corpus not found at {HUMAN_ROOT}")
def test_recorded_humans_give_the_reference_timing_features():
    _check(_reference()["humans"], human_records())


def test_random_streams_give_the_reference_timing_features():
    ref = _reference()
    streams = random_streams()
    assert _digest(streams) == ref["streams_sha256"], "the stream generator changed: record the reference again"
    got = stream_records(streams)
    _check({str(i): r for i, r in enumerate(ref["streams"])}, {str(i): r for i, r in enumerate(got)})


def test_a_plain_list_gives_the_same_features_as_the_decoded_events():
    """timing_features on events that did not come through the decoder (tests, the corpus replay)."""
    for ev in random_streams()[:200]:
        decoded = tm.decode(tm.encode({"v": 1, "events": ev}))["events"]
        assert not _differences(timing_features(decoded), timing_features([list(e) for e in ev]))


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    streams = random_streams()
    data = {"fixtures": fixture_records(), "humans": human_records(), "streams_sha256": _digest(streams),
            "streams": stream_records(streams)}
    with gzip.open(REFERENCE, "wt", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True)
    print(f"recorded {REFERENCE}: {len(data['fixtures'])} fixtures, {len(data['humans'])} humans, {len(streams)} streams")
