"""The feedback loop on the production shape: PostgreSQL, Redis, real Dramatiq workers.

The window is short (1.5 s) so the test can wait it out. While a window is open, Redis is
flushed: any wake-up message is gone, and the card must still arrive, because the
deadline lives in the event store (and the deadlines read model) and the scheduler sends
its wake-up again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from projections.platform.runner import wait_for_position
from tests.support.app import Api
from tests.support.feedback_http import FeedbackClinic, eventually
from tests.support.production import production_api

WINDOW = 1.5


@pytest.fixture
def production(tmp_path: Path) -> Iterator[tuple[Api, str]]:
    with production_api(
        tmp_path, feedback_window_seconds=WINDOW, sweep_interval_seconds=0.5
    ) as running:
        yield running


def test_both_cards_and_pushes_arrive_even_after_redis_is_flushed_mid_window(
    production: tuple[Api, str],
) -> None:
    api, url = production
    clinic = FeedbackClinic(api)
    workout = clinic.hard_workout()
    api.ok("POST", f"/v1/workouts/{workout}/finalize", clinic.patient_h)
    conversation = clinic.group_conversation()

    summary = eventually(
        lambda: clinic.cards(clinic.tomas_h, conversation, "PATIENT_FEEDBACK_SUMMARY"),
        what="summary card",
    )
    assert len(summary) == 1
    for headers in (clinic.maya_h, clinic.tomas_h):
        pushes = eventually(lambda h=headers: clinic.notifications(h), what="therapist push")
        assert [p["title"] for p in pushes] == ["Sam Carter reported high pain"]

    saved = api.ok(
        "PUT",
        f"/v1/workouts/{workout}/exercises/squat/note",
        clinic.maya_h,
        json={"text": "Fewer reps"},
    )
    # The deadline is durable once the deadlines read model has passed the note; then
    # Redis loses every message it holds.
    assert wait_for_position(api.runtime.store, "deadlines", saved["position"], 10)
    redis.Redis.from_url(url).flushall()

    note = eventually(
        lambda: clinic.cards(clinic.patient_h, conversation, "DOCTOR_FEEDBACK_NOTE"),
        what="doctor note card",
    )
    assert [(e["exerciseId"], e["note"]) for e in note[0]["card"]["exercises"]] == [
        ("squat", "Fewer reps")
    ]
    pushes = eventually(lambda: clinic.notifications(clinic.patient_h), what="patient push")
    assert [(p["title"], p["body"]) for p in pushes] == [
        (
            "Your therapist reviewed your session",
            "Maya Lind left notes on 1 exercise(s). Tap to view.",
        )
    ]
    assert len(clinic.cards(clinic.patient_h, conversation, "PATIENT_FEEDBACK_SUMMARY")) == 1
