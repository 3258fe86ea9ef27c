"""Typed application keys: the state every part of the service shares."""
from __future__ import annotations

from aiohttp import web

from edge.config import Config
from edge.store import Store

CONFIG = web.AppKey("tell_config", Config)
STORE = web.AppKey("tell_store", Store)

# The decision for the current protected write, for the handler behind ``edge.guard``.
from edge.decision import Decision  # noqa: E402

DECISION = web.RequestKey("tell_decision", Decision)
