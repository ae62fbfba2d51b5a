"""One SQLite connection per thread to one file, in autocommit mode (transactions are
explicit), WAL, a busy timeout, and whatever else the store asks for."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

DURABLE = ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=10000", "PRAGMA synchronous=FULL")


class SQLiteConnections:
    def __init__(self, path: str, pragmas: Sequence[str] = DURABLE) -> None:
        self.path = path
        self.pragmas = tuple(pragmas)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in self.pragmas:
                conn.execute(pragma)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
