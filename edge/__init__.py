"""Tell's edge service: the collector, the sidecar API, the aiohttp middleware and the demo site.

``edge.setup``, ``edge.guard`` and ``edge.load_config`` are the embedding API. They are imported
lazily so that ``import signatures`` (which needs ``edge.decision``) never pulls in the whole
service and its import of ``signatures`` in turn.
"""
from typing import Any

__all__ = ["Config", "Decision", "Enforcement", "Verdict", "guard", "load_config", "setup"]

_LAZY = {
    "Config": "edge.config", "load_config": "edge.config",
    "Decision": "edge.decision", "Enforcement": "edge.decision", "Verdict": "edge.decision",
    "guard": "edge.middleware", "setup": "edge.service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
