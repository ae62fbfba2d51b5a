"""The deliveries read model (the admins' outbox listing) as a pure fold, without a
database: every delivery of every channel with its attempts, keyed to list by status,
then age."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.notifications.application import PUSH
from domain.outbox.delivery import BACKOFF_SECONDS, LEASE_SECONDS, MAX_ATTEMPTS, Delivery
from projections.deadlines.evolve import sort_key
from projections.deliveries.evolve import evolve, listing_key
from projections.platform.store import Doc

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
DELIVERY_ID = uuid.UUID("00000000-0000-4000-a000-00000000f001")
PAYLOAD = {"title": "t", "body": "b", "data": {}}

Step = Callable[[Delivery], object]
# Due times a deployment meets (strftime pads no year below 1000 on every platform).
SOON, LATER = datetime(2000, 1, 1), datetime(2200, 1, 1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history(
    *steps: Step,
    delivery_id: uuid.UUID = DELIVERY_ID,
    queued_at: datetime = T0,
    channel: str = PUSH,
    tenant: uuid.UUID | None = CLINIC,
) -> list[Any]:
    recipient = PATIENT if tenant else None
    delivery = Delivery.queue(delivery_id, channel, tenant, recipient, PAYLOAD, queued_at)
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


def key(status: str, delivery_id: uuid.UUID = DELIVERY_ID, queued_at: datetime = T0) -> str:
    return listing_key(status, sort_key(queued_at), str(delivery_id))


def test_a_queued_delivery_is_pending_and_due_at_once_with_no_attempts() -> None:
    assert fold(history()) == {
        "id": str(DELIVERY_ID),
        "tenantId": str(CLINIC),
        "channel": PUSH,
        "recipientId": str(PATIENT),
        "createdAt": T0.isoformat(),
        "createdKey": sort_key(T0),
        "attempts": [],
        "status": "pending",
        "nextAttemptAt": T0.isoformat(),
        "listingKey": key("pending"),
    }


def test_a_delivery_of_no_tenant_and_no_recipient_has_neither_in_its_row() -> None:
    row = fold(history(channel="sms", tenant=None))
    assert (row["tenantId"], row["recipientId"], row["channel"]) == (None, None, "sms")


def test_a_started_attempt_is_listed_and_the_next_step_is_the_end_of_its_lease() -> None:
    row = fold(history(claimed))
    assert row["attempts"] == [{"at": T0.isoformat(), "outcome": "started", "detail": None}]
    assert (row["status"], row["nextAttemptAt"]) == ("pending", at(LEASE_SECONDS).isoformat())


def test_a_failed_attempt_is_listed_with_its_error_and_the_retry_is_the_next_step() -> None:
    row = fold(history(claimed, failed))
    assert row["attempts"][-1] == {
        "at": at(1).isoformat(),
        "outcome": "failed",
        "detail": "HTTP 500",
    }
    assert (row["status"], row["nextAttemptAt"]) == (
        "failed",
        at(1 + BACKOFF_SECONDS[0]).isoformat(),
    )
    assert row["listingKey"] == key("failed")


def test_a_sent_delivery_lists_its_receipt_and_has_no_next_step() -> None:
    row = fold(history(claimed, failed, claimed, sent("ticket-1", "ticket-2")))
    assert [a["outcome"] for a in row["attempts"]] == ["started", "failed", "started", "sent"]
    assert row["attempts"][-1]["detail"] == "ticket-1, ticket-2"
    assert (row["status"], row["nextAttemptAt"], row["listingKey"]) == ("sent", None, key("sent"))


def test_a_sent_attempt_without_a_receipt_has_no_detail() -> None:
    row = fold(history(claimed, sent()))
    assert row["attempts"][-1]["detail"] is None


def test_a_dead_delivery_has_no_next_step() -> None:
    steps = [step for _ in range(MAX_ATTEMPTS) for step in (claimed, failed)]
    row = fold(history(*steps))
    assert (row["status"], row["nextAttemptAt"], row["listingKey"]) == ("dead", None, key("dead"))
    assert [a["outcome"] for a in row["attempts"]] == ["started", "failed"] * MAX_ATTEMPTS


def test_a_skipped_delivery_lists_why() -> None:
    row = fold(history(lambda d: d.skip("no_address", at(1))))
    assert row["attempts"] == [
        {"at": at(1).isoformat(), "outcome": "skipped", "detail": "no_address"}
    ]
    assert (row["status"], row["nextAttemptAt"]) == ("skipped", None)


def test_a_lease_that_ran_out_lists_the_attempt_failed_and_the_next_one_started() -> None:
    lease_end = at(LEASE_SECONDS)
    row = fold(history(claimed, lambda d: d.start_attempt(lease_end, lease_end)))
    assert [a["outcome"] for a in row["attempts"]] == ["started", "failed", "started"]
    assert "lease expired" in row["attempts"][1]["detail"]
    assert (row["status"], row["nextAttemptAt"]) == (
        "pending",
        (lease_end + timedelta(seconds=LEASE_SECONDS)).isoformat(),
    )


def test_a_redelivered_delivery_is_pending_again_due_at_once_and_keeps_its_history() -> None:
    dead = [claimed, lambda d: d.fail(1, "MessageTooBig", at(1), True)]
    row = fold(history(*dead, lambda d: d.redeliver(at(50))))
    assert (row["status"], row["nextAttemptAt"], row["listingKey"]) == (
        "pending",
        at(50).isoformat(),
        key("pending"),
    )
    assert [a["outcome"] for a in row["attempts"]] == ["started", "failed"]


def test_an_event_without_its_queued_event_makes_no_row() -> None:
    for event in history(claimed, failed)[1:]:
        assert evolve(None, event) is None


def test_a_status_is_one_range_of_listing_keys_oldest_first() -> None:
    rows = [
        fold(history(delivery_id=uuid.UUID(int=3), queued_at=at(20))),
        fold(history(claimed, failed, delivery_id=uuid.UUID(int=1), queued_at=at(0))),
        fold(history(delivery_id=uuid.UUID(int=2), queued_at=at(10))),
        fold(history(delivery_id=uuid.UUID(int=4), queued_at=at(10))),
    ]
    listed = [(r["status"], r["id"]) for r in sorted(rows, key=lambda r: r["listingKey"])]
    assert listed == [
        ("failed", str(uuid.UUID(int=1))),
        ("pending", str(uuid.UUID(int=2))),
        ("pending", str(uuid.UUID(int=4))),
        ("pending", str(uuid.UUID(int=3))),
    ]
    pending = [r for r in rows if "pending|" < r["listingKey"] < "pending|\uffff"]
    assert len(pending) == 3


@given(
    first=st.datetimes(SOON, LATER, timezones=st.just(UTC)),
    second=st.datetimes(SOON, LATER, timezones=st.just(UTC)),
    status=st.sampled_from(["pending", "failed", "sent", "dead", "skipped"]),
)
def test_within_a_status_listing_keys_sort_by_age(
    first: datetime, second: datetime, status: str
) -> None:
    a = listing_key(status, sort_key(first), str(uuid.UUID(int=1)))
    b = listing_key(status, sort_key(second), str(uuid.UUID(int=2)))
    assert (a < b) is (first <= second)
