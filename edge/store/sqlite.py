"""SQLite store: one file, WAL, ``synchronous=FULL``, safe for several processes.

Durability: a write is acknowledged only after ``COMMIT`` returns, and with WAL plus
``synchronous=FULL`` the commit has been fsynced, so acknowledged decisions survive ``kill -9`` and
power loss. Several processes (``tell serve --workers N``) share the file: every write transaction
is ``BEGIN IMMEDIATE`` (it takes the write lock up front, so read-then-update of the account's
enforcement cannot interleave with another process) and ``busy_timeout`` makes waiters queue
instead of failing.

sqlite3 blocks, so every call runs on one dedicated thread that owns the connection; the event
loop only awaits it.
"""
from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from edge.decision import Decision, Enforcement
from edge.enforcement import DEFAULT_POLICY, EnforcementPolicy, assess, escalate, event, is_automated
from edge.store import Store, StoreError

T = TypeVar("T")

SCHEMA_VERSION = 1

# Migrations by target version; each runs inside the transaction that bumps user_version.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE decisions (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        account_id TEXT,
        ts         REAL NOT NULL,
        action     TEXT NOT NULL,
        verdict    TEXT NOT NULL,
        score      REAL NOT NULL,
        automated  INTEGER NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX decisions_account ON decisions (account_id, seq);
    CREATE INDEX decisions_ts ON decisions (ts);
    CREATE TABLE accounts (
        account_id     TEXT PRIMARY KEY,
        enforcement    TEXT NOT NULL DEFAULT 'none',
        baseline_seq   INTEGER NOT NULL DEFAULT 0,
        decisions      INTEGER NOT NULL DEFAULT 0,
        automated      INTEGER NOT NULL DEFAULT 0,
        max_score      REAL NOT NULL DEFAULT 0,
        reports        INTEGER NOT NULL DEFAULT 0,
        first_ts       REAL,
        last_ts        REAL,
        last_report_ts REAL
    );
    CREATE INDEX accounts_reported ON accounts (reports) WHERE reports > 0;
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id  TEXT NOT NULL,
        ts          REAL NOT NULL,
        from_state  TEXT NOT NULL,
        to_state    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        request_ids TEXT NOT NULL,
        actor       TEXT NOT NULL,
        note        TEXT NOT NULL
    );
    CREATE INDEX events_account ON events (account_id, id);
    CREATE TABLE reports (
        account_id  TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        reason      TEXT NOT NULL,
        ts          REAL NOT NULL,
        PRIMARY KEY (account_id, reporter_id)
    ) WITHOUT ROWID;
    CREATE TABLE token_uses (
        token_id TEXT PRIMARY KEY,
        uses     INTEGER NOT NULL,
        expires  REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX token_uses_expires ON token_uses (expires);
    """,
}


class SQLiteStore(Store):
    def __init__(self, path: str, *, policy: EnforcementPolicy = DEFAULT_POLICY, busy_timeout_s: float = 30.0):
        self.path = path
        self.policy = policy
        self.busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file we opened
        # One thread owns the connection: sqlite3 objects stay on the thread that made them, and
        # calls are serialised, which is what a single connection needs anyway.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tell-sqlite")
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self._conn is not None and not self._same_file():
                # The file was deleted or replaced under us (its directory removed, a restore copied
                # over it): writes through the old descriptor would land in an unlinked inode and
                # vanish. Drop the connection and report the outage; the next call reopens.
                self._drop()
                raise StoreError(f"sqlite {self.path}: database file was removed or replaced")
            if self._conn is None:
                self._conn = self._open()
            return fn(self._conn)
        except sqlite3.OperationalError as exc:
            # I/O errors, a read-only or vanished file: reopen on the next call rather than reuse a
            # connection in an unknown state.
            self._drop()
            raise StoreError(f"sqlite {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    def _same_file(self) -> bool:
        if self._identity is None:
            return True
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def _drop(self) -> None:
        conn, self._conn, self._identity = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so the transaction boundaries
        # (and therefore what "acknowledged" means) are visible in the code.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            return self._setup(conn)
        except BaseException:
            conn.close()
            raise

    def _setup(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and self.path != ":memory:":
            raise StoreError(f"sqlite {self.path}: cannot enable WAL (journal_mode={mode})")
        # FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss,
        # not only a killed process.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._migrate(conn)
        if self.path != ":memory:":
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        # IMMEDIATE: two processes opening a new file at once must not both create the schema.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"sqlite {self.path}: schema version {version} is newer than this Tell ({SCHEMA_VERSION})")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[target].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = fn(conn)
        except BaseException:
            if conn.in_transaction:  # an I/O error may already have ended it: keep the first error
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return out

    async def close(self) -> None:
        if self._closed:
            return

        def _close(_: Any = None) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _close)
        self._closed = True
        self._executor.shutdown(wait=False)

    # -- enforcement inside a write transaction ---------------------------------------------

    def _ensure_account(self, conn: sqlite3.Connection, account_id: str) -> sqlite3.Row:
        conn.execute("INSERT INTO accounts (account_id) VALUES (?) ON CONFLICT DO NOTHING", (account_id,))
        return conn.execute("SELECT * FROM accounts WHERE account_id = ?", (account_id,)).fetchone()

    def _reassess(self, conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> Enforcement:
        """Apply the policy to the account's ledger since its last override; record any change."""
        current = Enforcement(row["enforcement"])
        if current is Enforcement.BAN:
            return current
        rows = conn.execute(
            "SELECT body FROM decisions WHERE account_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?",
            (row["account_id"], row["baseline_seq"], self.policy.ledger_depth),
        ).fetchall()
        ledger = [Decision.from_json(json.loads(r["body"])) for r in rows]
        change = escalate(current, assess(ledger, reports=row["reports"], policy=self.policy))
        if change is None:
            return current
        self._set(conn, row["account_id"], event(current, change.enforcement, change.reason, change.request_ids, ts=now))
        return change.enforcement

    def _set(self, conn: sqlite3.Connection, account_id: str, ev: dict[str, Any]) -> None:
        conn.execute("UPDATE accounts SET enforcement = ? WHERE account_id = ?", (ev["to"], account_id))
        conn.execute(
            "INSERT INTO events (account_id, ts, from_state, to_state, reason, request_ids, actor, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, ev["ts"], ev["from"], ev["to"], ev["reason"], json.dumps(ev["request_ids"]), ev["actor"], ev["note"]),
        )

    # -- Store ------------------------------------------------------------------------------

    async def record(self, decision: Decision) -> Enforcement:
        body = json.dumps(decision.to_json(), separators=(",", ":"))
        automated = is_automated(decision, self.policy)

        def tx(conn: sqlite3.Connection) -> Enforcement:
            conn.execute(
                "INSERT INTO decisions (request_id, account_id, ts, action, verdict, score, automated, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (decision.request_id, decision.account_id, decision.ts, decision.action,
                 decision.decision.value, decision.score, int(automated), body),
            )
            if decision.account_id is None:
                return Enforcement.NONE
            self._ensure_account(conn, decision.account_id)
            conn.execute(
                "UPDATE accounts SET decisions = decisions + 1, automated = automated + ?,"
                " max_score = max(max_score, ?), first_ts = coalesce(first_ts, ?), last_ts = ?"
                " WHERE account_id = ?",
                (int(automated), decision.score, decision.ts, decision.ts, decision.account_id),
            )
            row = conn.execute("SELECT * FROM accounts WHERE account_id = ?", (decision.account_id,)).fetchone()
            return self._reassess(conn, row, time.time())

        return await self._run(lambda conn: self._write(conn, tx))

    async def enforcement(self, account_id: str) -> Enforcement:
        def q(conn: sqlite3.Connection) -> Enforcement:
            row = conn.execute("SELECT enforcement FROM accounts WHERE account_id = ?", (account_id,)).fetchone()
            return Enforcement(row[0]) if row else Enforcement.NONE

        return await self._run(q)

    async def account(self, account_id: str, limit: int = 50) -> dict[str, Any] | None:
        limit = max(limit, 0)  # a negative LIMIT means "no limit" to SQLite

        def q(conn: sqlite3.Connection) -> dict[str, Any] | None:
            # One read transaction, so the decisions, counters and events agree with each other.
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT * FROM accounts WHERE account_id = ?", (account_id,)).fetchone()
                if row is None:
                    return None
                decisions = conn.execute(
                    "SELECT body FROM decisions WHERE account_id = ? ORDER BY seq DESC LIMIT ?", (account_id, limit)
                ).fetchall()
                return {
                    **_summary(row),
                    "decisions": [json.loads(r["body"]) for r in decisions],
                    "events": self._events(conn, account_id, limit),
                }
            finally:
                conn.execute("COMMIT")

        return await self._run(q)

    async def decisions(self, limit: int = 50, since: float | None = None) -> list[dict[str, Any]]:
        limit = max(limit, 0)

        def q(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT body FROM decisions WHERE ts >= ? ORDER BY seq DESC LIMIT ?",
                (float("-inf") if since is None else since, limit),
            ).fetchall()
            return [json.loads(r["body"]) for r in rows]

        return await self._run(q)

    async def use_token(self, token_id: str, max_uses: int, ttl_s: float) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            now = time.time()
            # An expired count starts again from one, as if the key had expired in Redis.
            row = conn.execute(
                "INSERT INTO token_uses (token_id, uses, expires) VALUES (?, 1, ?)"
                " ON CONFLICT (token_id) DO UPDATE SET"
                "   uses = CASE WHEN expires <= ? THEN 1 ELSE uses + 1 END,"
                "   expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END"
                " RETURNING uses",
                (token_id, now + ttl_s, now, now),
            ).fetchone()
            # Keep the table small: drop a few expired rows on each use.
            conn.execute(
                "DELETE FROM token_uses WHERE token_id IN"
                " (SELECT token_id FROM token_uses WHERE expires <= ? LIMIT 16)",
                (now,),
            )
            return int(row[0])

        return await self._run(lambda conn: self._write(conn, tx))

    async def token_uses(self, token_id: str) -> int:
        def q(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT uses FROM token_uses WHERE token_id = ? AND expires > ?",
                               (token_id, time.time())).fetchone()
            return int(row[0]) if row else 0

        return await self._run(q)

    async def report(self, reporter_id: str, account_id: str, reason: str = "") -> dict[str, Any]:
        def tx(conn: sqlite3.Connection) -> dict[str, Any]:
            now = time.time()
            self._ensure_account(conn, account_id)
            new = conn.execute(
                "INSERT INTO reports (account_id, reporter_id, reason, ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (account_id, reporter_id, reason, now),
            ).rowcount == 1
            if new:
                conn.execute(
                    "UPDATE accounts SET reports = reports + 1, last_report_ts = ? WHERE account_id = ?",
                    (now, account_id),
                )
            row = conn.execute("SELECT * FROM accounts WHERE account_id = ?", (account_id,)).fetchone()
            enforcement = self._reassess(conn, row, now) if new else Enforcement(row["enforcement"])
            return {"account_id": account_id, "reports": row["reports"], "new": new, "enforcement": enforcement.value}

        return await self._run(lambda conn: self._write(conn, tx))

    async def purge(self, before: float) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            # Small batches, each its own transaction: a large purge must not hold the write lock
            # (and so every decision) for long.
            return conn.execute(
                "DELETE FROM decisions WHERE seq IN (SELECT seq FROM decisions WHERE ts < ? LIMIT 2000)", (before,)
            ).rowcount

        total = 0
        while True:
            n = await self._run(lambda conn: self._write(conn, tx))
            total += n
            if n < 2000:
                return total

    async def review(self, limit: int = 50) -> list[dict[str, Any]]:
        limit = max(limit, 0)

        def q(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT * FROM accounts WHERE reports > 0"
                " ORDER BY reports DESC, automated DESC, max_score DESC, account_id LIMIT ?",
                (limit,),
            ).fetchall()
            return [_summary(r) for r in rows]

        return await self._run(q)

    async def override(self, account_id: str, enforcement: Enforcement, note: str, actor: str) -> dict[str, Any]:
        enforcement = Enforcement(enforcement)

        def tx(conn: sqlite3.Connection) -> dict[str, Any]:
            row = self._ensure_account(conn, account_id)
            previous = Enforcement(row["enforcement"])
            last = conn.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()[0]
            # The policy judges only what happens after a person looked at the account.
            conn.execute("UPDATE accounts SET baseline_seq = ? WHERE account_id = ?", (last, account_id))
            ev = event(previous, enforcement, "manual override", (), ts=time.time(), actor=actor, note=note)
            self._set(conn, account_id, ev)
            return {"account_id": account_id, "enforcement": enforcement.value, "previous": previous.value, "event": ev}

        return await self._run(lambda conn: self._write(conn, tx))

    async def events(self, account_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return await self._run(lambda conn: self._events(conn, account_id, max(limit, 0)))

    @staticmethod
    def _events(conn: sqlite3.Connection, account_id: str, limit: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT * FROM events WHERE account_id = ? ORDER BY id DESC LIMIT ?", (account_id, limit)
        ).fetchall()
        return [
            {"ts": r["ts"], "from": r["from_state"], "to": r["to_state"], "reason": r["reason"],
             "request_ids": json.loads(r["request_ids"]), "actor": r["actor"], "note": r["note"]}
            for r in rows
        ]


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "account_id": row["account_id"],
        "enforcement": row["enforcement"],
        "reports": row["reports"],
        "decisions_total": row["decisions"],
        "automated": row["automated"],
        "max_score": row["max_score"],
        "first_ts": row["first_ts"],
        "last_ts": row["last_ts"],
        "last_report_ts": row["last_report_ts"],
    }
