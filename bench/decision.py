"""The in-process decision: msgpack body → decode and validate → features → signatures and behaviour
→ the policy's verdict, exactly what the service runs for a telemetry post and the write after it
(``tm.decode``, ``Engine.assess`` with the telemetry request, ``Engine.decide`` with the write
request), without HTTP, tokens or the store.

Each payload is timed on its own (``perf_counter_ns`` around one decision); payloads are visited in a
fresh shuffled order every round, after one warm-up round. The garbage collector stays on, as in the
service, so p99 includes its pauses.

Also a subprocess entry point, so that another checkout of the code (``--tree``: a baseline
revision) can be measured on the same payloads in the same run::

    python bench/decision.py --tree DIR --samples FILE.msgpack --runs N
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

CLIENT_IP = "203.0.113.7"


@dataclass(frozen=True, slots=True)
class Dist:
    """A latency distribution in microseconds."""

    n: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, ns: Sequence[int]) -> "Dist":
        s = sorted(ns)
        n = len(s)

        def q(p: float) -> float:
            return s[min(n - 1, int(p * n))] / 1000.0

        return cls(n, q(0.50), q(0.90), q(0.99), s[-1] / 1000.0)

    def to_json(self) -> dict[str, float]:
        return {"n": self.n, "p50_us": self.p50, "p90_us": self.p90, "p99_us": self.p99, "max_us": self.max}


def make_engine(signatures: Any = None):
    from edge.config import load_config
    from edge.engine import Engine
    from signatures import SHIPPED, SignatureSet

    sigset = signatures if isinstance(signatures, SignatureSet) else SignatureSet.load(signatures or SHIPPED)
    return Engine(load_config(env={}), sigset)


def prepared(samples: Sequence[Any]) -> list[tuple[bytes, Any, Any]]:
    """(body, telemetry request, write request) per sample; built outside the timed section."""
    from fingerprints import RequestInfo

    out = []
    for s in samples:
        headers = dict(s.headers) if isinstance(s.headers, dict) else s.headers
        write_headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        write_headers["content-type"] = "application/x-www-form-urlencoded"
        out.append((s.body, RequestInfo.from_headers("POST", "/edge/telemetry", headers, CLIENT_IP),
                    RequestInfo.from_headers("POST", "/post", write_headers, CLIENT_IP)))
    return out


def decision_fn(engine) -> Callable[[bytes, Any, Any], Any]:
    from edge import telemetry as tm

    decode, assess, decide = tm.decode, engine.assess, engine.decide

    def one(body: bytes, ingest_info: Any, write_info: Any) -> Any:
        return decide("post", assess(decode(body), ingest_info), request=write_info)

    return one


def time_calls(fn: Callable[..., Any], args: list[tuple], rounds: int, seed: int = 1) -> list[list[int]]:
    """Nanoseconds per call, one list per argument tuple: ``rounds`` passes over ``args`` in a
    fresh shuffled order each, after one warm-up pass."""
    rng = random.Random(seed)
    clock = time.perf_counter_ns
    for a in args:
        fn(*a)
    out: list[list[int]] = [[] for _ in args]
    order = list(range(len(args)))
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order:
            a = args[i]
            t0 = clock()
            fn(*a)
            out[i].append(clock() - t0)
    return out


def flat(per_arg: list[list[int]]) -> list[int]:
    return [x for xs in per_arg for x in xs]


def stages(engine, samples: Sequence[Any], rounds: int) -> dict[str, float]:
    """p50 (µs) of each stage on its own: decode, feature extraction, signature match, behaviour
    score, the policy's decision (with the write request's own features)."""
    from edge import telemetry as tm
    from edge.engine import _behaviour
    from fingerprints import extract

    args = prepared(samples)
    decoded = [(tm.decode(b), i, w) for b, i, w in args]
    feats = [(extract(t, i),) for t, i, _ in decoded]
    assessed = [(engine.assess(t, i), w) for t, i, w in decoded]
    sigset = engine.signatures
    out = {}
    for name, fn, a in (
        ("decode + validate", tm.decode, [(b,) for b, _, _ in args]),
        ("features (extract)", lambda t, i: extract(t, i), [(t, i) for t, i, _ in decoded]),
        ("signatures (match)", sigset.match, feats),
        ("behaviour score", _behaviour, feats),
        ("policy (decide, with the write's request)", lambda a, w: engine.decide("post", a, request=w), assessed),
    ):
        out[name] = Dist.of(flat(time_calls(fn, a, rounds))).p50
    return out


def run(samples: Sequence[Any], rounds: int, signatures: Any = None, gc_seen: "GCTime | None" = None) -> list[list[int]]:
    """Nanoseconds per decision, one list per sample; ``gc_seen`` counts the garbage collections
    that ran meanwhile."""
    engine = make_engine(signatures)
    fn, args = decision_fn(engine), prepared(samples)
    if gc_seen is None:
        return time_calls(fn, args, rounds)
    with gc_seen:
        return time_calls(fn, args, rounds)


class GCTime:
    """Collections of each generation and the time spent in them while the block runs
    (``gc.callbacks``): the collector stays on, this only watches it."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.ns = [0, 0, 0]
        self._t0 = 0

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        else:
            g = info["generation"]
            self.count[g] += 1
            self.ns[g] += time.perf_counter_ns() - self._t0

    def __enter__(self) -> "GCTime":
        import gc

        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self._cb)


# --- subprocess mode: another checkout, the same payloads ----------------------------------------

@dataclass(frozen=True, slots=True)
class _Raw:
    body: bytes
    headers: dict[str, str]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/decision.py")
    p.add_argument("--tree", required=True, help="a checkout whose edge/, fingerprints/, signatures/ are measured")
    p.add_argument("--samples", required=True, help="msgpack file: {size: [[body, headers], ...]}")
    p.add_argument("--rounds", type=int, required=True, help="passes over each size's payloads")
    args = p.parse_args(argv)
    sys.path.insert(0, args.tree)
    import msgpack

    with open(args.samples, "rb") as fh:
        sets = msgpack.unpackb(fh.read(), raw=False, strict_map_key=False)
    engine = make_engine()
    one = decision_fn(engine)
    out = {}
    for size, items in sets.items():
        samples = [_Raw(b, h) for b, h in items]
        out[str(size)] = Dist.of(flat(time_calls(one, prepared(samples), args.rounds))).to_json()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
