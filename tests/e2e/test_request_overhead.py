"""What a request costs the server before its route runs (decision 0036): a token is
verified once per process, not by each of the three places that check it, and the
dependencies that read nothing run on the event loop, not in worker threads."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from api import deps
from domain.shared.context import Role
from tests.support.app import Api, auth, token
from tests.support.tokens import counting_decodes


def test_a_token_is_verified_once_for_every_request_that_carries_it(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = sqlite_api.tenant()
    _, doctor = sqlite_api.doctor(tenant)
    calls = counting_decodes(monkeypatch)
    for _ in range(5):
        sqlite_api.ok("GET", "/v1/me/notifications", doctor)
    assert calls == [doctor["Authorization"].removeprefix("Bearer ")]


def test_a_refused_token_is_refused_with_its_reason_every_time(sqlite_api: Api) -> None:
    expired = token(Role.DOCTOR, uuid.uuid4(), uuid.uuid4(), ttl=-10)
    for _ in range(2):
        response = sqlite_api.client.get(
            "/v1/me/notifications", headers={"Authorization": f"Bearer {expired}"}
        )
        assert response.status_code == 401
        assert response.json()["detail"] == "The token has expired."


def test_the_caller_and_role_checks_run_on_the_event_loop(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = sqlite_api.tenant()
    doctor_id, doctor = sqlite_api.doctor(tenant)
    threads: list[str] = []
    real_note_actor = deps.note_actor

    def noted(actor: Any) -> None:
        threads.append(threading.current_thread().name)
        real_note_actor(actor)

    monkeypatch.setattr(deps, "note_actor", noted)
    sqlite_api.ok("GET", f"/v1/staff/{doctor_id}", doctor)
    loop_thread = sqlite_api.client.portal.call(lambda: threading.current_thread().name)  # type: ignore[union-attr]
    assert threads == [loop_thread]


def test_an_erased_patient_is_refused_from_memory_and_from_the_store(sqlite_api: Api) -> None:
    keys = sqlite_api.runtime.keys
    patient = uuid.uuid4()
    keys.ensure_key(patient)
    keys.destroy(patient)
    assert keys.erased_in_memory(patient) is True
    headers = auth(Role.PATIENT, patient, uuid.uuid4())
    assert sqlite_api.client.get("/v1/me/notifications", headers=headers).status_code == 401
    with keys._lock:
        keys._cache.clear()  # this process has not looked yet: the store answers
    assert keys.erased_in_memory(patient) is None
    response = sqlite_api.client.get("/v1/me/notifications", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "This patient was erased."
