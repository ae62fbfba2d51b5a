"""The feedback loop's decisions where the spec is silent (docs/decisions/0010)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from domain.messaging.message import Message, MessageType
from domain.outbox.delivery import Delivery
from domain.people.flags import Flag
from domain.workouts.feedback import note_card_id, summary_card_id
from domain.workouts.window import FeedbackWindow, window_id
from tests.support.feedback import WINDOW, Clinic


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    c = Clinic(tmp_path / "data")
    yield c
    c.close()


def note(clinic: Clinic, doctor: int, workout: uuid.UUID, exercise: str, text: str) -> None:
    clinic.run(
        clinic.doctor(doctor), lambda u: clinic.rt.workouts.save_note(u, workout, exercise, text)
    )


def close_window(clinic: Clinic, workout: uuid.UUID, doctor: int) -> str:
    window = clinic.rt.log.find(window_id(workout, clinic.doctors[doctor]))
    assert isinstance(window, FeedbackWindow)
    deadline: datetime = window.deadline
    clinic.clock.advance(WINDOW)
    return str(clinic.fire(window.id, deadline)["outcome"])


def pushes(clinic: Clinic) -> list[Delivery.Queued]:
    return [e for e in clinic.events() if isinstance(e, Delivery.Queued)]


def finalized_workout(clinic: Clinic, **record: object) -> uuid.UUID:
    workout = clinic.workout([{"id": "e0", **record}, {"id": "e1"}])
    clinic.finalize(workout)
    return workout


def add_second_therapist(clinic: Clinic) -> None:
    clinic.run(
        clinic.platform,
        lambda u: clinic.rt.people.set_flag(
            u, clinic.tenant, Flag.THERAPIST_PATIENT_ASSIGNMENT.value, True
        ),
    )
    clinic.run(clinic.doctor(1), lambda u: clinic.rt.care_teams.assign(u, clinic.patient, None))


def test_two_therapists_noting_one_workout_each_post_their_own_card(clinic: Clinic) -> None:
    add_second_therapist(clinic)
    workout = finalized_workout(clinic)
    note(clinic, 0, workout, "e0", "From Maya")
    note(clinic, 1, workout, "e1", "From Tomas")
    assert close_window(clinic, workout, 0) == "posted"
    assert close_window(clinic, workout, 1) == "posted"
    cards = {d: clinic.rt.log.find(note_card_id(workout, d)) for d in clinic.doctors}
    notes = [c.card["exercises"][0]["note"] for c in cards.values()]
    assert [n.text for n in notes] == ["From Maya", "From Tomas"]
    assert len(pushes(clinic)) == 2


def test_turning_the_flag_off_mid_window_posts_no_card(clinic: Clinic) -> None:
    workout = finalized_workout(clinic)
    note(clinic, 0, workout, "e0", "Slow down")
    clinic.run(
        clinic.platform,
        lambda u: clinic.rt.people.set_flag(
            u, clinic.tenant, Flag.FEEDBACK_NOTIFICATIONS.value, False
        ),
    )
    assert close_window(clinic, workout, 0) == "flag_off"
    assert clinic.rt.log.find(note_card_id(workout, clinic.doctors[0])) is None
    assert pushes(clinic) == []


def test_a_therapist_unassigned_mid_window_posts_no_card(clinic: Clinic) -> None:
    add_second_therapist(clinic)
    workout = finalized_workout(clinic)
    note(clinic, 1, workout, "e0", "Before I go")
    clinic.run(
        clinic.doctor(1),
        lambda u: clinic.rt.care_teams.unassign(u, clinic.patient, clinic.doctors[1]),
    )
    assert close_window(clinic, workout, 1) == "not_on_care_team"
    assert clinic.rt.log.find(note_card_id(workout, clinic.doctors[1])) is None


def test_a_workout_finalized_with_no_therapist_posts_no_summary(clinic: Clinic) -> None:
    clinic.run(clinic.platform, lambda u: clinic.rt.people.deactivate_staff(u, clinic.doctors[0]))
    workout = finalized_workout(clinic, pain=9)
    assert clinic.summarize(workout)["outcome"] == "no_therapist"
    assert clinic.rt.log.find(summary_card_id(workout)) is None


def test_a_workout_finalized_with_the_flag_off_posts_no_summary(clinic: Clinic) -> None:
    clinic.run(
        clinic.platform,
        lambda u: clinic.rt.people.set_flag(
            u, clinic.tenant, Flag.FEEDBACK_NOTIFICATIONS.value, False
        ),
    )
    workout = finalized_workout(clinic, pain=9)
    assert clinic.summarize(workout)["outcome"] == "flag_off"
    assert pushes(clinic) == []


def test_an_edit_after_the_card_replaces_it_without_a_second_push(clinic: Clinic) -> None:
    workout = finalized_workout(clinic)
    note(clinic, 0, workout, "e0", "First")
    assert close_window(clinic, workout, 0) == "posted"
    note(clinic, 0, workout, "e0", "Second")
    assert close_window(clinic, workout, 0) == "revised"
    card = clinic.rt.log.find(note_card_id(workout, clinic.doctors[0]))
    assert (card.revision, card.card["exercises"][0]["note"].text) == (2, "Second")
    assert len(pushes(clinic)) == 1


def test_deleting_every_note_after_the_card_withdraws_it(clinic: Clinic) -> None:
    workout = finalized_workout(clinic)
    note(clinic, 0, workout, "e0", "Oops")
    assert close_window(clinic, workout, 0) == "posted"
    clinic.run(clinic.doctor(0), lambda u: clinic.rt.workouts.delete_note(u, workout, "e0"))
    assert close_window(clinic, workout, 0) == "withdrawn"
    card = clinic.rt.log.find(note_card_id(workout, clinic.doctors[0]))
    assert card.card["withdrawn"] is True and card.card["exercises"] == []


def test_deleting_every_note_before_any_card_posts_nothing(clinic: Clinic) -> None:
    workout = finalized_workout(clinic)
    note(clinic, 0, workout, "e0", "Never mind")
    clinic.run(clinic.doctor(0), lambda u: clinic.rt.workouts.delete_note(u, workout, "e0"))
    assert close_window(clinic, workout, 0) == "no_notes"
    assert [
        e
        for e in clinic.events()
        if isinstance(e, Message.Posted) and e.message_type == MessageType.DOCTOR_FEEDBACK_NOTE
    ] == []
