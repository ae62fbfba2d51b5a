"""Every row of a read-model table, streamed in pages from the store's own database,
read-only. The store's `list` loads a whole table; a table can be large, so this reads it
through a cursor instead (SQLite: a read-only connection to the store's file; PostgreSQL: a
server-side cursor in a read-only transaction on a connection of the store's pool)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pyarrow as pa

from domain.privacy.personal import SEALED
from projections.export.personal import RowOpener
from projections.platform.store import PostgresReadStore, ReadStore, SQLiteReadStore, checked

ROWS_SCHEMA = pa.schema([("id", pa.string()), ("tenant_id", pa.string()), ("doc", pa.string())])

Row = tuple[str, str | None, str]
_SEALED_KEY = f'"{SEALED}"'


def rows_of(store: ReadStore, table: str, page: int) -> Iterator[list[Row]]:
    """The rows of `table` (id, tenant_id, doc as JSON text), in id order, `page` at a time."""
    t = checked(table)
    if isinstance(store, SQLiteReadStore):
        yield from _sqlite_rows(store.path, t, page)
    elif isinstance(store, PostgresReadStore):
        yield from _postgres_rows(store, t, page)
    else:  # another store (a test double): its own `list`, the whole table at once
        docs = store.list(t)
        rows: list[Row] = [(str(d.get("id", i)), None, json.dumps(d)) for i, d in enumerate(docs)]
        for start in range(0, len(rows), page):
            yield rows[start : start + page]


def _sqlite_rows(path: str, table: str, page: int) -> Iterator[list[Row]]:
    conn = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        # One read transaction: the whole table as of one instant, however long it takes.
        conn.execute("BEGIN")
        cursor = conn.execute(f"SELECT id, tenant_id, doc FROM {table} ORDER BY id")
        while rows := cursor.fetchmany(page):
            yield rows
        conn.execute("COMMIT")
    finally:
        conn.close()


def _postgres_rows(store: PostgresReadStore, table: str, page: int) -> Iterator[list[Row]]:
    with store.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        with conn.cursor(name=f"careloop_export_{table}") as cursor:
            cursor.itersize = page
            cursor.execute(f"SELECT id, tenant_id, doc::text FROM {table} ORDER BY id")
            while rows := cursor.fetchmany(page):
                yield rows


def opened_batch(rows: list[Row], opener: RowOpener) -> pa.RecordBatch:
    """Rows as a record batch, each document's sealed personal values opened (or redacted,
    or null once erased: `opener`)."""
    ids, tenants, docs = [], [], []
    for key, tenant, doc in rows:
        ids.append(key)
        tenants.append(tenant)
        # Most documents hold no personal text: they are written as they are stored.
        if _SEALED_KEY in doc:
            doc = json.dumps(opener.open(json.loads(doc)), separators=(",", ":"))
        docs.append(doc)
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.string()), pa.array(tenants, pa.string()), pa.array(docs, pa.string())],
        schema=ROWS_SCHEMA,
    )
