"""The notifications read model as a pure fold, and its sweep index, without a database."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from domain.notifications.notification import BACKOFF_SECONDS, MAX_ATTEMPTS, Notification
from projections.notifications.evolve import evolve, outbox_entry
from projections.platform.store import Doc

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PUSH = uuid.UUID("00000000-0000-4000-a000-00000000f001")
DATA = {"type": "DOCTOR_FEEDBACK_NOTE", "workoutId": str(uuid.UUID(int=7))}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history(*steps: Any) -> list[Any]:
    notification = Notification(
        id=PUSH,
        tenant_id=CLINIC,
        recipient_id=PATIENT,
        title="Your therapist reviewed your session",
        body="Tap to view.",
        data=DATA,
        timestamp=T0,
    )
    for step in steps:
        step(notification)
    return list(notification.collect_events())


def pure(row: Doc | None, event: Any) -> Doc | None:
    before = copy.deepcopy(row)
    after = evolve(row, event)
    assert row == before, "a fold must not change the row it was given"
    return after


def fold(events: list[Any]) -> Doc:
    row = reduce(pure, events, None)
    assert row is not None
    return row


def test_a_queued_notification_is_a_row_of_its_recipient_with_status_queued() -> None:
    row = fold(history())
    assert row == {
        "id": str(PUSH),
        "tenantId": str(CLINIC),
        "recipientId": str(PATIENT),
        "title": "Your therapist reviewed your session",
        "body": "Tap to view.",
        "data": DATA,
        "createdAt": T0.isoformat(),
        "deliveredAt": None,
        "status": "queued",
        "attempts": 0,
        "retryAt": None,
        "lastError": None,
    }
    assert outbox_entry(row) is not None


def test_a_failed_attempt_shows_the_retry_and_the_error_then_delivery_clears_them() -> None:
    retrying = fold(history(lambda n: n.failed("HTTP 500", at(1))))
    assert (retrying["status"], retrying["attempts"], retrying["lastError"]) == (
        "retrying",
        1,
        "HTTP 500",
    )
    assert retrying["retryAt"] == at(1 + BACKOFF_SECONDS[0]).isoformat()
    delivered = fold(
        history(lambda n: n.failed("HTTP 500", at(1)), lambda n: n.delivered(["t"], at(9)))
    )
    assert (delivered["status"], delivered["deliveredAt"], delivered["retryAt"]) == (
        "delivered",
        at(9).isoformat(),
        None,
    )
    assert delivered["attempts"] == 2
    assert outbox_entry(delivered) is None


def test_running_out_of_attempts_shows_failed_and_leaves_the_sweep_index() -> None:
    row = fold(history(*[lambda n, i=i: n.failed("HTTP 500", at(i)) for i in range(MAX_ATTEMPTS)]))
    assert (row["status"], row["attempts"], row["retryAt"]) == ("failed", MAX_ATTEMPTS, None)
    assert outbox_entry(row) is None


def test_recorded_and_no_device_are_their_own_statuses() -> None:
    assert fold(history(lambda n: n.record_only("embedded", at(1))))["status"] == "recorded"
    assert fold(history(lambda n: n.record_only("no_device", at(1))))["status"] == "no_device"


def test_an_outcome_without_its_queued_event_makes_no_row() -> None:
    [_, delivered] = history(lambda n: n.delivered(["t"], at(1)))
    assert evolve(None, delivered) is None
