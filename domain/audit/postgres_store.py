"""The audit store in production: PostgreSQL tables beside the event log, through a small
psycopg pool. Each tenant's head row is locked (`FOR UPDATE`) while a batch extends its
chain, so any number of API processes append to one chain in one order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
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
    row_of,
    timestamp,
    where,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
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
    position BIGINT,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_entries (tenant, actor_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit_entries (tenant, subject_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_actor_action ON audit_entries (tenant, actor_id, action, seq);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit_entries (tenant, action, seq);
CREATE INDEX IF NOT EXISTS audit_by_outcome ON audit_entries (tenant, outcome, seq);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_entries (tenant, recorded_at, seq);
CREATE INDEX IF NOT EXISTS audit_by_request ON audit_entries (request_id);
CREATE TABLE IF NOT EXISTS audit_heads (
    tenant TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
CREATE OR REPLACE FUNCTION careloop_audit_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION careloop_audit_append_only();
"""

_INSERT = f"INSERT INTO audit_entries ({COLUMNS}) VALUES ({', '.join(['%s'] * 14)})"


class PostgresAuditStore(AuditStore):
    def __init__(
        self,
        conninfo: str,
        schema: str,
        key: bytes,
        now: Callable[[], datetime],
        create_tables: bool = True,
    ) -> None:
        from psycopg_pool import ConnectionPool

        super().__init__(key, now)
        self.conninfo = conninfo
        self.schema = schema
        # Appending has a connection of its own: after a database restart the pool backs
        # off between reconnection attempts (seconds, doubling), and commands would be
        # refused for as long; this one is simply opened again on the next append.
        self._append_conn: Any = None
        self._append_lock = threading.Lock()
        self.pool: Any = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            kwargs={"options": f"-c search_path={schema}", "autocommit": True},
            check=ConnectionPool.check_connection,
            timeout=2.0,
            open=True,
        )
        if create_tables:
            with self.pool.connection() as conn, conn.transaction():
                # One creator at a time: concurrent CREATE ... IF NOT EXISTS can collide.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('careloop_audit_schema'))")
                exists = conn.execute("SELECT to_regclass('audit_entries')").fetchone()[0]
                if exists is None:
                    conn.execute(SCHEMA)

    def _appending(self) -> Any:
        import psycopg

        if self._append_conn is None or self._append_conn.closed:
            self._append_conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=2,
                options=f"-c search_path={self.schema}",
            )
        return self._append_conn

    def append(self, drafts: Sequence[Draft], probe: bool = False) -> list[AuditEntry]:
        with self._append_lock:
            for attempt in (1, 2):
                try:
                    return self._append(self._appending(), drafts, probe)
                except Exception:
                    if self._append_conn is None or not self._append_conn.broken:
                        raise
                    # The connection died (a database restart): once more on a new one.
                    self._append_conn.close()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def _append(self, conn: Any, drafts: Sequence[Draft], probe: bool) -> list[AuditEntry]:
        stored: list[AuditEntry | None] = [None] * len(drafts)
        with conn.transaction(), conn.cursor() as cur:
            for tenant, indexes, group in by_tenant(drafts):
                cur.execute(
                    "INSERT INTO audit_heads (tenant, seq, hash) VALUES (%s, 0, '') "
                    "ON CONFLICT (tenant) DO NOTHING",
                    (tenant,),
                )
                cur.execute(
                    "SELECT seq, hash FROM audit_heads WHERE tenant = %s FOR UPDATE", (tenant,)
                )
                seq, previous = cur.fetchone()
                cur.execute(
                    "SELECT recorded_at FROM audit_entries WHERE tenant = %s AND seq = %s",
                    (tenant, seq),
                )
                last = cur.fetchone()
                entries = self.chain(group, (int(seq), str(previous)), last[0] if last else None)
                cur.executemany(_INSERT, [row_of(e) for e in entries])
                cur.execute(
                    "UPDATE audit_heads SET seq = %s, hash = %s WHERE tenant = %s",
                    (entries[-1].seq, entries[-1].hash, tenant),
                )
                for index, entry in zip(indexes, entries, strict=True):
                    stored[index] = entry
            if probe:
                with conn.transaction(force_rollback=True):
                    cur.execute(
                        _INSERT,
                        (PROBE_TENANT, 0, "", "", "", "", "", None, "", 0, None, "", None, ""),
                    )
        return [e for e in stored if e is not None]

    def first_seq_at(self, tenant: str, at: datetime) -> int | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT seq FROM audit_entries WHERE tenant = %s AND recorded_at >= %s "
                "ORDER BY recorded_at, seq LIMIT 1",
                (tenant, timestamp(at)),
            ).fetchone()
        return int(row[0]) if row else None

    def statement(
        self, tenant: str, f: AuditFilter, seqs: SeqRange, limit: int
    ) -> tuple[str, list[Any]]:
        clause, params = where(tenant, f, seqs, "%s")
        sql = f"SELECT {COLUMNS} FROM audit_entries WHERE {clause} ORDER BY seq DESC LIMIT %s"
        return sql, [*params, limit]

    def select(self, tenant: str, f: AuditFilter, seqs: SeqRange, limit: int) -> list[AuditEntry]:
        sql, params = self.statement(tenant, f, seqs, limit)
        with self.pool.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [entry_of(r) for r in rows]

    def entries(
        self, tenant: str, after_seq: int = 0, limit: int = VERIFY_CHUNK
    ) -> list[AuditEntry]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM audit_entries WHERE tenant = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (tenant, after_seq, limit),
            ).fetchall()
        return [entry_of(r) for r in rows]

    def head(self, tenant: str) -> tuple[int, str] | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT seq, hash FROM audit_heads WHERE tenant = %s", (tenant,)
            ).fetchone()
        return (int(row[0]), str(row[1])) if row and row[0] > 0 else None

    def tenants(self) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT tenant FROM audit_heads WHERE seq > 0 ORDER BY tenant"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def has_request(self, request_id: str) -> bool:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM audit_entries WHERE request_id = %s LIMIT 1", (request_id,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        with self._append_lock:
            if self._append_conn is not None:
                self._append_conn.close()
        self.pool.close()
