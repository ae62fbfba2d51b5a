"""The notifications read model (`GET /v1/me/notifications`) as a pure fold of push
deliveries, without a database: the outbox's statuses in the API's older vocabulary."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from domain.notifications.application import PUSH, RECORDED_RECEIPT
from domain.outbox.delivery import BACKOFF_SECONDS, LEASE_SECONDS, MAX_ATTEMPTS, Delivery
from projections.notifications.evolve import KEY, evolve, listing_key
from projections.platform.store import Doc

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PUSH_ID = uuid.UUID("00000000-0000-4000-a000-00000000f001")
DATA = {"type": "DOCTOR_FEEDBACK_NOTE", "workoutId": str(uuid.UUID(int=7))}
PAYLOAD = {"title": "Your therapist reviewed your session", "body": "Tap to view.", "data": DATA}

Step = Callable[[Delivery], object]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history(*steps: Step, channel: str = PUSH) -> list[Any]:
    """The events of a push delivery queued at T0, then `steps`."""
    delivery = Delivery.queue(PUSH_ID, channel, CLINIC, PATIENT, PAYLOAD, T0)
    for step in steps:
        step(delivery)
    return list(delivery.collect_events())


def claimed(delivery: Delivery) -> None:
    assert delivery.due_at is not None
    assert delivery.start_attempt(delivery.due_at, delivery.due_at) is not None


def failed(delivery: Delivery) -> None:
    assert delivery.due_at is not None
    delivery.fail(delivery.attempts, "HTTP 500", delivery.due_at - timedelta(seconds=29))


def sent(*receipt: str) -> Step:
    return lambda d: d.succeed(d.attempts, list(receipt), at(100))


def pure(row: Doc | None, event: Any) -> Doc | None:
    before = copy.deepcopy(row)
    after = evolve(row, event)
    assert row == before, "a fold must not change the row it was given"
    return after


def fold(events: list[Any]) -> Doc:
    row = reduce(pure, events, None)
    assert row is not None
    return row


def test_a_queued_push_is_a_row_of_its_recipient_with_status_queued() -> None:
    assert fold(history()) == {
        "id": str(PUSH_ID),
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
        KEY: listing_key(str(PATIENT), T0, str(PUSH_ID)),
    }


def test_a_recipients_listing_keys_sort_newest_first_then_by_id_descending() -> None:
    a, b = "00000000-0000-4000-a000-00000000000a", "00000000-0000-4000-a000-00000000000b"
    keys = [
        listing_key(str(PATIENT), T0, a),
        listing_key(str(PATIENT), T0 + timedelta(microseconds=1), a),
        listing_key(str(PATIENT), T0, b),
        listing_key(str(PATIENT), T0 + timedelta(days=400), b),
    ]
    assert sorted(keys) == [keys[3], keys[1], keys[2], keys[0]]


def test_a_delivery_on_another_channel_makes_no_row() -> None:
    events = history(claimed, sent("ok"), channel="sms")
    assert reduce(pure, events, None) is None


def test_an_attempt_under_way_counts_and_keeps_the_status_queued() -> None:
    row = fold(history(claimed))
    assert (row["status"], row["attempts"]) == ("queued", 1)


def test_a_failed_attempt_shows_the_retry_and_the_error() -> None:
    row = fold(history(claimed, failed))
    assert (row["status"], row["attempts"], row["lastError"]) == ("retrying", 1, "HTTP 500")
    assert row["retryAt"] == at(1 + BACKOFF_SECONDS[0]).isoformat()


def test_a_later_attempt_that_reached_a_device_is_delivered_and_clears_the_retry() -> None:
    row = fold(history(claimed, failed, claimed, sent("ticket-0001")))
    assert (row["status"], row["deliveredAt"], row["retryAt"], row["attempts"]) == (
        "delivered",
        at(100).isoformat(),
        None,
        2,
    )


def test_a_push_the_embedded_default_kept_is_recorded_without_a_delivered_at() -> None:
    row = fold(history(claimed, sent(RECORDED_RECEIPT)))
    assert (row["status"], row["deliveredAt"]) == ("recorded", None)


def test_a_push_with_nowhere_to_go_is_no_device() -> None:
    row = fold(history(lambda d: d.skip("no_address", at(1))))
    assert (row["status"], row["deliveredAt"], row["attempts"]) == ("no_device", None, 0)


def test_running_out_of_attempts_shows_failed_with_no_retry_and_the_last_error() -> None:
    steps = [step for _ in range(MAX_ATTEMPTS) for step in (claimed, failed)]
    row = fold(history(*steps))
    assert (row["status"], row["attempts"], row["retryAt"], row["lastError"]) == (
        "failed",
        MAX_ATTEMPTS,
        None,
        "HTTP 500",
    )


def test_a_permanent_failure_shows_failed_at_once() -> None:
    row = fold(history(claimed, lambda d: d.fail(1, "DeviceNotRegistered", at(1), True)))
    assert (row["status"], row["retryAt"], row["lastError"]) == (
        "failed",
        None,
        "DeviceNotRegistered",
    )


def test_a_lease_that_ran_out_shows_the_next_attempt_under_way() -> None:
    lease_end = at(LEASE_SECONDS)
    row = fold(history(claimed, lambda d: d.start_attempt(lease_end, lease_end)))
    assert row["attempts"] == 2
    assert "lease expired" in row["lastError"]


def test_a_redelivered_push_is_queued_again() -> None:
    steps = [claimed, lambda d: d.fail(1, "MessageTooBig", at(1), True)]
    row = fold(history(*steps, lambda d: d.redeliver(at(50))))
    assert (row["status"], row["retryAt"]) == ("queued", None)
    delivered = fold(history(*steps, lambda d: d.redeliver(at(50)), claimed, sent("t")))
    assert (delivered["status"], delivered["attempts"]) == ("delivered", 2)


def test_an_outcome_without_its_queued_event_makes_no_row() -> None:
    for event in history(claimed, sent("t"))[1:]:
        assert evolve(None, event) is None
