"""Telemetry (+ the HTTP request) → one flat feature record.

``extract(telemetry, request)`` is pure and does no I/O. A feature whose data is missing is absent
from the record, never a made-up zero: rules that read it are skipped.
"""
from __future__ import annotations

from typing import Any

from fingerprints.device import device_features, marker_features
from fingerprints.probes import PROBE_FEATURES, probe_features
from fingerprints.request import RequestInfo, request_features

Features = dict[str, Any]

__all__ = ["Features", "RequestInfo", "extract", "extract_request"]


def extract(telemetry: dict[str, Any], request: RequestInfo | None = None) -> Features:
    from fingerprints.timing import timing_features

    dev = telemetry.get("device") or {}
    feats = device_features(dev)
    feats.update(marker_features(telemetry.get("markers") or {}, feats))
    feats["events_dropped"] = telemetry.get("dropped", 0)
    probes = telemetry.get("probes") or {}
    for name, value in probes.items():
        # A value of another type than the catalog's (a page can send anything) is no evidence:
        # the feature is absent, as if the probe had not run.
        if value is not None and _probe_type_ok(f"probe_{name}", value):
            feats[f"probe_{name}"] = value
    feats.update(probe_features(probes, dev))
    feats.update(timing_features(telemetry.get("events") or []))
    if request is not None:
        feats.update(request_features(request, dev.get("ua"), dev.get("languages")))
    return feats


_PROBE_TYPES = {"list": (list,), "bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


def _probe_type_ok(name: str, value: Any) -> bool:
    spec = PROBE_FEATURES.get(name)
    if spec is None:
        return True
    if isinstance(value, bool) and spec.type != "bool":
        return False
    return isinstance(value, _PROBE_TYPES.get(spec.type, (object,)))


def extract_request(request: RequestInfo) -> Features:
    """Features of a write request that came without telemetry (only what the server saw)."""
    return request_features(request, None, None)
