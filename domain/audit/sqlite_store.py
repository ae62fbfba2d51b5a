"""The audit store on the embedded default: its own SQLite file in the data directory,
WAL mode with `synchronous=FULL`, so a committed entry survives a power cut."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.audit.entry import AuditEntry, Draft
from domain.audit.store import (
    COLUMNS,
    PROBE_TENANT,
    VERIFY_CHUNK,
    AuditFilter,
    AuditStore,
    SeqRange,
    by_tenant,
    entry_of,
    index_for,
    row_of,
    timestamp,
    where,
)
from domain.shared.sqlite import SQLiteConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    correlation_id TEXT,
    request_id TEXT NOT NULL,
    position INTEGER,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_entries (tenant, actor_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit_entries (tenant, subject_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_actor_action ON audit_entries (tenant, actor_id, action, seq);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit_entries (tenant, action, seq);
CREATE INDEX IF NOT EXISTS audit_by_outcome ON audit_entries (tenant, outcome, seq);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_entries (tenant, recorded_at, seq);
CREATE INDEX IF NOT EXISTS audit_by_request ON audit_entries (request_id);
CREATE TABLE IF NOT EXISTS audit_heads (
    tenant TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
"""

_INSERT = f"INSERT INTO audit_entries ({COLUMNS}) VALUES ({', '.join('?' * 14)})"


class SQLiteAuditStore(AuditStore):
    def __init__(self, path: Path | str, key: bytes, now: Callable[[], datetime]) -> None:
        super().__init__(key, now)
        self.path = str(path)
        self._connections = SQLiteConnections(self.path)
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.conn()

    def append(self, drafts: Sequence[Draft], probe: bool = False) -> list[AuditEntry]:
        conn = self._conn()
        stored: list[AuditEntry | None] = [None] * len(drafts)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for tenant, indexes, group in by_tenant(drafts):
                row = conn.execute(
                    "SELECT h.seq, h.hash, e.recorded_at FROM audit_heads h LEFT JOIN "
                    "audit_entries e ON e.tenant = h.tenant AND e.seq = h.seq "
                    "WHERE h.tenant = ?",
                    (tenant,),
                ).fetchone()
                head = (row[0], row[1]) if row else (0, "")
                entries = self.chain(group, head, row[2] if row else None)
                conn.executemany(_INSERT, [row_of(e) for e in entries])
                conn.execute(
                    "INSERT INTO audit_heads (tenant, seq, hash) VALUES (?, ?, ?) "
                    "ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (tenant, entries[-1].seq, entries[-1].hash),
                )
                for index, entry in zip(indexes, entries, strict=True):
                    stored[index] = entry
            if probe:
                conn.execute("SAVEPOINT probe")
                conn.execute(
                    _INSERT,
                    (PROBE_TENANT, 0, "", "", "", "", "", None, "", 0, None, "", None, ""),
                )
                conn.execute("ROLLBACK TO probe")
                conn.execute("RELEASE probe")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return [e for e in stored if e is not None]

    def first_seq_at(self, tenant: str, at: datetime) -> int | None:
        row = (
            self._conn()
            .execute(
                "SELECT seq FROM audit_entries INDEXED BY audit_by_time "
                "WHERE tenant = ? AND recorded_at >= ? ORDER BY recorded_at, seq LIMIT 1",
                (tenant, timestamp(at)),
            )
            .fetchone()
        )
        return int(row[0]) if row else None

    def statement(
        self, tenant: str, f: AuditFilter, seqs: SeqRange, limit: int
    ) -> tuple[str, list[Any]]:
        clause, params = where(tenant, f, seqs, "?")
        index = index_for(f)
        hint = f" INDEXED BY {index}" if index else ""
        sql = f"SELECT {COLUMNS} FROM audit_entries{hint} WHERE {clause} ORDER BY seq DESC LIMIT ?"
        return sql, [*params, limit]

    def select(self, tenant: str, f: AuditFilter, seqs: SeqRange, limit: int) -> list[AuditEntry]:
        sql, params = self.statement(tenant, f, seqs, limit)
        return [entry_of(r) for r in self._conn().execute(sql, params)]

    def entries(
        self, tenant: str, after_seq: int = 0, limit: int = VERIFY_CHUNK
    ) -> list[AuditEntry]:
        rows = self._conn().execute(
            f"SELECT {COLUMNS} FROM audit_entries WHERE tenant = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (tenant, after_seq, limit),
        )
        return [entry_of(r) for r in rows]

    def head(self, tenant: str) -> tuple[int, str] | None:
        row = (
            self._conn()
            .execute("SELECT seq, hash FROM audit_heads WHERE tenant = ?", (tenant,))
            .fetchone()
        )
        return (int(row[0]), str(row[1])) if row else None

    def tenants(self) -> list[str]:
        rows = self._conn().execute("SELECT tenant FROM audit_heads ORDER BY tenant")
        return [str(r[0]) for r in rows]

    def has_request(self, request_id: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM audit_entries WHERE request_id = ? LIMIT 1", (request_id,))
            .fetchone()
        )
        return row is not None

    def close(self) -> None:
        self._connections.close()
