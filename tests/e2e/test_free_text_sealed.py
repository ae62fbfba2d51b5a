"""A patient's free text, on both backends: sealed with the patient's key wherever it is
written, and gone with that key.

A patient records a workout with a note and a questionnaire answer, a therapist leaves a
note (the feedback loop quotes both in its cards), the patient writes a message, answers
a survey with a comment, staff log a contact about them, the patient comments on the
satisfaction check and staff escalate with a reason: each with a unique marker, most of
them under an Idempotency-Key. Then:

- no file of the data directory (the stores and their -wal files, read as raw bytes), or
  no row of any table of the schema, holds a marker;
- once the patient's key is destroyed, every GET that showed the text shows null with
  `erased: true` on the object that held it, numbers and dates stay, the streams still
  replay, a replayed Idempotency-Key answers null too, and the read models rebuilt from
  position 0 answer the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projections.conversations.projection import ConversationProjection
from projections.plans.projection import PlanProjection
from projections.surveys.projection import SurveyProjection
from projections.workouts.projection import WorkoutSessionProjection
from tests.support import sealing
from tests.support.app import Api, auth, make_api
from tests.support.feedback_http import eventually
from tests.support.http import wait_until_current
from tests.support.surveys_http import NEGATIVE, answer, answer_check, new_template, send

TAG = uuid.uuid4().hex[:12]
NOTE = f"exercise-note-{TAG}"
ANSWER = f"questionnaire-answer-{TAG}"
THERAPIST_NOTE = f"therapist-note-{TAG}"
MESSAGE = f"chat-message-{TAG}"
COMMENT = f"survey-comment-{TAG}"
CONTACT = f"contact-note-{TAG}"
CHECK_COMMENT = f"check-comment-{TAG}"
REASON = f"escalation-reason-{TAG}"
MARKERS = (NOTE, ANSWER, THERAPIST_NOTE, MESSAGE, COMMENT, CONTACT, CHECK_COMMENT, REASON)
QUESTION = "How did the session feel?"
MINE = (WorkoutSessionProjection, ConversationProjection, SurveyProjection, PlanProjection)


@dataclass
class Story:
    api: Api
    patient: str
    doctor_h: dict[str, str]
    admin_h: dict[str, str]
    workout: str
    conversation: str
    survey: str
    feedback: str
    note_request: dict[str, Any]


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": f"{key}-{TAG}"}


def tell(api: Api) -> Story:
    tenant = api.tenant("Harbour")
    for flag in ("feedbackNotifications", "therapistPatientAssignment"):
        api.flag(tenant, flag)
    _, doctor_h = api.doctor(tenant)
    admin_h = auth("hospital_admin", api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"), tenant)
    patient = str(api.invite(doctor_h)["patientId"])
    patient_h = auth("patient", patient, tenant)

    exercises = [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]
    workout = api.ok("POST", "/v1/workouts", patient_h, 201, json={"exercises": exercises})
    workout_id = str(workout["workoutId"])
    record = {"actual": {"sets": 3, "reps": 8}, "pain": 8, "exertion": 7, "patientNotes": NOTE}
    path = f"/v1/workouts/{workout_id}"
    api.ok("PUT", f"{path}/exercises/squat", keyed(patient_h, "record"), json=record)
    report = {"painBefore": 4, "painAfter": 6, "questionnaire": {QUESTION: ANSWER}}
    api.ok("POST", f"{path}/finalize", keyed(patient_h, "finalize"), json=report)
    note_request = {
        "method": "PUT",
        "path": f"{path}/exercises/squat/note",
        "headers": keyed(doctor_h, "note"),
        "json": {"text": THERAPIST_NOTE},
    }
    saved = api.ok(**note_request)
    assert saved["text"] == THERAPIST_NOTE, "the response opens what the record keeps sealed"

    head = api.runtime.log.head()
    conversation = api.ok("GET", f"/v1/conversations?minPosition={head}", patient_h)[0]["id"]
    api.ok(
        "POST",
        f"/v1/conversations/{conversation}/messages",
        keyed(patient_h, "message"),
        201,
        json={"text": MESSAGE},
    )

    sent = send(api, admin_h, new_template(api, admin_h)["id"], patient)
    survey = str(sent["surveyId"])
    answer(api, sent["token"], NEGATIVE, comment=COMMENT)
    contact = {"contactNotes": CONTACT, "outcome": "unresolved"}
    logged = api.ok(
        "POST", f"/surveys/instances/{survey}/log-contact/", keyed(admin_h, "contact"), json=contact
    )
    assert logged["contact"]["notes"] == CONTACT
    check = api.ok("POST", f"/surveys/instances/{survey}/send-satisfaction/", admin_h, 202)
    feedback = str(check["feedbackId"])
    wait_until_current(api.runtime)
    answer_check(api, check["token"], 1, comment=CHECK_COMMENT)
    api.ok(
        "POST",
        f"/v1/feedback/{feedback}/escalate",
        keyed(admin_h, "escalate"),
        json={"reason": REASON},
    )

    story = Story(
        api, patient, doctor_h, admin_h, workout_id, conversation, survey, feedback, note_request
    )
    # The feedback loop's two cards: the summary quotes the patient's note, the doctor's
    # card the therapist's.
    eventually(
        lambda: (
            {m["type"] for m in messages(story)}
            >= {"PATIENT_FEEDBACK_SUMMARY", "DOCTOR_FEEDBACK_NOTE"}
        ),
        what="both feedback cards",
    )
    wait_until_current(api.runtime)
    return story


@pytest.fixture(params=["sqlite", "postgresql"])
def story(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Story]:
    with make_api(
        str(request.param), tmp_path, process_managers=True, feedback_window_seconds=0.3
    ) as api:
        yield tell(api)


def messages(story: Story) -> list[dict[str, Any]]:
    path = f"/v1/conversations/{story.conversation}/messages"
    result: list[dict[str, Any]] = story.api.ok("GET", path, story.doctor_h)
    return result


def of_type(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [row] = [r for r in rows if r["type"] == kind]
    return row


def gets(story: Story) -> dict[str, Any]:
    api = story.api
    return {
        "workout": api.ok("GET", f"/v1/workouts/{story.workout}", story.doctor_h),
        "messages": messages(story),
        "survey": api.ok("GET", f"/v1/surveys/{story.survey}", story.admin_h),
        "feedback": api.ok("GET", f"/v1/feedback/{story.feedback}", story.admin_h),
        "stream": api.ok("GET", f"/v1/streams/{story.workout}/events", story.admin_h),
    }


def stored_bytes(story: Story) -> bytes:
    """Every byte CareLoop wrote (tests/support/sealing.py: the files with their
    write-ahead logs, or every row of the schema with BYTEA read as bytes, not as hex)."""
    settings = story.api.runtime.settings
    if settings.is_embedded:
        names = {p.name for p in settings.data_dir.rglob("*") if p.is_file()}
        assert {"events.sqlite3", "readmodels.sqlite3", "keys.sqlite3"} <= names, names
    return sealing.stored_bytes(story.api.runtime)


def test_no_file_or_table_holds_a_patients_free_text(story: Story) -> None:
    shown = str(gets(story))
    assert [m for m in MARKERS if m not in shown] == [], "every marker is there, over the API"
    stored = stored_bytes(story)
    assert [m for m in MARKERS if m.encode() in stored] == []


def test_erasing_the_key_leaves_every_free_text_null_and_erased(story: Story) -> None:
    api = story.api
    before = gets(story)
    api.runtime.keys.destroy(uuid.UUID(story.patient))
    after = gets(story)
    assert [m for m in MARKERS if m in str(after)] == []

    [squat] = after["workout"]["exercises"]
    assert (squat["patientNotes"], squat["erased"]) == (None, True)
    assert (squat["pain"], squat["exertion"], squat["actual"]) == (8, 7, {"sets": 3, "reps": 8})
    [note] = squat["therapistNotes"]
    assert (note["text"], note["erased"]) == (None, True)
    assert note["updatedAt"] == before["workout"]["exercises"][0]["therapistNotes"][0]["updatedAt"]
    assert after["workout"]["finalizedAt"] == before["workout"]["finalizedAt"]

    chat = of_type(after["messages"], "TEXT")
    assert (chat["text"], chat["erased"]) == (None, True)
    assert chat["sentAt"] == of_type(before["messages"], "TEXT")["sentAt"]
    [summary_row] = of_type(after["messages"], "PATIENT_FEEDBACK_SUMMARY")["card"]["exercises"]
    assert (summary_row["patientNotes"], summary_row["erased"], summary_row["pain"]) == (
        None,
        True,
        8,
    )
    [noted] = of_type(after["messages"], "DOCTOR_FEEDBACK_NOTE")["card"]["exercises"]
    assert (noted["note"], noted["erased"]) == (None, True)

    survey = after["survey"]
    assert (survey["comment"], survey["erased"]) == (None, True)
    assert (survey["score"], survey["answers"]) == (1.5, NEGATIVE)
    [contact] = survey["contacts"]
    assert (contact["notes"], contact["erased"], contact["outcome"]) == (None, True, "unresolved")
    assert (survey["escalation"]["reason"], survey["escalation"]["erased"]) == (None, True)
    feedback = after["feedback"]
    assert (feedback["comment"], feedback["erased"], feedback["rating"]) == (None, True, 1)
    assert feedback["escalation"]["reason"] is None
    assert feedback["relatedSurvey"]["patientContact"]["notes"] is None

    events = {e["type"]: e["data"] for e in after["stream"]["events"]}
    # The mapping held the answers, so it is the object marked erased.
    answers = events["Workout.SessionReported"]["questionnaire"]
    assert answers == {QUESTION: None, "erased": True}
    assert events["Workout.SessionReported"]["painAfter"] == 6
    assert events["Workout.NoteSaved"]["text"] is None
    assert len(after["stream"]["events"]) == len(before["stream"]["events"])

    request = story.note_request
    replayed = api.client.request(
        request["method"], request["path"], headers=request["headers"], json=request["json"]
    )
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert (replayed.json()["text"], replayed.json()["erased"]) == (None, True)

    # A rebuild from position 0 folds the erased values and answers the same.
    for projection in MINE:
        api.runtime.store.reset(projection.name, projection.tables)
    wait_until_current(api.runtime, timeout=30)
    rebuilt = gets(story)
    for name in ("workout", "messages", "survey", "feedback"):
        assert rebuilt[name] == after[name], name
