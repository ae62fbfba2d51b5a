"""The whole feedback loop over HTTP, as a newcomer sees it on the embedded default:
a hard workout becomes one summary card and a push per therapist; a therapist's notes
come back, after the window, as one bundled card and one push; a later edit replaces it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import Api, make_api
from tests.support.feedback_http import FeedbackClinic, eventually

WINDOW = 1.0


@pytest.fixture
def loop_api(tmp_path: Path) -> Iterator[Api]:
    with make_api("sqlite", tmp_path, process_managers=True, feedback_window_seconds=WINDOW) as api:
        yield api


def test_a_hard_workout_reaches_both_therapists_and_their_notes_come_back(loop_api: Api) -> None:
    clinic = FeedbackClinic(loop_api)
    workout = clinic.hard_workout()
    loop_api.ok("POST", f"/v1/workouts/{workout}/finalize", clinic.patient_h)
    again = loop_api.ok("POST", f"/v1/workouts/{workout}/finalize", clinic.patient_h)
    conversation = clinic.group_conversation()

    summary = eventually(
        lambda: clinic.cards(clinic.maya_h, conversation, "PATIENT_FEEDBACK_SUMMARY"),
        what="summary card",
    )
    assert len(summary) == 1
    card = summary[0]["card"]
    assert card["workoutId"] == workout and card["headline"] == "High pain reported"
    assert [(e["exerciseId"], e["painBadge"], e["exertionBadge"]) for e in card["exercises"]] == [
        ("squat", "red", "blue"),
        ("plank", "yellow", "orange"),
    ]
    for headers in (clinic.maya_h, clinic.tomas_h):
        pushes = eventually(lambda h=headers: clinic.notifications(h), what="therapist push")
        assert [(p["title"], p["body"]) for p in pushes] == [
            (
                "Sam Carter reported high pain",
                "2 exercise(s) flagged in their workout. Tap to view.",
            )
        ]
        assert pushes[0]["data"]["messageId"] == summary[0]["id"]
    assert again["alreadyFinalized"] is True

    for exercise, text in (("squat", "Drop to 6 reps"), ("plank", "Great hold")):
        loop_api.ok(
            "PUT",
            f"/v1/workouts/{workout}/exercises/{exercise}/note",
            clinic.maya_h,
            json={"text": text},
        )
    note = eventually(
        lambda: clinic.cards(clinic.patient_h, conversation, "DOCTOR_FEEDBACK_NOTE"),
        what="doctor note card",
    )
    assert note[0]["card"]["doctorName"] == "Maya Lind"
    assert [(e["exerciseId"], e["note"]) for e in note[0]["card"]["exercises"]] == [
        ("squat", "Drop to 6 reps"),
        ("plank", "Great hold"),
    ]
    assert note[0]["revision"] == 1
    pushes = eventually(lambda: clinic.notifications(clinic.patient_h), what="patient push")
    assert [(p["title"], p["body"]) for p in pushes] == [
        (
            "Your therapist reviewed your session",
            "Maya Lind left notes on 2 exercise(s). Tap to view.",
        )
    ]

    loop_api.ok(
        "PUT",
        f"/v1/workouts/{workout}/exercises/squat/note",
        clinic.maya_h,
        json={"text": "Drop to 5 reps"},
    )
    revised = eventually(
        lambda: [
            c
            for c in clinic.cards(clinic.patient_h, conversation, "DOCTOR_FEEDBACK_NOTE")
            if c["revision"] == 2
        ],
        what="revised card",
    )
    assert revised[0]["id"] == note[0]["id"]
    assert revised[0]["card"]["exercises"][0]["note"] == "Drop to 5 reps"
    assert len(clinic.notifications(clinic.patient_h)) == 1  # a revision does not push again
