"""An audit store that refuses writes for real: a trigger on its table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.support.app import Api


@contextmanager
def refusing(api: Api, when: str = "1") -> Iterator[None]:
    """The audit store rejects every insert of an entry matching `when` (SQL on NEW)."""
    settings = api.runtime.settings
    if settings.is_embedded:
        path = settings.data_dir / "audit.sqlite3"
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_entries "
                f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        try:
            yield
        finally:
            with sqlite3.connect(path) as conn:
                conn.execute("DROP TRIGGER refuse")
        return
    assert settings.database_url
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {settings.database_schema}")
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_entries FOR EACH ROW "
            f"WHEN ({when}) EXECUTE FUNCTION refuse()"
        )
        try:
            yield
        finally:
            conn.execute("DROP TRIGGER refuse ON audit_entries")
            conn.execute("DROP FUNCTION refuse()")
