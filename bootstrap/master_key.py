"""Rotating the master key: every patient's data key is re-wrapped in one transaction of
the key store; the event log and the read models are not touched (their ciphertext is
sealed with the data keys, which do not change).

On the embedded default the new key is written beside the old one first
(`master.key.new`), the store is re-wrapped, then the new file replaces the old. A crash
between the two leaves both files: the next start finds the store wrapped with the new
key and finishes the swap (`recover_embedded`)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from bootstrap.settings import MASTER_KEY_BYTES, Settings, decode_master_key
from domain.privacy.cipher import WrongMasterKeyError
from domain.privacy.keys import KeyStore, PostgresKeyStore, SQLiteKeyStore


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "master.key"


def _pending(settings: Settings) -> Path:
    return settings.data_dir / "master.key.new"


def open_store(settings: Settings, master: bytes) -> KeyStore:
    if settings.is_embedded:
        return SQLiteKeyStore(settings.data_dir / "keys.sqlite3", master, cache_seconds=0)
    assert settings.database_url
    return PostgresKeyStore(
        settings.database_url,
        settings.database_schema,
        master,
        create_tables=False,
        cache_seconds=0,
    )


def recover_embedded(settings: Settings) -> bool:
    """Finish a rotation a crash interrupted: True when the pending key was the right one
    and now is the master key."""
    pending = _pending(settings)
    if not settings.is_embedded or settings.master_key or not pending.exists():
        return False
    store = open_store(settings, decode_master_key(pending.read_text()))
    try:
        store.check_master()
    except WrongMasterKeyError:
        return False
    finally:
        store.close()
    os.replace(pending, key_file(settings))
    return True


def rotate(settings: Settings, new_key: bytes | None = None) -> int:
    """Re-wrap every data key with `new_key` (on the embedded default, a new random key
    when None). Returns how many keys were re-wrapped."""
    if new_key is None:
        if not settings.is_embedded or settings.master_key:
            raise ValueError("give the new master key (CARELOOP_NEW_MASTER_KEY)")
        new_key = os.urandom(MASTER_KEY_BYTES)
    if len(new_key) != MASTER_KEY_BYTES:
        raise ValueError(f"the new master key must be {MASTER_KEY_BYTES} bytes")
    store = open_store(settings, settings.master_key_bytes())
    try:
        store.check_master()
        embedded_file = settings.is_embedded and not settings.master_key
        if embedded_file:
            pending = _pending(settings)
            fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(base64.b64encode(new_key).decode() + "\n")
                out.flush()
                os.fsync(out.fileno())
        count = store.rotate(new_key)
        if embedded_file:
            os.replace(_pending(settings), key_file(settings))
        return count
    finally:
        store.close()
