"""SQLite store: one file, WAL, ``synchronous=FULL``, safe for several processes.

Durability: a write is acknowledged only after ``COMMIT`` returns, and with WAL plus
``synchronous=FULL`` the commit has been fsynced, so acknowledged decisions survive ``kill -9`` and
power loss. Several processes (``tell serve --workers N``) share the file: every write transaction
is ``BEGIN IMMEDIATE`` (it takes the write lock up front, so read-then-update of the account's
enforcement cannot interleave with another process) and ``busy_timeout`` makes waiters queue
instead of failing.

sqlite3 blocks, so every call runs on one dedicated thread that owns the connection; the event
loop only awaits it.

Group commit: concurrent ``record()`` and ``use_token()`` calls are queued and written together, one
``BEGIN IMMEDIATE … COMMIT`` (so one fsync) per batch. Each caller awaits the commit of its own batch,
so "acknowledged" still means "fsynced"; while one batch commits, the next one fills. A token use
(tokens, challenge strikes, velocity) needs an exact count, not durability: its count is taken under
the write lock, which no other process can take before the commit, so it is answered as soon as the
batch's operations have run, without waiting for the commit's fsync; should the commit then fail,
that use is not counted, as when the store is down. Each operation
in a batch runs under its own ``SAVEPOINT``, so one that fails is undone alone and fails only its
caller; an I/O error fails the whole batch (every caller gets the ``StoreError``).

Enforcement is incremental: the account's row keeps a :class:`~edge.enforcement.LedgerSummary`
(``policy_state``), so recording a write reads one row instead of the account's recent decisions.
A decision is stored once per ``request_id`` (a unique index): recording it again — a gateway's
retry, the write buffer replaying a write that had in fact landed — changes nothing and returns
the account's enforcement.
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
from edge.enforcement import DEFAULT_POLICY, EnforcementPolicy, LedgerSummary, escalate, event, is_automated
from edge.store import Store, StoreError, dumps, loads

T = TypeVar("T")

SCHEMA_VERSION = 2
# At most this many operations share one transaction: a long batch holds the write lock (and the
# callers of the next batch) for longer, and past a few hundred the fsync is already amortised.
MAX_BATCH = 256

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
    # 2: a decision is stored once per request_id; accounts keep the policy's summary of their ledger.
    # Copies recorded twice by version 1 (a replayed write that had landed) are removed, oldest kept,
    # and taken off the account's counters, which counted them twice. policy_state starts NULL:
    # it is built from the ledger at the account's next write.
    2: """
    CREATE TEMP TABLE dup AS SELECT seq, account_id, automated FROM decisions
        WHERE seq NOT IN (SELECT min(seq) FROM decisions GROUP BY request_id);
    UPDATE accounts SET
        decisions = decisions - (SELECT count(*) FROM dup WHERE dup.account_id = accounts.account_id),
        automated = automated - (SELECT coalesce(sum(dup.automated), 0) FROM dup WHERE dup.account_id = accounts.account_id)
        WHERE account_id IN (SELECT account_id FROM dup);
    DELETE FROM decisions WHERE seq IN (SELECT seq FROM dup);
    DROP TABLE temp.dup;
    CREATE UNIQUE INDEX decisions_request_id ON decisions (request_id);
    ALTER TABLE accounts ADD COLUMN policy_state TEXT;
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
        # Group commit: operations waiting for the next batch, and the task writing batches.
        self._queue: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future, bool]] = []
        self._flusher: asyncio.Task | None = None

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

    async def _batched(self, op: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``op`` inside the next group commit; return once that batch is committed (fsynced),
        or, when not ``durable``, once the batch's operations have run, just before the commit."""
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        self._queue.append((op, fut, durable))
        if self._flusher is None or self._flusher.done() or self._flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush(), name="tell-sqlite-group-commit")
        return await fut

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            ops = [op for op, _, _ in batch]
            early = [i for i, (_, _, durable) in enumerate(batch) if not durable]
            loop = asyncio.get_running_loop()

            def answer_early(results: list[tuple[bool, Any]], batch=batch, early=early, loop=loop) -> None:
                # On the connection's thread, before COMMIT: one wake-up of the loop for all of them.
                loop.call_soon_threadsafe(_settle, [(batch[i][1], results[i]) for i in early])

            try:
                results = await self._run(lambda conn: self._write_batch(conn, ops, answer_early if early else None))
            except BaseException as exc:
                # The whole batch failed (I/O error, lock timeout, the store closed): every caller
                # learns it; none of their operations was committed.
                err = exc if isinstance(exc, Exception) else StoreError(f"sqlite {self.path}: batch interrupted")
                for _, fut, _ in batch:
                    if not fut.done():
                        fut.set_exception(err)
                if not isinstance(exc, Exception):
                    raise
                continue
            # (A future already done: answered early, or a caller that stopped waiting; its write is
            # committed all the same.)
            _settle([(fut, result) for (_, fut, _), result in zip(batch, results)])

    def _write_batch(self, conn: sqlite3.Connection, ops: list[Callable[[sqlite3.Connection], Any]],
                     before_commit: Callable[[list[tuple[bool, Any]]], None] | None = None) -> list[tuple[bool, Any]]:
        """One transaction, one fsync, for every operation of the batch; each under a savepoint.
        ``before_commit(results)`` runs once every operation has, just before COMMIT."""
        results: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                conn.execute("SAVEPOINT op")
                try:
                    out = op(conn)
                except sqlite3.OperationalError:
                    raise  # the transaction or the file is in trouble: the batch fails as one
                except Exception as exc:
                    # This operation's own problem: undo its writes alone, fail only its caller.
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((False, StoreError(f"sqlite {self.path}: {exc}") if isinstance(exc, sqlite3.Error) else exc))
                    continue
                conn.execute("RELEASE op")
                results.append((True, out))
        except BaseException:
            if conn.in_transaction:  # an I/O error may already have ended it: keep the first error
                conn.execute("ROLLBACK")
            raise
        if before_commit is not None:
            before_commit(results)
        conn.execute("COMMIT")
        return results

    async def close(self) -> None:
        if self._closed:
            return
        if self._flusher is not None and not self._flusher.done() and self._flusher.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([self._flusher])  # let the batch in flight commit and answer

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

    def _summary(self, conn: sqlite3.Connection, account_id: str, baseline_seq: int, stored: str | None) -> LedgerSummary:
        """The account's ledger summary: the stored one, or rebuilt from the ledger since the last
        override when there is none yet (a new account, a file from schema 1) or the policy's shape
        changed."""
        summary = LedgerSummary.from_json(loads(stored) if stored else None, self.policy)
        return summary if summary is not None else self._rebuild(conn, account_id, baseline_seq)

    def _rebuild(self, conn: sqlite3.Connection, account_id: str, baseline_seq: int) -> LedgerSummary:
        rows = conn.execute(
            "SELECT body FROM decisions WHERE account_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?",
            (account_id, baseline_seq, self.policy.ledger_depth),
        ).fetchall()
        return LedgerSummary.rebuild([Decision.from_json(loads(r[0])) for r in rows], self.policy)

    def _judge(self, conn: sqlite3.Connection, account_id: str, current: Enforcement, summary: LedgerSummary,
               reports: int, now: float) -> Enforcement:
        """Apply the policy to the summary; store the summary, and the change and its event if any."""
        change = escalate(current, summary.assess(reports=reports, policy=self.policy))
        new = current if change is None else change.enforcement
        conn.execute("UPDATE accounts SET enforcement = ?, policy_state = ? WHERE account_id = ?",
                     (new.value, dumps(summary.to_json()), account_id))
        if change is not None:
            self._event(conn, account_id, event(current, change.enforcement, change.reason, change.request_ids, ts=now))
        return new

    def _event(self, conn: sqlite3.Connection, account_id: str, ev: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO events (account_id, ts, from_state, to_state, reason, request_ids, actor, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, ev["ts"], ev["from"], ev["to"], ev["reason"], json.dumps(ev["request_ids"]), ev["actor"], ev["note"]),
        )

    def _record(self, conn: sqlite3.Connection, d: Decision, body: str, automated: bool) -> Enforcement:
        """One decision, inside a batch's transaction."""
        inserted = conn.execute(
            "INSERT INTO decisions (request_id, account_id, ts, action, verdict, score, automated, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
            (d.request_id, d.account_id, d.ts, d.action, d.decision.value, d.score, int(automated), body),
        ).rowcount == 1
        if d.account_id is None:
            return Enforcement.NONE
        if not inserted:
            # Recorded already (a gateway's retry, a buffered write that had in fact landed): stored
            # and counted once, so a replay cannot push an account up the ladder.
            row = conn.execute("SELECT enforcement FROM accounts WHERE account_id = ?", (d.account_id,)).fetchone()
            return Enforcement(row[0]) if row else Enforcement.NONE
        row = conn.execute(
            "INSERT INTO accounts (account_id, decisions, automated, max_score, first_ts, last_ts)"
            " VALUES (?, 1, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
            "  decisions = decisions + 1, automated = automated + excluded.automated,"
            "  max_score = max(max_score, excluded.max_score), first_ts = coalesce(first_ts, excluded.first_ts),"
            "  last_ts = excluded.last_ts"
            " RETURNING enforcement, reports, baseline_seq, policy_state",
            (d.account_id, int(automated), d.score, d.ts, d.ts),
        ).fetchone()
        current = Enforcement(row[0])
        if current is Enforcement.BAN:
            # A ban is sticky and only an override (which starts a fresh summary) lifts it: no need
            # to keep the summary of a banned account's writes.
            return current
        summary = LedgerSummary.from_json(loads(row[3]) if row[3] else None, self.policy)
        if summary is not None:
            summary.add(d, self.policy, automated)
        else:
            summary = self._rebuild(conn, d.account_id, row[2])  # from the ledger: this decision included
        return self._judge(conn, d.account_id, current, summary, row[1], time.time())

    # -- Store ------------------------------------------------------------------------------

    async def record(self, decision: Decision) -> Enforcement:
        body = dumps(decision.to_json())
        automated = is_automated(decision, self.policy)
        return await self._batched(lambda conn: self._record(conn, decision, body, automated))

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

        # In the same group commit as the decisions, answered before its fsync (module docstring).
        return await self._batched(tx, durable=False)

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
            enforcement = Enforcement(row["enforcement"])
            if new and enforcement is not Enforcement.BAN:
                # More reports can mean the stricter counts: judge the same evidence again.
                summary = self._summary(conn, account_id, row["baseline_seq"], row["policy_state"])
                enforcement = self._judge(conn, account_id, enforcement, summary, row["reports"], now)
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
            # The policy judges only what happens after a person looked at the account: a fresh summary.
            conn.execute("UPDATE accounts SET baseline_seq = ?, enforcement = ?, policy_state = ? WHERE account_id = ?",
                         (last, enforcement.value, dumps(LedgerSummary(self.policy).to_json()), account_id))
            ev = event(previous, enforcement, "manual override", (), ts=time.time(), actor=actor, note=note)
            self._event(conn, account_id, ev)
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


def _settle(answers: list[tuple[asyncio.Future, tuple[bool, Any]]]) -> None:
    """Give each waiting caller its operation's result or error (on the loop's thread)."""
    for fut, (ok, value) in answers:
        if not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
