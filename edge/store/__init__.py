"""Storage behind one small interface: the decision ledger, enforcement, reports and token uses.

Two real backends: SQLite (embedded default) and Redis (a fleet of sidecars). ``open_store(url)``
picks one from its URL: ``sqlite:///path/to/file`` or ``redis://host:port/db``.
"""
from __future__ import annotations

import abc
from typing import Any

import orjson

from edge.decision import Decision, Enforcement


def dumps(obj: Any) -> str:
    """Compact JSON for what the stores keep (decision bodies, summaries, events)."""
    return orjson.dumps(obj).decode()


loads = orjson.loads


class StoreError(RuntimeError):
    """The backend could not be reached or refused an operation."""


class Store(abc.ABC):
    @abc.abstractmethod
    async def record(self, decision: Decision) -> Enforcement:
        """Append one decision to the ledger durably (acknowledged = on disk / in the server),
        update the account's enforcement from the policy, and return the account's enforcement
        after this decision. Decisions without an account id are recorded and return NONE."""

    @abc.abstractmethod
    async def enforcement(self, account_id: str) -> Enforcement:
        """The account's current enforcement (NONE for an unknown account)."""

    @abc.abstractmethod
    async def account(self, account_id: str, limit: int = 50) -> dict[str, Any] | None:
        """``{"account_id", "enforcement", "decisions": [Decision.to_json(), newest first],
        "reports": int, "events": [enforcement changes, newest first], ...}`` or None when the
        account has never been seen (neither decided on, reported nor overridden)."""

    @abc.abstractmethod
    async def decisions(self, limit: int = 50, since: float | None = None) -> list[dict[str, Any]]:
        """Most recent decisions across all accounts, newest first."""

    @abc.abstractmethod
    async def use_token(self, token_id: str, max_uses: int, ttl_s: float) -> int:
        """Count one use of a token id across the fleet; return the use count including this one.
        The caller rejects the token when the count exceeds ``max_uses``."""

    async def token_uses(self, token_id: str) -> int:
        """The current count of a token id (0 if never used or expired), without counting a use.
        Challenge failures are counted with ``use_token`` and read here at the next write."""
        raise NotImplementedError

    @abc.abstractmethod
    async def report(self, reporter_id: str, account_id: str, reason: str = "") -> dict[str, Any]:
        """Record a user report. One reporter counts once per account however often they report.
        Returns ``{"account_id", "reports": distinct reporters, "new": bool, "enforcement"}``;
        a report may tighten the policy and so change the enforcement."""

    @abc.abstractmethod
    async def review(self, limit: int = 50) -> list[dict[str, Any]]:
        """Reported accounts, strongest evidence first: report count, then automated decisions,
        then highest score. Each ``{"account_id", "reports", "automated", "decisions_total",
        "max_score", "enforcement", "last_report_ts"}``."""

    @abc.abstractmethod
    async def override(self, account_id: str, enforcement: Enforcement, note: str, actor: str) -> dict[str, Any]:
        """Set or lift enforcement by hand; the change is an event carrying ``actor`` and ``note``.
        The policy then judges only decisions recorded after the override.
        Returns ``{"account_id", "enforcement", "previous", "event"}``."""

    @abc.abstractmethod
    async def events(self, account_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The account's enforcement changes, newest first: ``{"ts", "from", "to", "reason",
        "request_ids", "actor", "note"}``."""

    async def purge(self, before: float) -> int:
        """Delete ledger decisions recorded before ``before`` (epoch seconds); return how many.
        Enforcement state, events and reports are kept. Backends without it keep everything."""
        return 0

    async def close(self) -> None:  # pragma: no cover - trivial default
        return None


def open_store(url: str, **kwargs: Any) -> Store:
    if url.startswith("sqlite://"):
        from edge.store.sqlite import SQLiteStore

        # SQLAlchemy's convention: sqlite:///relative/path, sqlite:////absolute/path.
        return SQLiteStore(url[len("sqlite://"):].removeprefix("/"), **kwargs)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from edge.store.redis import RedisStore

        return RedisStore(url, **kwargs)
    raise ValueError(f"store: unsupported URL {url!r} (use sqlite:///path or redis://host:port/db)")
