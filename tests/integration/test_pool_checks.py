"""Pooled PostgreSQL connections broken under the API (a restart, an administrator's
pg_terminate_backend) cost at most one refused request, not one per stale connection:
the first failure makes every pool check its connections before their next use
(domain/shared/pool_checks.py)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bootstrap.runtime import Runtime
from domain.shared.context import Role
from domain.shared.pool_checks import suspect
from tests.support.app import Api, auth, make_api, make_runtime
from tests.support.services import postgres_url

WORKOUT = {"exercises": [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]}


@pytest.fixture
def app_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """An application name of the test's own on every connection it opens (libpq reads
    PGAPPNAME), so that the test can break exactly those."""
    name = f"careloop-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PGAPPNAME", name)
    return name


@pytest.fixture
def pg_api(tmp_path: Path, app_name: str) -> Iterator[tuple[Api, str]]:
    with make_api("postgresql", tmp_path) as api:
        yield api, app_name


def terminate(name: str) -> int:
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


def busy(api: Api, patient: dict[str, str], requests: int) -> Counter[int]:
    """Commands and reads one after another (each request draws pooled connections)."""
    codes: Counter[int] = Counter()
    for _ in range(requests):
        created = api.client.post("/v1/workouts", headers=patient, json=WORKOUT)
        codes[created.status_code] += 1
        if created.status_code == 201:
            body = created.json()
            path = f"/v1/workouts/{body['workoutId']}?minPosition={body['position']}"
            codes[api.client.get(path, headers=patient).status_code] += 1
    return codes


def fill_the_pool(runtime: Runtime, size: int = 5) -> None:
    """The read store's pool holds `size` connections, each just used. (The event store's
    reads and writes are retried on a broken connection by the library.)"""
    pool = runtime.store.pool  # type: ignore[attr-defined]
    with contextlib.ExitStack() as held:
        for _ in range(size):
            held.enter_context(pool.connection())


def a_patient(api: Api) -> dict[str, str]:
    tenant = api.tenant()
    _, doctor = api.doctor(tenant)
    patient = api.invite(doctor)
    return auth(Role.PATIENT, patient["patientId"], tenant)


def test_after_every_connection_is_terminated_at_most_one_request_is_refused(
    pg_api: tuple[Api, str],
) -> None:
    api, name = pg_api
    patient = a_patient(api)
    assert set(busy(api, patient, 10)) == {200, 201}
    fill_the_pool(api.runtime)
    assert terminate(name) >= 5
    codes = busy(api, patient, 20)
    assert codes[503] <= 1, codes
    assert codes[201] >= 19 and codes[200] >= 19


def test_connections_idle_for_a_second_are_checked_before_use_and_nothing_is_refused(
    pg_api: tuple[Api, str],
) -> None:
    api, name = pg_api
    patient = a_patient(api)
    busy(api, patient, 5)
    time.sleep(1.2)
    assert terminate(name) >= 3
    time.sleep(1.2)  # every pooled connection is now due for a check
    codes = busy(api, patient, 10)
    assert set(codes) == {200, 201}, codes


def test_once_a_failure_is_reported_no_stale_connection_of_the_read_store_is_handed_out(
    tmp_path: Path, app_name: str
) -> None:
    with make_runtime("postgresql", tmp_path) as runtime:
        fill_the_pool(runtime)
        assert terminate(app_name) >= 5
        # Each connection was used a moment ago: the first use finds the break out.
        with pytest.raises(psycopg.OperationalError):
            runtime.store.position("tenants")
        suspect()  # what the API's 503 handler does
        for _ in range(10):
            assert runtime.store.position("tenants") == 0
