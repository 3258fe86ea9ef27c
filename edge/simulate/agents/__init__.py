"""The agents ``tell simulate`` runs: one module each, named after what it imitates.

Each module holds an ``INFO`` (:class:`~edge.simulate.agents.base.AgentInfo`) and ``run(job)``; tools
are imported inside ``run``, so listing the agents needs none of them installed. ``NAMES`` is the
default order of the matrix: the human control first, then the tools from plainest to most careful.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from edge.simulate.agents.base import AgentInfo

NAMES: tuple[str, ...] = (
    "human_replay",
    "playwright_headless",
    "playwright_typed",
    "playwright_headful_xvfb",
    "playwright_stealth",
    "playwright_cjk_inserttext",
    "playwright_humanised",
    "selenium_chromedriver",
    "puppeteer_stealth",
    "cdp_direct",
    "cdp_direct_headful",
    "llm_agent_loop",
)


def module(name: str) -> ModuleType:
    if name not in NAMES:
        raise KeyError(f"unknown agent {name!r} (one of {', '.join(NAMES)})")
    return importlib.import_module(f"edge.simulate.agents.{name}")


def info(name: str) -> AgentInfo:
    return module(name).INFO


__all__ = ["NAMES", "AgentInfo", "info", "module"]
