"""Where the event log's chain is kept, and the readers both chains are verified from.

The event chain (domain/audit/events_chain.py) lives in the audit store's database, beside
the audit entries: a table `event_chain` (position, event_hash, chain_hash), append-only
like `audit_entries` (triggers refuse UPDATE and DELETE). These classes wrap the audit
stores (the SQLite file, the PostgreSQL pool) rather than change them.

Verification reads rows as stored, not through the library or `entry_of`: an attacker's
change must be reported, not crash the reader (an originator id that is no longer a
UUID, a `recordedAt` that no longer parses), and a stored text must be hashed as it is
stored, not as a parser normalises it (`datetime.fromisoformat` reads any character
between date and time as the `T`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from domain.audit.chain import Verification, verify
from domain.audit.entry import AuditEntry
from domain.audit.events_chain import ChainRow, LogRow
from domain.audit.postgres_store import PostgresAuditStore
from domain.audit.sqlite_store import SQLiteAuditStore
from domain.audit.store import COLUMNS, AuditStore, entry_of, timestamp
from domain.shared.eventlog import EventLog
from domain.shared.sqlite import SQLiteConnections

READ_CHUNK = 5000

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_chain (
    position INTEGER PRIMARY KEY,
    event_hash TEXT NOT NULL,
    chain_hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS event_chain_no_update BEFORE UPDATE ON event_chain
BEGIN SELECT RAISE(ABORT, 'the event chain is append-only'); END;
CREATE TRIGGER IF NOT EXISTS event_chain_no_delete BEFORE DELETE ON event_chain
BEGIN SELECT RAISE(ABORT, 'the event chain is append-only'); END;
"""

POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_chain (
    position BIGINT PRIMARY KEY,
    event_hash TEXT NOT NULL,
    chain_hash TEXT NOT NULL
);
CREATE OR REPLACE FUNCTION careloop_event_chain_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the event chain is append-only'; END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS event_chain_append_only ON event_chain;
CREATE TRIGGER event_chain_append_only BEFORE UPDATE OR DELETE ON event_chain
FOR EACH ROW EXECUTE FUNCTION careloop_event_chain_append_only();
"""


class ChainMovedError(RuntimeError):
    """The chain's head is not where this writer extended it from: another wrote first."""


# -- the event chain ----------------------------------------------------------------------


