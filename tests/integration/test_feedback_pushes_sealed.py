"""The feedback loop's pushes quote the patient's name: sealed with the patient's key
although they go to a therapist, opened only for the sender, never sent once erased."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.outbox.application import ERASED
from domain.outbox.delivery import Delivery, DeliveryStatus
from domain.privacy.personal import PersonalText
from domain.workouts.feedback import summary_card_id
from tests.support.feedback import Clinic
from workers.outbox.senders import RecordingSender


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    c = Clinic(tmp_path / "data")
    yield c
    c.close()


def painful_workout(clinic: Clinic) -> uuid.UUID:
    workout = clinic.workout([{"id": "e0", "pain": 9}, {"id": "e1"}])
    clinic.finalize(workout)
    return workout


def queued_pushes(clinic: Clinic) -> list[Delivery.Queued]:
    return [e for e in clinic.events() if isinstance(e, Delivery.Queued)]


def test_the_summary_push_quotes_the_patients_name_sealed_with_the_patients_key(
    clinic: Clinic,
) -> None:
    workout = painful_workout(clinic)
    assert clinic.summarize(workout)["outcome"] == "posted"

    [push] = queued_pushes(clinic)
    assert push.recipient_id == clinic.doctors[0]
    assert push.payload["title"] == PersonalText(clinic.patient, "Sam Carter reported high pain")
    stored = b"".join(n.state for n in clinic.rt.log.read(0, 1_000_000))
    assert b"Carter" not in stored


def test_the_sender_gets_the_push_title_as_text(clinic: Clinic) -> None:
    clinic.run(
        clinic.doctor(0),
        lambda u: clinic.rt.notifications.register_push_token(u, "ExpoPushToken[maya]", "ios"),
    )
    workout = painful_workout(clinic)
    clinic.summarize(workout)
    [push] = queued_pushes(clinic)
    due = clinic.rt.log.find(push.originator_id).due_at

    claim = clinic.system(lambda u: clinic.rt.outbox.claim(u, push.originator_id, due))
    # The in-process test log renders the claim as JSON: its payload is plain text.
    assert claim["payload"]["title"] == "Sam Carter reported high pain"


def test_a_summary_push_whose_patient_was_erased_before_it_was_sent_is_skipped(
    clinic: Clinic,
) -> None:
    workout = painful_workout(clinic)
    clinic.summarize(workout)
    [push] = queued_pushes(clinic)
    due = clinic.rt.log.find(push.originator_id).due_at
    clinic.rt.keys.destroy(clinic.patient)

    assert clinic.system(lambda u: clinic.rt.outbox.claim(u, push.originator_id, due)) is None

    delivery = clinic.rt.log.find(push.originator_id)
    assert isinstance(delivery, Delivery) and delivery.status is DeliveryStatus.SKIPPED
    skipped = clinic.rt.log.stream(push.originator_id)[-1]
    assert isinstance(skipped, Delivery.Skipped) and skipped.reason == ERASED
    recorder = clinic.rt.senders["push"]
    assert isinstance(recorder, RecordingSender) and recorder.sent == []


def test_an_erased_patients_finalized_workout_gets_no_summary(clinic: Clinic) -> None:
    workout = painful_workout(clinic)
    clinic.rt.keys.destroy(clinic.patient)

    assert clinic.summarize(workout)["outcome"] == "erased"
    assert clinic.rt.log.find(summary_card_id(workout)) is None
    assert queued_pushes(clinic) == []
