"""Personal text in tests: an in-memory key store and the transcoding that seals with it,
for logs built without a runtime (registered on a bare `EventLog()` as the runtime does
on its own, bootstrap/runtime.py); and everything a runtime wrote, as bytes to scan for
plaintext."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from eventsourcing.persistence import JSONTranscoder

from bootstrap.runtime import Runtime
from domain.privacy.keys import KeyStore
from domain.privacy.personal import PersonalTextTranscoding, Sealer
from domain.shared.eventlog import EventLog


class MemoryKeyStore(KeyStore):
    """Keys in a dict: a test's key store, without a file or a database."""

    def __init__(self) -> None:
        super().__init__(bytes(32), cache_seconds=0)
        self.rows: dict[uuid.UUID, bytes | None] = {}
        self.check: bytes | None = None

    def _load(self, subject: uuid.UUID) -> tuple[bool, bytes | None]:
        return subject in self.rows, self.rows.get(subject)

    def _insert(self, subject: uuid.UUID, wrapped: bytes) -> None:
        self.rows.setdefault(subject, wrapped)

    def _tombstone(self, subject: uuid.UUID) -> bool:
        had = self.rows.get(subject) is not None
        self.rows[subject] = None
        return had

    def _check_value(self, write: bytes) -> bytes:
        if self.check is None:
            self.check = write
        return self.check

    def _rewrap_all(self, rewrap: Callable[[bytes], bytes], check: bytes) -> int:
        live = {s: w for s, w in self.rows.items() if w is not None}
        self.rows.update({s: rewrap(w) for s, w in live.items()})
        self.check = check
        return len(live)

    def close(self) -> None:
        return None


def sealing(log: EventLog) -> KeyStore:
    """Seal `log`'s personal text with a new in-memory key store, returned (destroy a
    patient's key in it to erase them)."""
    keys = MemoryKeyStore()
    keys.check_master()
    transcoder = log.mapper.transcoder
    assert isinstance(transcoder, JSONTranscoder)
    transcoder.register(PersonalTextTranscoding(Sealer(keys)))
    return keys


def stored_bytes(runtime: Runtime) -> bytes:
    """Everything a runtime has written, as raw bytes: every file of the embedded data
    directory (the stores and their -wal files), or every value of every row of every
    table of the PostgreSQL schema. A BYTEA value (an event's state) is taken as its
    bytes: as text it would be hex, and no plaintext would ever be found in it."""
    settings = runtime.settings
    if settings.is_embedded:
        return b"".join(p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file())
    import psycopg
    from psycopg import sql

    assert settings.database_url
    dump: list[bytes] = []
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (settings.database_schema,),
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT * FROM {}.{}").format(
                sql.Identifier(settings.database_schema), sql.Identifier(table)
            )
            for row in conn.execute(query):
                dump += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    assert dump, "the schema has rows"
    return b"\n".join(dump)
