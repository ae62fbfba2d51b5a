"""A patient's personal data, end to end over HTTP, on both backends.

A populated demo clinic, plus a patient with a unique surname and email who records a
workout with a marker in its notes (pain high enough for a summary card and a push), gets
a therapist's note and a message, answers a survey with a comment and has a contact
logged about them. Then:

- a scan of every file of the data directory, or a dump of every table of the schema,
  finds none of the markers: not in the log, the read models, idempotency records, the
  audit store or the key store;
- erasing the patient makes every GET that showed them answer null with `erased: true`,
  keeps numbers and dates, refuses their token, still replays their streams, and a
  rebuild of every read model from position 0 answers the same.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.demo import load_demo
from tests.support.app import Api, auth, make_api
from tests.support.feedback_http import eventually
from tests.support.http import assert_problem, wait_until_current
from tests.support.sealing import stored_bytes
from tests.support.surveys_http import NEGATIVE, answer, log_contact, new_template, send

TAG = uuid.uuid4().hex[:10]
SURNAME = f"Quillfeather{TAG}"
EMAIL = f"sam.{TAG}@patients.example"
NOTES = f"workout-note-{TAG}"
THERAPIST_NOTE = f"therapist-note-{TAG}"
MESSAGE = f"message-{TAG}"
COMMENT = f"survey-comment-{TAG}"
CONTACT = f"contact-note-{TAG}"
MARKERS = (SURNAME, EMAIL, NOTES, THERAPIST_NOTE, MESSAGE, COMMENT, CONTACT)


@dataclass
class Story:
    api: Api
    tenant: str
    patient: str
    patient_h: dict[str, str]
    doctor_h: dict[str, str]
    admin_h: dict[str, str]
    workout: str
    conversation: str
    survey: str


def tell(api: Api) -> Story:
    load_demo(api.runtime)
    tenant = api.tenant("Harbour")
    for flag in ("feedbackNotifications", "therapistPatientAssignment"):
        api.flag(tenant, flag)
    _, doctor_h = api.doctor(tenant, "Maya", "Lind")
    admin = api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss")
    admin_h = auth("hospital_admin", admin, tenant)
    # With Idempotency-Keys, so that the stored responses are scanned too.
    invited = api.client.post(
        "/v1/patients/invite",
        headers={**doctor_h, "Idempotency-Key": f"{TAG}-invite"},
        json={"firstName": "Sam", "lastName": SURNAME, "email": EMAIL},
    ).json()
    patient = invited["patientId"]
    patient_h = auth("patient", patient, tenant)
    exercises = [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]
    workout = api.ok("POST", "/v1/workouts", patient_h, 201, json={"exercises": exercises})[
        "workoutId"
    ]
    record = {"actual": {"sets": 3, "reps": 8}, "pain": 8, "exertion": 7, "patientNotes": NOTES}
    api.client.put(
        f"/v1/workouts/{workout}/exercises/squat",
        headers={**patient_h, "Idempotency-Key": f"{TAG}-record"},
        json=record,
    )
    api.ok("POST", f"/v1/workouts/{workout}/finalize", patient_h)
    api.client.put(
        f"/v1/workouts/{workout}/exercises/squat/note",
        headers={**doctor_h, "Idempotency-Key": f"{TAG}-note"},
        json={"text": THERAPIST_NOTE},
    )
    head = api.runtime.log.head()
    conversation = api.ok("GET", f"/v1/conversations?minPosition={head}", patient_h)[0]["id"]
    api.client.post(
        f"/v1/conversations/{conversation}/messages",
        headers={**patient_h, "Idempotency-Key": f"{TAG}-message"},
        json={"text": MESSAGE},
    )
    template = new_template(api, admin_h)["id"]
    sent = send(api, admin_h, template, patient)
    answer(api, sent["token"], NEGATIVE, comment=COMMENT)
    log_contact(api, admin_h, sent["surveyId"], notes=CONTACT)
    eventually(lambda: api.ok("GET", "/v1/me/notifications", doctor_h), what="the summary push")
    wait_until_current(api.runtime)
    return Story(
        api, tenant, patient, patient_h, doctor_h, admin_h, workout, conversation, sent["surveyId"]
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def story(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Story]:
    with make_api(str(request.param), tmp_path, process_managers=True) as api:
        yield tell(api)


def stored_text(story: Story) -> bytes:
    """Everything CareLoop has written, as raw bytes (tests/support/sealing.py): the files
    with their -wal files, so committed pages not yet checkpointed are read too."""
    return stored_bytes(story.api.runtime)


def test_no_file_or_table_holds_the_patients_personal_data(story: Story) -> None:
    api = story.api
    workout = api.ok("GET", f"/v1/workouts/{story.workout}", story.doctor_h)
    assert NOTES in str(workout), "the notes are there, over the API"
    stored = stored_text(story)
    found = [m for m in MARKERS if m.encode() in stored]
    assert found == [], f"in plaintext on disk: {found}"


def gets(story: Story, message: str) -> dict[str, Any]:
    """What staff can read of the patient (after the erasure their therapists have left
    the care team: the clinic's admin reads the workout, and the history shows the
    conversation's message)."""
    api = story.api
    return {
        "workout": api.ok("GET", f"/v1/workouts/{story.workout}", story.admin_h),
        "patient": api.ok("GET", f"/v1/patients/{story.patient}", story.admin_h),
        "patients": api.ok("GET", f"/v1/tenants/{story.tenant}/patients", story.admin_h),
        "message": api.ok("GET", f"/v1/streams/{message}", story.admin_h),
        "notifications": api.ok("GET", "/v1/me/notifications", story.doctor_h),
        "survey": api.ok("GET", f"/v1/surveys/{story.survey}", story.admin_h),
        "stream": api.ok("GET", f"/v1/streams/{story.workout}/events", story.admin_h),
        "state": api.ok("GET", f"/v1/streams/{story.workout}?version=2", story.admin_h),
    }


def text_message(story: Story) -> str:
    path = f"/v1/conversations/{story.conversation}/messages"
    messages = story.api.ok("GET", path, story.doctor_h)
    return str(next(m["id"] for m in messages if m.get("text") == MESSAGE))


def test_erasing_the_patient_leaves_null_and_erased_everywhere(story: Story) -> None:
    api = story.api
    message = text_message(story)
    before = gets(story, message)
    assert any(m in str(before) for m in MARKERS)
    api.ok(
        "POST",
        f"/v1/patients/{story.patient}/erase",
        story.admin_h,
        202,
        json={"reason": "consent_withdrawn"},
    )
    after = gets(story, message)
    shown = [m for m in MARKERS if m in str(after)]
    assert shown == [], f"still shown after erasure: {shown}"
    for name, body in after.items():
        assert "'erased': True" in str(body), f"{name} does not say it was erased"
    assert after["workout"]["exercises"][0]["pain"] == 8, "numbers stay"
    assert after["workout"]["finalizedAt"] == before["workout"]["finalizedAt"], "dates stay"
    assert_problem(api.client.get("/v1/me/notifications", headers=story.patient_h), 401)
    assert [m for m in MARKERS if m.encode() in stored_text(story)] == []

    # Every read model refolded from the log by the app's own runners (a catch-up in this
    # thread would race them for the tracking rows).
    rt = api.runtime
    for projection in rt.projections:
        rt.store.reset(projection.name, projection.tables)
    rt.hub.poke()
    head = rt.log.head()
    deadline = time.monotonic() + 60
    while any(rt.store.position(p.name) < head for p in rt.projections):
        assert time.monotonic() < deadline, "the read models were not refolded in 60 s"
        time.sleep(0.05)
    rebuilt = gets(story, message)
    assert [m for m in MARKERS if m in str(rebuilt)] == []
    assert rebuilt["workout"]["exercises"] == after["workout"]["exercises"]
