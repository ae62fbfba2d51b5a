"""Read-model storage: JSON documents keyed by id, plus one tracking row per projection.

Both backends implement one interface, so every projection runs unchanged on SQLite (the
embedded default) and PostgreSQL, and one contract test checks both. A batch of rows and
the projection's new position are written in one transaction, guarded by the position the
batch started from: if another runner moved it, the whole batch rolls back.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from domain.privacy.personal import sealed_json
from domain.shared.pool_checks import check_when_due, watch

Doc = dict[str, Any]
Docs = list[Doc]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked(identifier: str) -> str:
    if not _IDENT.match(identifier):
        raise ValueError(f"not a safe SQL identifier: {identifier!r}")
    return identifier


# Rows are written with orjson (less time holding the GIL than json in the committing
# thread); the same JSON, with non-ASCII as UTF-8 rather than escapes.
_ROW_OPTIONS = orjson.OPT_NON_STR_KEYS

# Below this many rows a read-model commit upserts row by row; from it on, through COPY.
COPY_THRESHOLD = 50

# One row per rebuild target (a read model, or an analyst's scratch copy of one).
REBUILD_COLUMNS = (
    "target",
    "projection",
    "suffix",
    "params",
    "swap",
    "status",
    "started_at",
    "resumed_at",
    "resumed_position",
    "finished_at",
    "position",
    "error",
)


class TrackingConflictError(RuntimeError):
    """Another runner advanced this projection first; the batch was rolled back."""


@dataclass
class Changes:
    """The rows one batch writes: (table, id) -> (tenant_id, doc), or None to delete."""

    rows: dict[tuple[str, str], tuple[str | None, Doc] | None] = field(default_factory=dict)

    def upserts(self, table: str) -> list[tuple[str, str | None, str]]:
        return [
            # A patient's personal text goes in as its event's ciphertext (PersonalText).
            (key, v[0], orjson.dumps(v[1], default=sealed_json, option=_ROW_OPTIONS).decode())
            for (t, key), v in self.rows.items()
            if t == table and v is not None
        ]

    def deletes(self, table: str) -> list[tuple[str]]:
        return [(key,) for (t, key), v in self.rows.items() if t == table and v is None]

    def tables(self) -> set[str]:
        return {t for t, _ in self.rows}


class FoldStore(Protocol):
    """What a projection runner folds into: a read store, or a rebuild's new tables."""

    def create(
        self, name: str, tables: Iterable[str], sorted_by: Mapping[str, str] | None = None
    ) -> None: ...
    def position(self, name: str) -> int: ...
    def get(self, table: str, key: str) -> Doc | None: ...
    def get_many(self, table: str, keys: Iterable[str]) -> dict[str, Doc]: ...
    def list(self, table: str, tenant_id: str | None = None) -> list[Doc]: ...
    def commit(self, name: str, expected: int, position: int, changes: Changes) -> None: ...
    def elect(self, name: str) -> AbstractContextManager[bool]: ...


