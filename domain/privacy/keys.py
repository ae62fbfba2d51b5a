"""The key store: one data key per patient, wrapped by the master key, in a table of its
own outside the event log (docs/privacy.md).

Destroying a patient's key leaves a tombstone (the row, without its key), so that no new
key is ever made for an erased patient: erasure is irreversible. Unwrapped keys are kept
in memory for `cache_seconds`, so another process stops reading an erased patient's data
at most that long after the erasure.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain.privacy.cipher import KEY_BYTES, WrongMasterKeyError, unwrap, wrap
from domain.shared.errors import ConflictError
from domain.shared.sqlite import DURABLE, SQLiteConnections

# Wrapped with the master key and stored: a wrong master key fails to unwrap it at start.
_CHECK_KEY = bytes(range(KEY_BYTES))


class ErasedError(ConflictError):
    """The patient was erased: nothing new is sealed for them, ever (409)."""


class KeyStore(ABC):
    def __init__(
        self,
        master: bytes,
        random_bytes: Callable[[int], bytes] = os.urandom,
        cache_seconds: float = 2.0,
    ) -> None:
        if len(master) != KEY_BYTES:
            raise WrongMasterKeyError(f"the master key must be {KEY_BYTES} bytes")
        self.master = master
        self.random_bytes = random_bytes
        self.cache_seconds = cache_seconds
        self._cache: dict[uuid.UUID, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    # -- the stored rows, per backend ---------------------------------------------------

    @abstractmethod
    def _load(self, subject: uuid.UUID) -> tuple[bool, bytes | None]:
        """(a row exists, its wrapped key: None for a tombstone)."""

    @abstractmethod
    def _insert(self, subject: uuid.UUID, wrapped: bytes) -> None:
        """Store a new wrapped key unless the subject has a row already."""

    @abstractmethod
    def _tombstone(self, subject: uuid.UUID) -> bool:
        """Drop the subject's wrapped key, leaving the row; True when one was there."""

    @abstractmethod
    def _check_value(self, write: bytes) -> bytes:
        """The stored master-key check, written as `write` when there is none yet."""

    @abstractmethod
    def _rewrap_all(self, rewrap: Callable[[bytes], bytes], check: bytes) -> int:
        """Replace every wrapped key (and the check) in one transaction."""

    @abstractmethod
    def close(self) -> None: ...

    # -- the store ------------------------------------------------------------------------

    def check_master(self) -> None:
        """Raise WrongMasterKeyError unless the master key is the one the store was
        written with (on a new store, record it as that one)."""
        stored = self._check_value(wrap(self.master, _CHECK_KEY))
        if unwrap(self.master, stored) != _CHECK_KEY:
            raise WrongMasterKeyError("the master key check does not match")

    def key_for(self, subject: uuid.UUID) -> bytes | None:
        """The subject's data key; None when it has none or it was destroyed."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        exists, wrapped = self._load(subject)
        key = unwrap(self.master, wrapped) if wrapped is not None else None
        if exists:
            with self._lock:
                self._cache[subject] = (now, key)
        return key

    def ensure_key(self, subject: uuid.UUID) -> bytes:
        """The subject's data key, made now if they have none; ErasedError once erased."""
        key = self.key_for(subject)
        if key is not None:
            return key
        exists, _ = self._load(subject)
        if exists:
            raise ErasedError("The patient was erased: nothing new is recorded about them.")
        self._insert(subject, wrap(self.master, self.random_bytes(KEY_BYTES)))
        with self._lock:
            self._cache.pop(subject, None)
        key = self.key_for(subject)
        if key is None:
            raise ErasedError("The patient was erased: nothing new is recorded about them.")
        return key

    def destroy(self, subject: uuid.UUID) -> bool:
        """Destroy the subject's key for good (idempotent); True when this call did."""
        destroyed = self._tombstone(subject)
        with self._lock:
            self._cache[subject] = (time.monotonic(), None)
        return destroyed

    def is_erased(self, subject: uuid.UUID) -> bool:
        """The subject was erased (cached like keys: answered from memory for at most
        `cache_seconds` after this process last looked)."""
        known = self.erased_in_memory(subject)
        if known is not None:
            return known
        exists, wrapped = self._load(subject)
        if exists:
            key = unwrap(self.master, wrapped) if wrapped is not None else None
            with self._lock:
                self._cache[subject] = (time.monotonic(), key)
        return exists and wrapped is None

    def erased_in_memory(self, subject: uuid.UUID) -> bool | None:
        """`is_erased` when the cache can answer it, else None (the store must be read):
        lets a caller on an event loop skip a thread when nothing needs reading."""
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1] is None
        return None

    def rotate(self, new_master: bytes) -> int:
        """Re-wrap every data key with `new_master`, in one transaction; the log and the
        read models are untouched. Returns how many keys were re-wrapped."""
        if len(new_master) != KEY_BYTES:
            raise WrongMasterKeyError(f"the master key must be {KEY_BYTES} bytes")
        self.check_master()
        count = self._rewrap_all(
            lambda wrapped: wrap(new_master, unwrap(self.master, wrapped)),
            wrap(new_master, _CHECK_KEY),
        )
        self.master = new_master
        return count


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS patient_keys (
    subject TEXT PRIMARY KEY,
    wrapped BLOB,
    erased INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1), wrapped BLOB NOT NULL
);
"""


class SQLiteKeyStore(KeyStore):
    """`keys.sqlite3` in the data directory, with `secure_delete` on: a destroyed key is
    overwritten with zeros in its page, and erasure checkpoints the WAL with truncation,
    so the key lingers neither in free pages nor in the WAL."""

    def __init__(self, path: Path | str, master: bytes, **kw: Any) -> None:
        super().__init__(master, **kw)
        self.path = str(path)
        # `secure_delete`: a destroyed key's bytes are overwritten, not left in a free page.
        self._connections = SQLiteConnections(self.path, ("PRAGMA secure_delete=ON", *DURABLE))
        self._conn().executescript(_SQLITE_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.conn()

    def _load(self, subject: uuid.UUID) -> tuple[bool, bytes | None]:
        row = (
            self._conn()
            .execute("SELECT wrapped FROM patient_keys WHERE subject = ?", (str(subject),))
            .fetchone()
        )
        return (row is not None, bytes(row[0]) if row and row[0] is not None else None)

    def _insert(self, subject: uuid.UUID, wrapped: bytes) -> None:
        self._conn().execute(
            "INSERT INTO patient_keys (subject, wrapped) VALUES (?, ?) "
            "ON CONFLICT (subject) DO NOTHING",
            (str(subject), wrapped),
        )

    def _tombstone(self, subject: uuid.UUID) -> bool:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT wrapped FROM patient_keys WHERE subject = ?", (str(subject),)
            ).fetchone()
            conn.execute(
                "INSERT INTO patient_keys (subject, wrapped, erased) VALUES (?, NULL, 1) "
                "ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, erased = 1",
                (str(subject),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # The old page image is in the WAL until a checkpoint copies and truncates it.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return row is not None and row[0] is not None

    def _check_value(self, write: bytes) -> bytes:
        conn = self._conn()
        conn.execute(
            "INSERT INTO key_check (id, wrapped) VALUES (1, ?) ON CONFLICT DO NOTHING", (write,)
        )
        return bytes(conn.execute("SELECT wrapped FROM key_check WHERE id = 1").fetchone()[0])

    def _rewrap_all(self, rewrap: Callable[[bytes], bytes], check: bytes) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT subject, wrapped FROM patient_keys WHERE wrapped IS NOT NULL"
            ).fetchall()
            conn.executemany(
                "UPDATE patient_keys SET wrapped = ? WHERE subject = ?",
                [(rewrap(bytes(w)), s) for s, w in rows],
            )
            conn.execute("UPDATE key_check SET wrapped = ? WHERE id = 1", (check,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(rows)

    def close(self) -> None:
        self._connections.close()


_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS patient_keys (
    subject UUID PRIMARY KEY,
    wrapped BYTEA,
    erased BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1), wrapped BYTEA NOT NULL
);
"""