class EventChainStore(ABC):
    def create(self) -> None:
        """Create the table if it is missing (idempotent)."""
        return None

    @abstractmethod
    def head(self) -> ChainRow | None:
        """The newest chain row."""

    @abstractmethod
    def rows(self, after: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        """Chain rows with `after < position (<= stop)`, in position order."""

    @abstractmethod
    def append(self, rows: Sequence[ChainRow], after: int) -> None:
        """Store `rows` in one transaction, if the head is still at position `after`
        (0: empty); otherwise raise ChainMovedError and store nothing."""

    def all_rows(self, stop: int | None = None) -> Iterator[ChainRow]:
        after = 0
        while True:
            chunk = self.rows(after, READ_CHUNK, stop)
            yield from chunk
            if len(chunk) < READ_CHUNK:
                return
            after = chunk[-1].position

    def close(self) -> None:
        return None


def _chain_row(row: Sequence[Any]) -> ChainRow:
    return ChainRow(int(row[0]), str(row[1]), str(row[2]))


class SQLiteEventChain(EventChainStore):
    def __init__(self, path: str) -> None:
        self._connections = SQLiteConnections(path)
        self._connections.conn().executescript(SQLITE_SCHEMA)

    def head(self) -> ChainRow | None:
        row = (
            self._connections.conn()
            .execute(
                "SELECT position, event_hash, chain_hash FROM event_chain "
                "ORDER BY position DESC LIMIT 1"
            )
            .fetchone()
        )
        return _chain_row(row) if row else None

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        rows = self._connections.conn().execute(
            "SELECT position, event_hash, chain_hash FROM event_chain "
            "WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
            (after, stop if stop is not None else 2**62, limit),
        )
        return [_chain_row(r) for r in rows]

    def append(self, rows: Sequence[ChainRow], after: int) -> None:
        if not rows:
            return
        conn = self._connections.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT max(position) FROM event_chain").fetchone()[0]
            if (found or 0) != after:
                raise ChainMovedError(f"the event chain's head is {found}, not {after}")
            conn.executemany(
                "INSERT INTO event_chain (position, event_hash, chain_hash) VALUES (?, ?, ?)",
                [(r.position, r.event_hash, r.chain_hash) for r in rows],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._connections.close()


class PostgresEventChain(EventChainStore):
    """On the audit store's pool (its connections' search_path is the schema)."""

    def __init__(self, pool: Any, create_table: bool) -> None:
        self.pool = pool
        self._exists = False
        if create_table:
            self.create()

    def create(self) -> None:
        if self._exists:
            return
        with self.pool.connection() as conn, conn.transaction():
            # The audit store's creation lock: one creator at a time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('careloop_audit_schema'))")
            if conn.execute("SELECT to_regclass('event_chain')").fetchone()[0] is None:
                conn.execute(POSTGRES_SCHEMA)
        self._exists = True

    def exists(self) -> bool:
        if not self._exists:
            with self.pool.connection() as conn:
                found = conn.execute("SELECT to_regclass('event_chain')").fetchone()[0]
            self._exists = found is not None
        return self._exists

    def head(self) -> ChainRow | None:
        if not self.exists():
            return None
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT position, event_hash, chain_hash FROM event_chain "
                "ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return _chain_row(row) if row else None

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        if not self.exists():
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT position, event_hash, chain_hash FROM event_chain "
                "WHERE position > %s AND position <= %s ORDER BY position LIMIT %s",
                (after, stop if stop is not None else 2**62, limit),
            ).fetchall()
        return [_chain_row(r) for r in rows]

    def append(self, rows: Sequence[ChainRow], after: int) -> None:
        if not rows:
            return
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT max(position) FROM event_chain")
            found = cur.fetchone()[0]
            if (found or 0) != after:
                raise ChainMovedError(f"the event chain's head is {found}, not {after}")
            # A second writer that read the same head collides on the primary key.
            cur.executemany(
                "INSERT INTO event_chain (position, event_hash, chain_hash) VALUES (%s, %s, %s)",
                [(r.position, r.event_hash, r.chain_hash) for r in rows],
            )


# -- the event log, as stored -------------------------------------------------------------


class EventRows:
    """The log's rows as stored, in position order: the library's two recorders' SQL (as
    in domain/shared/eventlog.py), with the originator id as stored text."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        recorder = log.recorder
        self._table = getattr(recorder, "events_table_name", "stored_events")
        self._sqlite = log.factory.__class__.__module__.endswith("sqlite")

    def rows(self, after: int, limit: int) -> list[LogRow]:
        recorder = self.log.recorder
        if self._sqlite:
            statement = (
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {self._table} "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?"
            )
            with recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
                c.execute(statement, (after, limit))
                return [_log_row(r[0], r[1], r[2], r[3], r[4]) for r in c.fetchall()]
        schema = recorder.datastore.schema  # type: ignore[attr-defined]
        query = (
            "SELECT notification_id, originator_id::text AS originator_id, originator_version, "
            f'topic, state FROM "{schema}"."{self._table}" '
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:  # type: ignore[attr-defined]
            curs.execute(query, (after, limit))
            return [
                _log_row(
                    r["notification_id"],
                    r["originator_id"],
                    r["originator_version"],
                    r["topic"],
                    r["state"],
                )
                for r in curs.fetchall()
            ]

    def all_rows(self, after: int = 0) -> Iterator[LogRow]:
        while True:
            chunk = self.rows(after, READ_CHUNK)
            yield from chunk
            if len(chunk) < READ_CHUNK:
                return
            after = chunk[-1].position


def _log_row(position: Any, originator_id: Any, version: Any, topic: Any, state: Any) -> LogRow:
    # Whatever a row holds must come out as something to hash, never as an error.
    if isinstance(originator_id, bytes | bytearray | memoryview):
        originator_id = bytes(originator_id).hex()
    if isinstance(state, str):
        state = state.encode()
    return LogRow(
        int(position),
        str(originator_id),
        int(version) if isinstance(version, int) else -1,
        str(topic),
        bytes(state) if state is not None else b"",
    )


# -- the audit entries, as stored ---------------------------------------------------------


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored: its columns' values, and the entry they read as (None when
    they do not read as one)."""

    values: tuple[Any, ...]
    entry: AuditEntry | None

    @property
    def tenant(self) -> str:
        return str(self.values[0])

    @property
    def seq(self) -> int:
        return int(self.values[1])

    def column(self, name: str) -> Any:
        return self.values[_COLUMN_NAMES.index(name)]


_COLUMN_NAMES = [c.strip() for c in COLUMNS.split(",")]
# What an entry whose stored columns do not read stands as in the chain: a `recordedAt`
# no entry has, so its link cannot recompute.
_UNREADABLE = datetime(1, 1, 1, tzinfo=UTC)


def stored_entry(values: Sequence[Any]) -> StoredEntry:
    try:
        entry = entry_of(values)
    except (ValueError, TypeError, OverflowError):
        return StoredEntry(tuple(values), None)
    if timestamp(entry.recorded_at) != values[2]:
        # Not the one text form the store writes: a parser read something else as this
        # time, but the chain hashed the time, so the stored text was changed.
        return StoredEntry(tuple(values), None)
    return StoredEntry(tuple(values), entry)


def verify_stored(
    key: bytes, stored: Iterable[StoredEntry], head: tuple[int, str] | None
) -> Verification:
    """`chain.verify` over entries as stored: an entry whose columns do not read, or whose
    `recordedAt` text is not the form the store writes, is broken where it stands."""
    unreadable: list[int] = []

    def entries() -> Iterator[AuditEntry]:
        for s in stored:
            if s.entry is not None:
                yield s.entry
                continue
            seq = _int_or(s.values[1], 0)
            unreadable.append(seq)
            yield AuditEntry(
                tenant=str(s.values[0]),
                seq=seq,
                recorded_at=_UNREADABLE,
                actor_id="",
                role="",
                action="",
                subject_type="",
                subject_id=None,
                outcome="",
                status=0,
                correlation_id=None,
                request_id="",
                position=None,
                hash=str(s.values[13]),
            )

    result = verify(key, entries(), head)
    if unreadable:
        broken = [unreadable[0]]
        if result.first_broken_seq is not None:
            broken.append(result.first_broken_seq)
        result = replace(result, verified=False, first_broken_seq=min(broken))
    return result


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class AuditRows(ABC):
    """The audit store's entries as stored, for verification."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    @abstractmethod
    def chunk(self, tenant: str, after_seq: int, limit: int) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def tenants(self) -> list[str]:
        """Every tenant with a head or with an entry: an entry moved to a tenant that has
        no head is verified too."""

    def head(self, tenant: str) -> tuple[int, str] | None:
        return self.store.head(tenant)

    def entries(self, tenant: str) -> Iterator[StoredEntry]:
        after = 0
        while True:
            chunk = self.chunk(tenant, after, READ_CHUNK)
            for values in chunk:
                yield stored_entry(values)
            if len(chunk) < READ_CHUNK:
                return
            after = _int_or(chunk[-1][1], after + READ_CHUNK)

    def entry(self, tenant: str, seq: int) -> StoredEntry | None:
        found = self.chunk(tenant, seq - 1, 1)
        return stored_entry(found[0]) if found and _int_or(found[0][1], -1) == seq else None

    def verify(self, tenant: str) -> Verification:
        return verify_stored(self.store.key, self.entries(tenant), self.head(tenant))

    def close(self) -> None:
        return None


class SQLiteAuditRows(AuditRows):
    def __init__(self, store: SQLiteAuditStore) -> None:
        super().__init__(store)
        self._connections = SQLiteConnections(store.path)

    def chunk(self, tenant: str, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
        rows = self._connections.conn().execute(
            f"SELECT {COLUMNS} FROM audit_entries WHERE tenant = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (tenant, after_seq, limit),
        )
        return [tuple(r) for r in rows]

    def tenants(self) -> list[str]:
        rows = self._connections.conn().execute(
            "SELECT tenant FROM audit_heads UNION SELECT DISTINCT tenant FROM audit_entries "
            "ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        self._connections.close()


class PostgresAuditRows(AuditRows):
    def __init__(self, store: PostgresAuditStore) -> None:
        super().__init__(store)
        self.pool = store.pool

    def chunk(self, tenant: str, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM audit_entries WHERE tenant = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (tenant, after_seq, limit),
            ).fetchall()
        return [tuple(r) for r in rows]

    def tenants(self) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT tenant FROM audit_heads WHERE seq > 0 "
                "UNION SELECT DISTINCT tenant FROM audit_entries ORDER BY 1"
            ).fetchall()
        return [str(r[0]) for r in rows]


# -- together -----------------------------------------------------------------------------


@dataclass
class Integrity:
    """What verifying (and extending) the two chains needs, on one runtime's stores."""

    key: bytes
    chain: EventChainStore
    events: EventRows
    entries: AuditRows

    def close(self) -> None:
        self.chain.close()
        self.entries.close()


def integrity_of(log: EventLog, audit: AuditStore, create_table: bool = True) -> Integrity:
    """The chain table and the readers beside `audit` and `log`. On PostgreSQL the table
    is created when missing only with `create_table` (the follower's own start; a reader
    finds a missing table empty)."""
    chain: EventChainStore
    entries: AuditRows
    if isinstance(audit, SQLiteAuditStore):
        chain = SQLiteEventChain(audit.path)
        entries = SQLiteAuditRows(audit)
    elif isinstance(audit, PostgresAuditStore):
        chain = PostgresEventChain(audit.pool, create_table)
        entries = PostgresAuditRows(audit)
    else:
        raise TypeError(f"no event chain beside {type(audit).__name__}")
    return Integrity(audit.key, chain, EventRows(log), entries)
