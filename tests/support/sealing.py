"""Personal text for logs built without a runtime: an in-memory key store and the
transcoding that seals with it, registered on a bare `EventLog()` as the runtime does on
its own (bootstrap/runtime.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from eventsourcing.persistence import JSONTranscoder

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
