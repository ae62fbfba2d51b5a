"""As-of state equals a replay: for random command sequences on a real runtime, the
history endpoint's state at every version, and at the time of every event, equals the
aggregate the library itself replays from its first N events (`repository.get(id,
version=N)`, which reads no snapshot), rendered the same way. The log snapshots every 3
versions here, so the endpoint's reads start from snapshots across several intervals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.routers.streams import history_of
from domain.privacy.personal import reveal
from domain.shared.clock import FakeClock
from domain.shared.context import Role
from domain.shared.history import state_of
from tests.support.app import Api, auth, make_api

EXERCISES = ("e1", "e2")
INTERVAL = 3


@dataclass
class Clinic:
    api: Api
    clock: FakeClock
    patient: dict[str, str]
    doctor: dict[str, str]
    auditor: dict[str, str]


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    clock = FakeClock()
    with make_api("sqlite", tmp_path_factory.mktemp("history-property"), clock=clock) as api:
        api.runtime.log.snapshot_interval = INTERVAL
        # The oracle replays from the events alone: the library's snapshotting stays off.
        assert api.runtime.log.repository.snapshot_store is None
        tenant = api.tenant("Riverside")
        _doctor, doctor_h = api.doctor(tenant)
        patient = api.invite(doctor_h)["patientId"]
        yield Clinic(
            api,
            clock,
            auth(Role.PATIENT, patient, tenant),
            doctor_h,
            auth(Role.AUDITOR, uuid.uuid4(), tenant),
        )


exercise = st.sampled_from(EXERCISES)
score = st.integers(min_value=0, max_value=10)
command = st.one_of(
    st.tuples(st.just("record"), exercise, st.integers(0, 5), score, score),
    st.tuples(st.just("finalize")),
    st.tuples(st.just("note"), exercise, st.text("abc xyz", min_size=1, max_size=12)),
    st.tuples(st.just("delete-note"), exercise),
)
pause = st.sampled_from([0, 0, 1, 30, 3600])


def apply(clinic: Clinic, workout: str, step: tuple[Any, ...]) -> None:
    """One command over HTTP; a refused one (409, 422) writes nothing and is fine."""
    client, base = clinic.api.client, f"/v1/workouts/{workout}"
    kind = step[0]
    if kind == "record":
        _, e, sets, pain, exertion = step
        body = {"actual": {"sets": sets, "reps": 10}, "pain": pain, "exertion": exertion}
        response = client.put(f"{base}/exercises/{e}", headers=clinic.patient, json=body)
    elif kind == "finalize":
        response = client.post(f"{base}/finalize", headers=clinic.patient)
    elif kind == "note":
        _, e, text = step
        response = client.put(
            f"{base}/exercises/{e}/note", headers=clinic.doctor, json={"text": text}
        )
    else:
        response = client.delete(f"{base}/exercises/{step[1]}/note", headers=clinic.doctor)
    assert response.status_code < 500, response.text


def check_every_version_and_time(clinic: Clinic, steps: list[tuple[tuple[Any, ...], int]]) -> int:
    """Runs `steps` on a new workout, checks every version and time, returns the last."""
    exercises = [{"exerciseId": e, "name": f"Exercise {e}"} for e in EXERCISES]
    started = clinic.api.ok(
        "POST", "/v1/workouts", clinic.patient, 201, json={"exercises": exercises}
    )
    workout = str(started["workoutId"])
    for step, seconds in steps:
        clinic.clock.advance(seconds)
        apply(clinic, workout, step)
    log = clinic.api.runtime.log
    sealer = clinic.api.runtime.sealer
    wid = uuid.UUID(workout)
    history_of(clinic.api.runtime).clear()  # cold: every read starts from a snapshot
    path = f"/v1/streams/{workout}"
    listed = clinic.api.ok("GET", f"{path}/events", clinic.auditor)["events"]
    replayed: dict[int, Any] = {}
    for event in listed:
        n = event["version"]
        # As the endpoint answers: the notes opened (their ciphertexts may differ, as a
        # snapshot taken when a command saves seals its notes anew).
        expected = reveal(state_of(log.repository.get(wid, version=n)), sealer)
        replayed[n] = expected
        got = clinic.api.ok("GET", f"{path}?version={n}", clinic.auditor)
        assert (got["version"], got["state"]) == (n, expected)
    for event in listed:
        at = event["recordedAt"]
        last = max(
            e["version"]
            for e in listed
            if datetime.fromisoformat(e["recordedAt"]) <= datetime.fromisoformat(at)
        )
        got = clinic.api.client.get(path, headers=clinic.auditor, params={"asOf": at}).json()
        assert (got["version"], got["state"]) == (last, replayed[last])
    current = clinic.api.ok("GET", path, clinic.auditor)
    assert current["state"] == reveal(state_of(log.repository.get(wid)), sealer)
    last = current["version"]
    snapshot = log.nearest_snapshot(wid)
    assert (snapshot.version if snapshot else 0) == last - last % INTERVAL
    return int(last)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(st.tuples(command, pause), max_size=12))
def test_the_state_at_every_version_and_time_equals_the_librarys_replay(
    clinic: Clinic, steps: list[tuple[tuple[Any, ...], int]]
) -> None:
    check_every_version_and_time(clinic, steps)


def test_a_workout_across_several_snapshot_intervals_reads_as_its_replay(clinic: Clinic) -> None:
    steps: list[tuple[tuple[Any, ...], int]] = [
        (("record", EXERCISES[n % 2], n % 5, n % 11, (n * 3) % 11), 30) for n in range(8)
    ]
    steps.append((("finalize",), 3600))
    for n in range(8):
        e = EXERCISES[n % 2]
        steps.append((("note", e, f"note {n}"), 60))
        if n % 3 == 2:
            steps.append((("delete-note", e), 1))
    assert check_every_version_and_time(clinic, steps) >= 6 * INTERVAL