class ReadStore(ABC):
    """Documents and tracking positions, on one database."""

    def __init__(self) -> None:
        self._sorted_by: dict[str, str] = {}

    def _remember_sorting(self, sorted_by: Mapping[str, str] | None) -> None:
        for table, field_name in (sorted_by or {}).items():
            self._sorted_by[checked(table)] = field_name

    def _sort_keys(self, table: str, changes: Changes) -> list[tuple[str | None, str]]:
        field_name = self._sorted_by[table]
        return [
            (v[1].get(field_name), key)
            for (t, key), v in changes.rows.items()
            if t == table and v is not None
        ]

    @abstractmethod
    def create(
        self, name: str, tables: Iterable[str], sorted_by: Mapping[str, str] | None = None
    ) -> None:
        """Create a projection's tables and tracking row if they do not exist.

        `sorted_by` maps a table to the document field kept in its indexed `sort_key`
        column, for the tables that are queried by range (`upto`, `first`)."""

    @abstractmethod
    def upto(self, table: str, sort_key: str, limit: int) -> list[Doc]:
        """Rows whose sort key is at most `sort_key`, smallest first: an index range
        scan that reads only those rows."""

    @abstractmethod
    def first(self, table: str) -> Doc | None:
        """The row with the smallest sort key, or None."""

    @abstractmethod
    def page(
        self, table: str, tenant_id: str | None, after: str, below: str, limit: int
    ) -> list[Doc]:
        """Rows (of one tenant, or all) with `after < sort_key < below`, in key order."""

    @abstractmethod
    def position(self, name: str) -> int: ...

    @abstractmethod
    def get(self, table: str, key: str) -> Doc | None: ...

    @abstractmethod
    def get_many(self, table: str, keys: Iterable[str]) -> dict[str, Doc]: ...

    @abstractmethod
    def list(self, table: str, tenant_id: str | None = None) -> list[Doc]:
        """Every row of a table, or of one tenant, in insertion-independent id order."""

    @abstractmethod
    def commit(self, name: str, expected: int, position: int, changes: Changes) -> None:
        """Write `changes` and move the tracking row from `expected` to `position`, atomically."""

    @abstractmethod
    def reset(self, name: str, tables: Iterable[str]) -> None:
        """Empty a projection's tables and set its position to 0 (tests and rebuilds)."""

    def elect(self, name: str) -> AbstractContextManager[bool]:
        """Hold the right to run projection `name`; yields False if another process has it."""
        return nullcontext(True)

    @abstractmethod
    def close(self) -> None: ...


class RebuildableStore(ReadStore):
    """A read store that keeps rebuild records and can swap a build's tables in."""

    @abstractmethod
    def tracked(self, name: str) -> int | None:
        """The position of projection `name`, or None if it has no tracking table."""

    @abstractmethod
    def drop(self, name: str, tables: Iterable[str]) -> None:
        """Drop a projection's tables and its tracking table, if they exist."""

    @abstractmethod
    def swap(
        self,
        name: str,
        tables: Sequence[str],
        build: str,
        build_tables: Sequence[str],
        fold_rest: Callable[[int, int], tuple[int, Changes]],
        finished: Callable[[int], Mapping[str, Any]],
    ) -> int:
        """Replace a projection's live tables by the build's, in one transaction.

        The live tracking row is held first (the live runner cannot commit meanwhile);
        `fold_rest(build_position, live_position)` folds what the build lacks and returns
        its end and rows (for the build tables); those rows, the renames, the live
        position and the rebuild's record (`finished(end)`: the columns to set) all
        commit together. Returns the live read model's new position."""

    @abstractmethod
    def prepare_rebuilds(self) -> None:
        """Create the table of rebuild records if it does not exist."""

    @abstractmethod
    def begin_rebuild(self, record: Mapping[str, Any]) -> bool:
        """Record a rebuild of `record["target"]`; False if one of it is running."""

    @abstractmethod
    def rebuilds(self) -> Docs:
        """Every rebuild record, running or finished."""

    @abstractmethod
    def update_rebuild(self, target: str, values: Mapping[str, Any]) -> None: ...

    def elect_rebuild(self, target: str) -> AbstractContextManager[bool]:
        """Hold the right to drive the rebuild of `target`, across processes."""
        return nullcontext(True)


