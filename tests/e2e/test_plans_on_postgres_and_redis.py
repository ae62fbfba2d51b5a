"""Treatment plans on the production shape: PostgreSQL, Redis, real Dramatiq workers, and
a clinic's real webhook receiver started by the test.

A plan is designed, published and assigned over HTTP; the patient performs a session as
a workout; the session-completion process manager (on the worker) records it on the
enrollment, and the automations send signed webhooks. The receiver fails each delivery's
first attempt; Redis is then flushed, so the retry's wake-up is gone: the retry must still
come, from the durable deadline, and each event is accepted exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from domain.shared.context import Role
from tests.integration.test_webhook_delivery import SECRET, Receiver, serve
from tests.support.app import Api, auth
from tests.support.feedback_http import eventually
from tests.support.production import production_api


@pytest.fixture
def production(tmp_path: Path) -> Iterator[tuple[Api, Receiver, str]]:
    receiver = Receiver(fail_first=1)
    stop: Callable[[], None] = serve(receiver)
    try:
        with production_api(tmp_path, webhook_allow_private=True, sweep_interval_seconds=0.5) as (
            api,
            url,
        ):
            yield api, receiver, url
    finally:
        stop()


def accepted_events(receiver: Receiver) -> list[str]:
    return sorted(json.loads(seen.body)["event"] for seen in receiver.accepted)


def test_a_plan_session_completes_its_enrollment_and_every_webhook_arrives_once(
    production: tuple[Api, Receiver, str],
) -> None:
    api, receiver, url = production
    tenant = api.tenant("Riverside")
    admin_id = api.staff(tenant, "HOSPITAL_ADMIN", "Hana", "Adler")
    admin = auth(Role.HOSPITAL_ADMIN, admin_id, tenant)
    _, doctor = api.doctor(tenant)
    patient_id = api.invite(doctor)["patientId"]
    patient = auth(Role.PATIENT, patient_id, tenant)
    events = ["treatment_plan.assigned", "treatment_plan.session_completed"]
    api.ok(
        "POST",
        "/v1/webhooks",
        admin,
        201,
        json={"url": receiver.url, "events": events, "secret": SECRET},
    )

    squat = api.ok("POST", "/v1/exercises", doctor, 201, json={"name": "Squat"})["id"]
    body: dict[str, Any] = {
        "title": "Knee week",
        "scope": "custom",
        "type": "in_clinic",
        "frequencyPerWeek": 2,
        "durationWeeks": 1,
        "visibility": "private",
        "patientId": patient_id,
        "sessions": [
            {
                "title": "Knee",
                "exercises": [
                    {
                        "exerciseId": squat,
                        "params": {
                            "mode": "reps",
                            "sets": 3,
                            "reps": 10,
                            "restBetweenSetsSeconds": 30,
                        },
                    }
                ],
            }
        ],
    }
    plan = api.ok("POST", "/v1/treatment-plans", doctor, 201, json=body)["id"]
    published = api.ok("POST", f"/v1/treatment-plans/{plan}/publish", doctor)
    version = api.ok(
        "GET", f"/v1/treatment-plans/{plan}/versions/1?minPosition={published['position']}", doctor
    )
    session = version["snapshot"]["sessions"][0]["id"]
    enrollment = api.ok(
        "POST", f"/v1/treatment-plans/{plan}/assign", doctor, 201, json={"patientId": patient_id}
    )["enrollmentId"]

    workout = api.ok(
        "POST",
        "/v1/workouts",
        patient,
        201,
        json={
            "enrollmentId": enrollment,
            "sessionId": session,
            "exercises": [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}],
        },
    )["workoutId"]
    api.ok(
        "PUT",
        f"/v1/workouts/{workout}/exercises/squat",
        patient,
        json={"actual": {"sets": 3}, "pain": 3},
    )
    api.ok(
        "POST", f"/v1/workouts/{workout}/finalize", patient, json={"painBefore": 4, "painAfter": 2}
    )

    # Each delivery's first attempt fails; then every wake-up in Redis is lost.
    eventually(lambda: len(receiver.requests) >= 2, timeout=20, what="the first attempts")
    redis.Redis.from_url(url).flushall()
    eventually(lambda: len(receiver.accepted) >= 2, timeout=30, what="the retries")

    row = eventually(
        lambda: api.ok("GET", f"/v1/enrollments/{enrollment}", patient)["completions"],
        what="the completed session",
    )
    assert [(c["workoutId"], c["painBefore"], c["painAfter"]) for c in row] == [(workout, 4, 2)]
    assert accepted_events(receiver) == sorted(events)
    assert all(seen.verified for seen in receiver.requests)
    deliveries = {seen.delivery for seen in receiver.requests}
    assert len(deliveries) == 2  # a retry carries its delivery's id again
