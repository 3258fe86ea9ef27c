"""Structured logs: one JSON object per line, through stdlib ``logging``.

Every decision is one line on the ``tell.decision`` logger (see :func:`decision_fields` for what it
carries). Other Tell messages (``tell``, ``tell.signatures``, …) go through the same formatter.

What never goes into a log line: the telemetry body, tokens, cookies, passwords, the admin token
or signing keys. Decision lines are built from an allow-list of fields, not from the request; and
as defence in depth :class:`Redact` replaces any configured secret, bearer credential or
Tell token (``v1.<kid>.<claims>.<mac>``) that slips into a message.
"""
from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
from typing import Any, Iterable, TextIO

import orjson

from edge.decision import Decision

DECISION_LOGGER = "tell.decision"
LEVELS = ("debug", "info", "warning", "error", "critical")

# A Tell token, a bearer credential, or a cookie header's values: never in a log line.
_PATTERNS = (
    (re.compile(r"\bv1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"), "***"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s,;\"']+"), r"\1 ***"),
    (re.compile(r"(?i)\b(tell_admin|tell_sid|tell_token|password)=[^\s,;\"'&]+"), r"\1=***"),
)
# Cheap first look: a line none of whose strings contains one of these needs no substitution, and
# most lines (every decision line) have none, so the patterns above run only when one might match.
_MAYBE = re.compile(r"v1\.|(?i:bearer|tell_admin=|tell_sid=|tell_token=|password=)")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def decision_fields(d: Decision, latency_ms: float | None = None) -> dict[str, Any]:
    """The allow-list of what a decision line says. Nothing from the request body or headers."""
    return {
        "request_id": d.request_id,
        "action": d.action,
        "account": d.account_id,
        "decision": d.decision.value,
        "score": round(d.score, 4),
        "rules": [h.id for h in d.rules],
        "families": list(d.families),
        "reasons": list(d.reasons),
        "set_version": d.set_version,
        "enforcement": d.enforcement.value,
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
    }


class Redact(logging.Filter):
    """Replace secrets in the rendered message (and string extras) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        # Short values would redact ordinary words; real secrets are long.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        if _MAYBE.search(text) is None:
            return text
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        for k, v in list(vars(record).items()):
            if k not in _STANDARD and isinstance(v, str):
                setattr(record, k, self.scrub(v))
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extras}`` on one line; extras are the ``extra=`` keys."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime a second, not one per decision line
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and k not in out:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(out, default=str).decode()
        except TypeError:  # an extra orjson cannot take (an int past 64 bits, a non-string key)
            import json

            return json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))


_HANDLER_NAME = "tell-json"


def configure(level: str = "info", destination: str = "stderr", *, secrets: Iterable[str] = (),
              stream: TextIO | None = None) -> logging.Handler:
    """Send the ``tell`` loggers to ``destination`` (``stderr``, ``stdout`` or a file path) as JSON
    lines at ``level``. Idempotent: a previous Tell handler is replaced. Returns the handler."""
    if level.lower() not in LEVELS:
        raise ValueError(f"log.level: one of {', '.join(LEVELS)}")
    if stream is not None:
        handler: logging.Handler = logging.StreamHandler(stream)
    elif destination in ("stderr", ""):
        handler = logging.StreamHandler(sys.stderr)
    elif destination == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    else:
        # Watched: logrotate may move the file away; the handler reopens it instead of writing
        # into the rotated one forever.
        handler = logging.handlers.WatchedFileHandler(destination, encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Redact(secrets))
    root = logging.getLogger("tell")
    unconfigure()
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    return handler


def unconfigure() -> None:
    """Remove Tell's handler (tests; reconfiguration)."""
    root = logging.getLogger("tell")
    for h in list(root.handlers):
        if h.get_name() == _HANDLER_NAME:
            root.removeHandler(h)
            h.close()
    root.propagate = True


def configure_from(config: Any) -> logging.Handler:
    """``configure`` from a :class:`edge.config.Config`: its ``[log]`` section and its secrets."""
    secrets = [config.admin_token, *config.tokens.keys.values()]
    return configure(config.log.level, config.log.destination, secrets=secrets)


def log_decision(d: Decision, latency_ms: float | None = None) -> None:
    logger = logging.getLogger(DECISION_LOGGER)
    if logger.isEnabledFor(logging.INFO):
        logger.info("decision", extra=decision_fields(d, latency_ms))