class SQLiteReadStore(RebuildableStore):
    """Read models in one SQLite file (WAL mode); one connection per thread."""

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = str(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def create(
        self, name: str, tables: Iterable[str], sorted_by: Mapping[str, str] | None = None
    ) -> None:
        self._remember_sorting(sorted_by)
        conn = self._conn()
        with self._write_lock:
            for table in tables:
                t = checked(table)
                sorted_table = t in self._sorted_by
                columns = "id TEXT PRIMARY KEY, tenant_id TEXT, doc TEXT NOT NULL"
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {t} ({columns}"
                    + (", sort_key TEXT)" if sorted_table else ")")
                )
                if sorted_table and not self._has_column(conn, t, "sort_key"):
                    # A table from before its read model was sorted: the column is added
                    # (empty until the read model is rebuilt; docs/decisions/0033).
                    conn.execute(f"ALTER TABLE {t} ADD COLUMN sort_key TEXT")
                # A table a rebuild swapped in keeps its indexes under the build's names
                # (SQLite cannot rename an index): look for them by column, not by name.
                if sorted_table and not self._indexed(conn, t, "sort_key"):
                    conn.execute(f"CREATE INDEX {t}_sort ON {t} (sort_key)")
                if not self._indexed(conn, t, "tenant_id"):
                    conn.execute(f"CREATE INDEX {t}_tenant ON {t} (tenant_id)")
            tracking = checked(f"{name}_tracking")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {tracking} "
                "(id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL)"
            )
            conn.execute(f"INSERT OR IGNORE INTO {tracking} (id, position) VALUES (1, 0)")

    @staticmethod
    def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
        return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))

    @staticmethod
    def _indexed(conn: sqlite3.Connection, table: str, column: str) -> bool:
        for _, index, *_ in conn.execute(f"PRAGMA index_list({table})").fetchall():
            first = conn.execute(f"PRAGMA index_info({checked(index)})").fetchone()
            if first is not None and first[2] == column:
                return True
        return False

    def position(self, name: str) -> int:
        row = (
            self._conn()
            .execute(f"SELECT position FROM {checked(name + '_tracking')} WHERE id = 1")
            .fetchone()
        )
        return int(row[0]) if row else 0

    def get(self, table: str, key: str) -> Doc | None:
        row = (
            self._conn()
            .execute(f"SELECT doc FROM {checked(table)} WHERE id = ?", (key,))
            .fetchone()
        )
        return orjson.loads(row[0]) if row else None

    def get_many(self, table: str, keys: Iterable[str]) -> dict[str, Doc]:
        keys = list(keys)
        found: dict[str, Doc] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, doc in self._conn().execute(
                f"SELECT id, doc FROM {checked(table)} WHERE id IN ({marks})", chunk
            ):
                found[key] = orjson.loads(doc)
        return found

    def list(self, table: str, tenant_id: str | None = None) -> list[Doc]:
        t = checked(table)
        if tenant_id is None:
            rows = self._conn().execute(f"SELECT doc FROM {t} ORDER BY id")
        else:
            rows = self._conn().execute(
                f"SELECT doc FROM {t} WHERE tenant_id = ? ORDER BY id", (tenant_id,)
            )
        return [orjson.loads(doc) for (doc,) in rows]

    def upto(self, table: str, sort_key: str, limit: int) -> Docs:
        rows = self._conn().execute(
            f"SELECT doc FROM {checked(table)} WHERE sort_key <= ? ORDER BY sort_key LIMIT ?",
            (sort_key, limit),
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def first(self, table: str) -> Doc | None:
        row = (
            self._conn()
            .execute(
                f"SELECT doc FROM {checked(table)} WHERE sort_key IS NOT NULL "
                "ORDER BY sort_key LIMIT 1"
            )
            .fetchone()
        )
        return orjson.loads(row[0]) if row else None

    def page(self, table: str, tenant_id: str | None, after: str, below: str, limit: int) -> Docs:
        rows = self._conn().execute(*self.page_statement(table, tenant_id, after, below, limit))
        return [orjson.loads(doc) for (doc,) in rows]

    @staticmethod
    def page_statement(
        table: str, tenant_id: str | None, after: str, below: str, limit: int
    ) -> tuple[str, Sequence[object]]:
        """The query `page` runs (tests read its plan)."""
        where = "sort_key > ? AND sort_key < ?"
        params: list[object] = [after, below]
        if tenant_id is not None:
            where += " AND tenant_id = ?"
            params.append(tenant_id)
        sql = f"SELECT doc FROM {checked(table)} WHERE {where} ORDER BY sort_key LIMIT ?"
        return sql, [*params, limit]

    def commit(self, name: str, expected: int, position: int, changes: Changes) -> None:
        conn = self._conn()
        tracking = checked(f"{name}_tracking")
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._write(conn, changes)
                cur = conn.execute(
                    f"UPDATE {tracking} SET position = ? WHERE id = 1 AND position = ?",
                    (position, expected),
                )
                if cur.rowcount != 1:
                    raise TrackingConflictError(f"{name} moved past {expected}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _write(self, conn: sqlite3.Connection, changes: Changes) -> None:
        for table in changes.tables():
            t = checked(table)
            conn.executemany(
                f"INSERT INTO {t} (id, tenant_id, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, "
                "doc = excluded.doc",
                changes.upserts(table),
            )
            conn.executemany(f"DELETE FROM {t} WHERE id = ?", changes.deletes(table))
            if t in self._sorted_by:
                conn.executemany(
                    f"UPDATE {t} SET sort_key = ? WHERE id = ?", self._sort_keys(t, changes)
                )

    def reset(self, name: str, tables: Iterable[str]) -> None:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table in tables:
                    conn.execute(f"DELETE FROM {checked(table)}")
                conn.execute(f"UPDATE {checked(name + '_tracking')} SET position = 0")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- blue/green rebuilds ------------------------------------------------------------

    def tracked(self, name: str) -> int | None:
        try:
            return self.position(name)
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return None
            raise

    def drop(self, name: str, tables: Iterable[str]) -> None:
        conn = self._conn()
        with self._write_lock:
            for table in [*tables, f"{name}_tracking"]:
                conn.execute(f"DROP TABLE IF EXISTS {checked(table)}")

    def swap(
        self,
        name: str,
        tables: Sequence[str],
        build: str,
        build_tables: Sequence[str],
        fold_rest: Callable[[int, int], tuple[int, Changes]],
        finished: Callable[[int], Mapping[str, Any]],
    ) -> int:
        conn = self._conn()
        with self._write_lock:
            # The write lock of the whole file: the live runner (of any process) waits.
            conn.execute("BEGIN IMMEDIATE")
            try:
                live, at = self.position(name), self.position(build)
                end, changes = fold_rest(at, live)
                self._write(conn, changes)
                for table, built in zip(tables, build_tables, strict=True):
                    conn.execute(f"DROP TABLE {checked(table)}")
                    conn.execute(f"ALTER TABLE {checked(built)} RENAME TO {checked(table)}")
                conn.execute(
                    f"UPDATE {checked(name + '_tracking')} SET position = ? WHERE id = 1",
                    (end,),
                )
                conn.execute(f"DROP TABLE {checked(build + '_tracking')}")
                self._set_rebuild(conn, finished(end))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return end

    def prepare_rebuilds(self) -> None:
        with self._write_lock:
            self._conn().execute(
                "CREATE TABLE IF NOT EXISTS projection_rebuilds (target TEXT PRIMARY KEY, "
                "projection TEXT NOT NULL, suffix TEXT NOT NULL, params TEXT NOT NULL, "
                "swap INTEGER NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, "
                "resumed_at TEXT, resumed_position INTEGER, finished_at TEXT, "
                "position INTEGER, error TEXT)"
            )

    def begin_rebuild(self, record: Mapping[str, Any]) -> bool:
        columns = [c for c in REBUILD_COLUMNS if c in record]
        sets = ", ".join(f"{c} = excluded.{c}" for c in REBUILD_COLUMNS if c != "target")
        with self._write_lock:
            cur = self._conn().execute(
                f"INSERT INTO projection_rebuilds ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT (target) DO UPDATE "
                f"SET {sets} WHERE projection_rebuilds.status <> 'rebuilding'",
                [_sql_value(record[c]) for c in columns],
            )
            return cur.rowcount == 1

    def rebuilds(self) -> Docs:
        cur = self._conn().execute(
            f"SELECT {', '.join(REBUILD_COLUMNS)} FROM projection_rebuilds ORDER BY target"
        )
        return [_rebuild_row(row) for row in cur]

    def update_rebuild(self, target: str, values: Mapping[str, Any]) -> None:
        with self._write_lock:
            self._set_rebuild(self._conn(), {**values, "target": target})

    @staticmethod
    def _set_rebuild(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
        columns = [c for c in values if c != "target"]
        assert set(columns) <= set(REBUILD_COLUMNS)
        conn.execute(
            f"UPDATE projection_rebuilds SET {', '.join(f'{c} = ?' for c in columns)} "
            "WHERE target = ?",
            [*(_sql_value(values[c]) for c in columns), values["target"]],
        )

    @contextmanager
    def elect_rebuild(self, target: str) -> Iterator[bool]:
        """An exclusive lock on a file beside the database: released by the kernel when
        its process dies, even by `kill -9`, so an interrupted rebuild can be resumed."""
        import fcntl

        path = Path(self.path).with_name(f".rebuild-{checked(target)}.lock")
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class PostgresReadStore(RebuildableStore):
    """Read models in PostgreSQL (JSONB documents) through a psycopg_pool pool."""

    def __init__(self, conninfo: str, schema: str = "public", max_size: int = 10) -> None:
        from psycopg_pool import ConnectionPool

        super().__init__()
        self.conninfo = conninfo
        self.schema = checked(schema)
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={"options": f"-c search_path={self.schema}", "autocommit": True},
            # A connection broken by a database restart is found out before it is used,
            # and a request waits at most a few seconds for one (then 503s).
            check=check_when_due,
            configure=_documents_by_orjson,
            timeout=2.0,
            open=True,
        )
        watch(self.pool)
        self._election_lock = threading.Lock()
        self._election_conn: Any = None

    def create(
        self, name: str, tables: Iterable[str], sorted_by: Mapping[str, str] | None = None
    ) -> None:
        self._remember_sorting(sorted_by)
        tables = list(tables)
        if self._exists(name, tables):
            # Even a no-op ALTER TABLE takes an ACCESS EXCLUSIVE lock, which can deadlock
            # with a runner committing into these tables: touch nothing that is there.
            return
        with self.pool.connection() as conn, conn.transaction():
            # One creator at a time: concurrent CREATE ... IF NOT EXISTS can still collide.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('careloop:ddl'))")
            for table in tables:
                t = checked(table)
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {t} "
                    "(id TEXT PRIMARY KEY, tenant_id TEXT, doc JSONB NOT NULL)"
                )
                if t in self._sorted_by:
                    conn.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS sort_key TEXT")
                    conn.execute(
                        f'CREATE INDEX IF NOT EXISTS {t}_sort ON {t} (sort_key COLLATE "C")'
                    )
                conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_tenant ON {t} (tenant_id)")
            tracking = checked(f"{name}_tracking")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {tracking} "
                "(id INTEGER PRIMARY KEY CHECK (id = 1), position BIGINT NOT NULL)"
            )
            conn.execute(
                f"INSERT INTO {tracking} (id, position) VALUES (1, 0) ON CONFLICT DO NOTHING"
            )

    def _exists(self, name: str, tables: list[str]) -> bool:
        """Every table, its indexes' column and the tracking row are there already."""
        with self.pool.connection() as conn:
            for table in tables:
                column = conn.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s AND column_name = %s",
                    (self.schema, table, "sort_key" if table in self._sorted_by else "doc"),
                ).fetchone()
                if column is None:
                    return False
            tracking = conn.execute(
                "SELECT to_regclass(%s)", (f"{self.schema}.{checked(name + '_tracking')}",)
            ).fetchone()
            if tracking is None or tracking[0] is None:
                return False
            row = conn.execute(
                f"SELECT 1 FROM {checked(name + '_tracking')} WHERE id = 1"
            ).fetchone()
            return row is not None

    def position(self, name: str) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT position FROM {checked(name + '_tracking')} WHERE id = 1"
            ).fetchone()
        return int(row[0]) if row else 0

    def get(self, table: str, key: str) -> Doc | None:
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT doc FROM {checked(table)} WHERE id = %s", (key,)).fetchone()
        return dict(row[0]) if row else None

    def get_many(self, table: str, keys: Iterable[str]) -> dict[str, Doc]:
        keys = list(keys)
        if not keys:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id, doc FROM {checked(table)} WHERE id = ANY(%s)", (keys,)
            ).fetchall()
        return {key: dict(doc) for key, doc in rows}

    def list(self, table: str, tenant_id: str | None = None) -> list[Doc]:
        t = checked(table)
        with self.pool.connection() as conn:
            if tenant_id is None:
                rows = conn.execute(f"SELECT doc FROM {t} ORDER BY id").fetchall()
            else:
                rows = conn.execute(
                    f"SELECT doc FROM {t} WHERE tenant_id = %s ORDER BY id", (tenant_id,)
                ).fetchall()
        return [dict(doc) for (doc,) in rows]

    def upto(self, table: str, sort_key: str, limit: int) -> Docs:
        t = checked(table)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f'SELECT doc FROM {t} WHERE sort_key COLLATE "C" <= %s '
                f'ORDER BY sort_key COLLATE "C" LIMIT %s',
                (sort_key, limit),
            ).fetchall()
        return [dict(doc) for (doc,) in rows]

    def first(self, table: str) -> Doc | None:
        t = checked(table)
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT doc FROM {t} WHERE sort_key IS NOT NULL "
                f'ORDER BY sort_key COLLATE "C" LIMIT 1'
            ).fetchone()
        return dict(row[0]) if row else None

    def page(self, table: str, tenant_id: str | None, after: str, below: str, limit: int) -> Docs:
        with self.pool.connection() as conn:
            rows = conn.execute(
                *self.page_statement(table, tenant_id, after, below, limit)
            ).fetchall()
        return [dict(doc) for (doc,) in rows]

    @staticmethod
    def page_statement(
        table: str, tenant_id: str | None, after: str, below: str, limit: int
    ) -> tuple[str, Sequence[object]]:
        """The query `page` runs (tests read its plan)."""
        where = 'sort_key COLLATE "C" > %s AND sort_key COLLATE "C" < %s'
        params: list[object] = [after, below]
        if tenant_id is not None:
            where += " AND tenant_id = %s"
            params.append(tenant_id)
        sql = (
            f'SELECT doc FROM {checked(table)} WHERE {where} ORDER BY sort_key COLLATE "C" LIMIT %s'
        )
        return sql, [*params, limit]

    def commit(self, name: str, expected: int, position: int, changes: Changes) -> None:
        tracking = checked(f"{name}_tracking")
        with self.pool.connection() as conn, conn.transaction():
            # Rows and tracking commit together, so a commit lost in a crash loses both and
            # the batch is simply applied again: durability can be asynchronous here
            # (never for the event log itself), which saves a WAL flush per batch.
            conn.execute("SET LOCAL synchronous_commit = off")
            cur = conn.execute(
                f"UPDATE {tracking} SET position = %s WHERE id = 1 AND position = %s",
                (position, expected),
            )
            if cur.rowcount != 1:
                raise TrackingConflictError(f"{name} moved past {expected}")
            self._write(conn, changes)

    def _write(self, conn: Any, changes: Changes) -> None:
        for table in changes.tables():
            t = checked(table)
            upserts = changes.upserts(table)
            if 0 < len(upserts) < COPY_THRESHOLD:
                # A live batch of a few rows: plain upserts are the fewest round trips.
                with conn.cursor() as c:
                    c.executemany(
                        f"INSERT INTO {t} (id, tenant_id, doc) VALUES (%s, %s, %s::jsonb) "
                        "ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, "
                        "doc = EXCLUDED.doc",
                        [(k, tn, d.replace("\\u0000", "\\ufffd")) for k, tn, d in upserts],
                    )
            elif upserts:
                # COPY into a session-local staging table, then one set-based upsert:
                # far less client work than one INSERT per row.
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS careloop_stage "
                    "(id text, tenant_id text, doc text) ON COMMIT DELETE ROWS"
                )
                with conn.cursor().copy(
                    "COPY careloop_stage (id, tenant_id, doc) FROM STDIN"
                ) as copy:
                    for key, tenant, doc in upserts:
                        # JSONB cannot hold U+0000: one such string would stall this
                        # read model for good, so it is stored as U+FFFD.
                        copy.write_row((key, tenant, doc.replace("\\u0000", "\\ufffd")))
                conn.execute(
                    f"INSERT INTO {t} (id, tenant_id, doc) "
                    "SELECT id, tenant_id, doc::jsonb FROM careloop_stage "
                    "ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, "
                    "doc = EXCLUDED.doc"
                )
                conn.execute("DELETE FROM careloop_stage")
            deletes = changes.deletes(table)
            if deletes:
                conn.execute(f"DELETE FROM {t} WHERE id = ANY(%s)", ([key for (key,) in deletes],))
            if t in self._sorted_by and upserts:
                sort_keys = self._sort_keys(t, changes)
                conn.execute(
                    f"UPDATE {t} SET sort_key = v.sort_key FROM "
                    f"unnest(%s::text[], %s::text[]) AS v(sort_key, id) WHERE {t}.id = v.id",
                    ([k for k, _ in sort_keys], [i for _, i in sort_keys]),
                )

    def reset(self, name: str, tables: Iterable[str]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            for table in tables:
                conn.execute(f"DELETE FROM {checked(table)}")
            conn.execute(f"UPDATE {checked(name + '_tracking')} SET position = 0")

    @contextmanager
    def elect(self, name: str) -> Iterator[bool]:
        """A session-level advisory lock: one runner per projection across processes.

        Every election of this store shares one session, so a process holds one
        connection for all its runners rather than one each."""
        import psycopg

        key = f"careloop:projection:{self.schema}.{name}"
        with self._election_lock:
            if self._election_conn is None or self._election_conn.closed:
                self._election_conn = psycopg.connect(self.conninfo, autocommit=True)
            conn = self._election_conn
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        won = bool(row and row[0])
        try:
            yield won
        finally:
            if won:
                with self._election_lock, suppress(psycopg.Error):
                    # A broken session has released its locks already.
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    # -- blue/green rebuilds ------------------------------------------------------------

    def tracked(self, name: str) -> int | None:
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT to_regclass(%s)", (f"{self.schema}.{checked(name + '_tracking')}",)
            ).fetchone()
        return None if found is None or found[0] is None else self.position(name)

    def drop(self, name: str, tables: Iterable[str]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            for table in [*tables, f"{name}_tracking"]:
                conn.execute(f"DROP TABLE IF EXISTS {checked(table)}")

    def swap(
        self,
        name: str,
        tables: Sequence[str],
        build: str,
        build_tables: Sequence[str],
        fold_rest: Callable[[int, int], tuple[int, Changes]],
        finished: Callable[[int], Mapping[str, Any]],
    ) -> int:
        with self.pool.connection() as conn, conn.transaction():
            # A reader that holds a live table for long must not queue every later reader
            # behind this swap: give up after a while (the rebuild tries again).
            conn.execute("SET LOCAL lock_timeout = '5s'")
            live = conn.execute(
                f"SELECT position FROM {checked(name + '_tracking')} WHERE id = 1 FOR UPDATE"
            ).fetchone()[0]
            at = conn.execute(
                f"SELECT position FROM {checked(build + '_tracking')} WHERE id = 1"
            ).fetchone()[0]
            end, changes = fold_rest(int(at), int(live))
            self._write(conn, changes)
            for table, built in zip(tables, build_tables, strict=True):
                t, b = checked(table), checked(built)
                conn.execute(f"DROP TABLE {t}")
                conn.execute(f"ALTER TABLE {b} RENAME TO {t}")
                # The indexes take the live names again, for the next rebuild's sake.
                conn.execute(f"ALTER TABLE {t} RENAME CONSTRAINT {b}_pkey TO {t}_pkey")
                conn.execute(f"ALTER INDEX IF EXISTS {b}_tenant RENAME TO {t}_tenant")
                conn.execute(f"ALTER INDEX IF EXISTS {b}_sort RENAME TO {t}_sort")
            conn.execute(
                f"UPDATE {checked(name + '_tracking')} SET position = %s WHERE id = 1", (end,)
            )
            conn.execute(f"DROP TABLE {checked(build + '_tracking')}")
            self._set_rebuild(conn, finished(end))
        return int(end)

    def prepare_rebuilds(self) -> None:
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT to_regclass(%s)", (f"{self.schema}.projection_rebuilds",)
            ).fetchone()
            if found is not None and found[0] is not None:
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('careloop:ddl'))")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS projection_rebuilds (target TEXT PRIMARY KEY, "
                    "projection TEXT NOT NULL, suffix TEXT NOT NULL, params JSONB NOT NULL, "
                    "swap BOOLEAN NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, "
                    "resumed_at TEXT, resumed_position BIGINT, finished_at TEXT, "
                    "position BIGINT, error TEXT)"
                )

    def begin_rebuild(self, record: Mapping[str, Any]) -> bool:
        columns = [c for c in REBUILD_COLUMNS if c in record]
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in REBUILD_COLUMNS if c != "target")
        with self.pool.connection() as conn:
            cur = conn.execute(
                f"INSERT INTO projection_rebuilds ({', '.join(columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT (target) DO UPDATE "
                f"SET {sets} WHERE projection_rebuilds.status <> 'rebuilding'",
                [_pg_value(record[c]) for c in columns],
            )
            return cur.rowcount == 1

    def rebuilds(self) -> Docs:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(REBUILD_COLUMNS)} FROM projection_rebuilds ORDER BY target"
            ).fetchall()
        return [_rebuild_row(row) for row in rows]

    def update_rebuild(self, target: str, values: Mapping[str, Any]) -> None:
        with self.pool.connection() as conn:
            self._set_rebuild(conn, {**values, "target": target})

    @staticmethod
    def _set_rebuild(conn: Any, values: Mapping[str, Any]) -> None:
        columns = [c for c in values if c != "target"]
        assert set(columns) <= set(REBUILD_COLUMNS)
        conn.execute(
            f"UPDATE projection_rebuilds SET {', '.join(f'{c} = %s' for c in columns)} "
            "WHERE target = %s",
            [*(_pg_value(values[c]) for c in columns), values["target"]],
        )

    def elect_rebuild(self, target: str) -> AbstractContextManager[bool]:
        return self.elect(f"rebuild:{target}")

    def close(self) -> None:
        with self._election_lock:
            if self._election_conn is not None:
                self._election_conn.close()
                self._election_conn = None
        self.pool.close()


def _sql_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_value(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value) if isinstance(value, dict) else value


def _rebuild_row(row: Sequence[Any]) -> dict[str, Any]:
    record = dict(zip(REBUILD_COLUMNS, row, strict=True))
    record["params"] = (
        record["params"] if isinstance(record["params"], dict) else json.loads(record["params"])
    )
    record["swap"] = bool(record["swap"])
    return record


def _documents_by_orjson(conn: Any) -> None:
    """JSONB documents parsed by orjson (about 3x faster than json, the same values)."""
    from psycopg.types.json import set_json_loads

    set_json_loads(orjson.loads, conn)


def describe(store: ReadStore) -> Mapping[str, str]:
    if isinstance(store, PostgresReadStore):
        return {"backend": "postgresql", "schema": store.schema}
    assert isinstance(store, SQLiteReadStore)
    return {"backend": "sqlite", "path": store.path}
