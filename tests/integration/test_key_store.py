"""The key store on both backends: one data key per patient, wrapped by the master key;
destroying it is for good; a wrong master key fails at start; rotation re-wraps every key
and leaves the data keys (so everything sealed with them) as they were."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from domain.privacy.cipher import WrongMasterKeyError, open_sealed, seal
from domain.privacy.keys import ErasedError, KeyStore, PostgresKeyStore, SQLiteKeyStore
from tests.support.services import drop_schema, new_schema_name, postgres_url

MASTER = bytes(range(100, 132))
OTHER_MASTER = bytes(range(1, 33))


class Place:
    """Where a key store lives, to open it again with another master key."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.path = tmp_path / "keys.sqlite3"
        self.url = postgres_url() if backend == "postgresql" else ""
        self.schema = new_schema_name() if backend == "postgresql" else ""
        if self.url:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self.schema}")

    def open(self, master: bytes = MASTER) -> KeyStore:
        if self.backend == "sqlite":
            return SQLiteKeyStore(self.path, master, cache_seconds=0)
        return PostgresKeyStore(self.url, self.schema, master, cache_seconds=0)


@pytest.fixture
def place(backend: str, tmp_path: Path) -> Iterator[Place]:
    where = Place(backend, tmp_path)
    yield where
    if where.url:
        drop_schema(where.url, where.schema)


@pytest.fixture
def keys(place: Place) -> Iterator[KeyStore]:
    store = place.open()
    store.check_master()
    yield store
    store.close()


def test_each_patient_gets_one_key_of_their_own(keys: KeyStore) -> None:
    sam, lena = uuid.uuid4(), uuid.uuid4()
    assert keys.key_for(sam) is None
    first = keys.ensure_key(sam)
    assert keys.ensure_key(sam) == first == keys.key_for(sam)
    assert keys.ensure_key(lena) != first


def test_a_destroyed_key_is_gone_for_good_and_destroying_again_changes_nothing(
    keys: KeyStore,
) -> None:
    sam = uuid.uuid4()
    sealed = seal(keys.ensure_key(sam), sam, "knee still hurts", os.urandom(12))
    assert keys.destroy(sam) is True
    assert keys.key_for(sam) is None and keys.is_erased(sam)
    with pytest.raises(ErasedError):
        keys.ensure_key(sam)  # never a new key for an erased patient
    assert keys.destroy(sam) is False
    assert keys.is_erased(sam)
    assert sealed  # the sealed value outlives its key, unreadable


def test_a_patient_erased_before_they_had_a_key_never_gets_one(keys: KeyStore) -> None:
    nobody = uuid.uuid4()
    assert keys.destroy(nobody) is False
    with pytest.raises(ErasedError):
        keys.ensure_key(nobody)


def test_a_wrong_master_key_fails_at_start_not_at_read(place: Place, keys: KeyStore) -> None:
    keys.ensure_key(uuid.uuid4())
    wrong = place.open(OTHER_MASTER)
    try:
        with pytest.raises(WrongMasterKeyError):
            wrong.check_master()
    finally:
        wrong.close()


def test_rotating_the_master_key_rewraps_every_key_and_keeps_the_data_keys(
    place: Place, keys: KeyStore
) -> None:
    patients = [uuid.uuid4() for _ in range(5)]
    sealed = {p: seal(keys.ensure_key(p), p, f"note of {p}", os.urandom(12)) for p in patients}
    keys.destroy(patients[0])
    assert keys.rotate(OTHER_MASTER) == 4
    keys.close()
    rotated = place.open(OTHER_MASTER)
    old = place.open(MASTER)
    try:
        rotated.check_master()
        with pytest.raises(WrongMasterKeyError):
            old.check_master()
        for p in patients[1:]:
            key = rotated.key_for(p)
            assert key is not None and open_sealed(key, p, sealed[p]) == f"note of {p}"
        assert rotated.is_erased(patients[0])
    finally:
        rotated.close()
        old.close()


def test_on_sqlite_a_destroyed_key_is_in_no_file_of_the_store(tmp_path: Path) -> None:
    store = SQLiteKeyStore(tmp_path / "keys.sqlite3", MASTER, cache_seconds=0)
    store.check_master()
    sam = uuid.uuid4()
    store.ensure_key(sam)
    (wrapped,) = store._conn().execute("SELECT wrapped FROM patient_keys").fetchone()
    store.destroy(sam)
    for path in tmp_path.iterdir():
        assert bytes(wrapped) not in path.read_bytes(), path.name
    store.close()
