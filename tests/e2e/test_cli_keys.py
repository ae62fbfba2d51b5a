"""`careloop keys rotate`: every data key re-wrapped with a new master key, nothing else
touched; a rotation a crash interrupted is finished at the next start; a wrong master key
stops a process at start."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.privacy.cipher import WrongMasterKeyError
from domain.privacy.keys import SQLiteKeyStore
from domain.shared.context import Role
from tests.support.app import SECRET, auth, make_api
from tests.support.processes import careloop_env, run_careloop
from tests.support.services import drop_schema, new_schema_name, postgres_url


def embedded(data: Path) -> Settings:
    return Settings(data_dir=data, jwt_secret=SECRET)


def keys_of(settings: Settings, patients: list[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
    runtime = Runtime(settings)
    try:
        return {p: runtime.keys.key_for(p) for p in patients}
    finally:
        runtime.close()


def test_on_the_embedded_default_rotation_replaces_master_key_and_keeps_data_keys(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    runtime = Runtime(embedded(data))
    patients = [uuid.uuid4() for _ in range(3)]
    before = {p: runtime.keys.ensure_key(p) for p in patients}
    head = runtime.log.head()
    runtime.close()
    old_master = (data / "master.key").read_text()
    events = (data / "events.sqlite3").read_bytes()

    result = run_careloop("keys", "rotate", env=careloop_env(data))
    assert result.returncode == 0, result.stderr
    assert "re-wrapped 3 data keys" in result.stdout
    assert (data / "master.key").read_text() != old_master
    assert not (data / "master.key.new").exists()
    assert (data / "events.sqlite3").read_bytes() == events, "the log is not touched"
    assert keys_of(embedded(data), patients) == before
    runtime = Runtime(embedded(data))
    assert runtime.log.head() == head
    runtime.close()


def test_a_rotation_interrupted_between_store_and_file_is_finished_at_the_next_start(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    runtime = Runtime(embedded(data))
    patient = uuid.uuid4()
    key = runtime.keys.ensure_key(patient)
    runtime.close()
    new = os.urandom(32)
    (data / "master.key.new").write_text(base64.b64encode(new).decode())
    store = SQLiteKeyStore(data / "keys.sqlite3", embedded(data).master_key_bytes())
    store.rotate(new)  # ... and the process dies before the file is swapped
    store.close()
    assert keys_of(embedded(data), [patient]) == {patient: key}
    assert base64.b64decode((data / "master.key").read_text()) == new


def test_a_wrong_master_key_stops_the_runtime_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Runtime(embedded(data)).close()
    wrong = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WrongMasterKeyError):
        Runtime(Settings(data_dir=data, jwt_secret=SECRET, master_key=wrong))
    served = run_careloop(
        "projections", "status", env=careloop_env(data, CARELOOP_MASTER_KEY=wrong)
    )
    assert served.returncode == 2
    [line] = served.stderr.strip().splitlines()
    assert "CARELOOP_MASTER_KEY" in line and "refusing to start" in line


def test_in_production_the_new_key_comes_from_the_environment(tmp_path: Path) -> None:
    url, schema = postgres_url(), new_schema_name()
    old = base64.b64encode(os.urandom(32)).decode()
    new = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(database_url=url, database_schema=schema, jwt_secret=SECRET, master_key=old)
    try:
        runtime = Runtime(settings, create_tables=True)
        patient = uuid.uuid4()
        key = runtime.keys.ensure_key(patient)
        runtime.close()
        env = careloop_env(
            tmp_path,
            CARELOOP_DATABASE_URL=url,
            CARELOOP_DATABASE_SCHEMA=schema,
            CARELOOP_MASTER_KEY=old,
            CARELOOP_NEW_MASTER_KEY=new,
        )
        result = run_careloop("keys", "rotate", env=env)
        assert result.returncode == 0, result.stderr
        assert "set CARELOOP_MASTER_KEY" in result.stdout
        rotated = Settings(
            database_url=url, database_schema=schema, jwt_secret=SECRET, master_key=new
        )
        assert keys_of(rotated, [patient]) == {patient: key}
        with pytest.raises(WrongMasterKeyError):
            Runtime(settings)
    finally:
        drop_schema(url, schema)


def test_after_restoring_an_older_key_store_reapplying_erasures_destroys_the_keys_again(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with make_api("sqlite", tmp_path) as api:  # data in tmp_path / "data"
        clinic = api.tenant()
        _, doctor = api.doctor(clinic)
        patient = uuid.UUID(api.invite(doctor)["patientId"])
        api.runtime.keys.ensure_key(patient)
        backup = tmp_path / "keys-backup.sqlite3"
        with sqlite3.connect(data / "keys.sqlite3") as live, sqlite3.connect(backup) as copy:
            live.backup(copy)
        admin = api.staff(clinic, "HOSPITAL_ADMIN", "Hal", "Moss")
        api.ok(
            "POST",
            f"/v1/patients/{patient}/erase",
            auth(Role.HOSPITAL_ADMIN, admin, clinic),
            202,
            json={"reason": "consent_withdrawn"},
        )
    for leftover in ("keys.sqlite3-wal", "keys.sqlite3-shm"):
        (data / leftover).unlink(missing_ok=True)
    shutil.copy(backup, data / "keys.sqlite3")  # the restore: the key is back
    assert keys_of(embedded(data), [patient]) != {patient: None}
    result = run_careloop("keys", "reapply-erasures", env=careloop_env(data))
    assert result.returncode == 0, result.stderr
    assert "destroyed 1 data keys" in result.stdout
    assert keys_of(embedded(data), [patient]) == {patient: None}