class PostgresKeyStore(KeyStore):
    """`patient_keys` in the deployment's schema. A destroyed key's old row version stays
    in the table file until VACUUM reclaims it (erasure runs one on the table) and in the
    WAL until its segments are recycled (docs/privacy.md)."""

    def __init__(
        self, conninfo: str, schema: str, master: bytes, create_tables: bool = True, **kw: Any
    ) -> None:
        super().__init__(master, **kw)
        self.conninfo = conninfo
        self.schema = schema
        self._lock_conn = threading.Lock()
        self._conn_: Any = None
        if create_tables:
            with self._connection() as conn:
                conn.execute("SELECT pg_advisory_lock(hashtext('careloop_key_schema'))")
                try:
                    conn.execute(_POSTGRES_SCHEMA)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(hashtext('careloop_key_schema'))")

    def _connection(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=2,
            options=f"-c search_path={self.schema}",
        )

    def _cursor(self) -> Any:
        if self._conn_ is None or self._conn_.closed or self._conn_.broken:
            self._conn_ = self._connection()
        return self._conn_

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock_conn:
            return list(self._once_more_if_broken(sql, params).fetchall())

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self._lock_conn:
            self._once_more_if_broken(sql, params)

    def _once_more_if_broken(self, sql: str, params: tuple[Any, ...]) -> Any:
        """Run one statement (each of `_rows` and `_run`'s is idempotent); when the
        connection turns out broken (a database restart since its last use), once more on
        a new one, instead of failing the request that found it out."""
        try:
            return self._cursor().execute(sql, params)
        except Exception:
            if self._conn_ is None or not self._conn_.broken:
                raise
            return self._cursor().execute(sql, params)

    def _load(self, subject: uuid.UUID) -> tuple[bool, bytes | None]:
        rows = self._rows("SELECT wrapped FROM patient_keys WHERE subject = %s", (subject,))
        return (bool(rows), bytes(rows[0][0]) if rows and rows[0][0] is not None else None)

    def _insert(self, subject: uuid.UUID, wrapped: bytes) -> None:
        self._run(
            "INSERT INTO patient_keys (subject, wrapped) VALUES (%s, %s) "
            "ON CONFLICT (subject) DO NOTHING",
            (subject, wrapped),
        )

    def _tombstone(self, subject: uuid.UUID) -> bool:
        with self._lock_conn:
            conn = self._cursor()
            with conn.transaction():
                row = conn.execute(
                    "SELECT wrapped FROM patient_keys WHERE subject = %s FOR UPDATE", (subject,)
                ).fetchone()
                conn.execute(
                    "INSERT INTO patient_keys (subject, wrapped, erased) VALUES (%s, NULL, TRUE) "
                    "ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, erased = TRUE",
                    (subject,),
                )
        self._run("VACUUM patient_keys")  # the old row version, out of the table file
        return row is not None and row[0] is not None

    def _check_value(self, write: bytes) -> bytes:
        self._run(
            "INSERT INTO key_check (id, wrapped) VALUES (1, %s) ON CONFLICT DO NOTHING", (write,)
        )
        return bytes(self._rows("SELECT wrapped FROM key_check WHERE id = 1")[0][0])

    def _rewrap_all(self, rewrap: Callable[[bytes], bytes], check: bytes) -> int:
        with self._connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT subject, wrapped FROM patient_keys WHERE wrapped IS NOT NULL FOR UPDATE"
            ).fetchall()
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE patient_keys SET wrapped = %s WHERE subject = %s",
                    [(rewrap(bytes(w)), s) for s, w in rows],
                )
            conn.execute("UPDATE key_check SET wrapped = %s WHERE id = 1", (check,))
        return len(rows)

    def close(self) -> None:
        with self._lock_conn:
            if self._conn_ is not None:
                self._conn_.close()
