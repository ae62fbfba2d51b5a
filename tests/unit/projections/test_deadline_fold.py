"""The deadlines read model as a pure fold, without a database: one row per pending
deadline, with a sort key that orders due times as text."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import reduce
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.notifications.application import PUSH
from domain.outbox.delivery import BACKOFF_SECONDS, DELIVERY, LEASE_SECONDS, Delivery
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.shared.deadlines import Deadline, deadline_key
from domain.shared.eventlog import EventLog
from domain.workouts.window import FEEDBACK_WINDOW, FeedbackWindow
from projections.deadlines.evolve import evolve, sort_key, to_deadline
from projections.deadlines.projection import deadline_events
from projections.platform.store import Doc

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
DELIVERY_ID = uuid.UUID("00000000-0000-4000-a000-00000000f001")
KEY = deadline_key(DELIVERY, DELIVERY_ID)

Step = Callable[[Delivery], object]
# Due times a deployment meets (strftime pads no year below 1000 on every platform).
SOON, LATER = datetime(2000, 1, 1), datetime(2200, 1, 1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history(*steps: Step, correlation: str | None = None) -> list[Any]:
    """A delivery's events; with `correlation`, stamped as the command that queued it
    would stamp them."""
    delivery = Delivery.queue(DELIVERY_ID, PUSH, CLINIC, PATIENT, {"to": "x"}, T0)
    if correlation:
        EventLog.stamp(
            delivery, CommandContext(SYSTEM_ACTOR, correlation_id=correlation), T0, only_new=True
        )
    for step in steps:
        step(delivery)
    return list(delivery.collect_events())


def claimed(delivery: Delivery) -> None:
    assert delivery.due_at is not None
    assert delivery.start_attempt(delivery.due_at, delivery.due_at) is not None


def pure(row: Doc | None, event: Any) -> Doc | None:
    before = copy.deepcopy(row)
    after = evolve(row, event)
    assert row == before, "a fold must not change the row it was given"
    return after


def fold(events: list[Any], row: Doc | None = None) -> Doc | None:
    return reduce(pure, events, row)


def test_a_queued_delivery_is_a_deadline_due_at_once_for_its_tenant() -> None:
    assert fold(history()) == {
        "id": KEY,
        "kind": DELIVERY,
        "aggregateId": str(DELIVERY_ID),
        "tenantId": str(CLINIC),
        "dueAt": T0.isoformat(),
        "sortKey": "2026-01-05T09:00:00.000000Z",
        "payload": {},
    }


def test_firing_continues_the_request_that_set_the_deadline() -> None:
    row = fold(history(correlation="req-42"))
    assert row is not None and row["payload"] == {"correlationId": "req-42"}


def test_a_started_attempt_moves_the_deadline_to_its_lease_end_and_keeps_the_tenant() -> None:
    row = fold(history(claimed))
    assert row is not None
    assert (row["dueAt"], row["tenantId"]) == (at(LEASE_SECONDS).isoformat(), str(CLINIC))
    assert row["sortKey"] == sort_key(at(LEASE_SECONDS))


def test_a_failed_attempt_moves_the_deadline_to_its_retry() -> None:
    row = fold(history(claimed, lambda d: d.fail(1, "HTTP 500", at(2))))
    assert row is not None and row["dueAt"] == at(2 + BACKOFF_SECONDS[0]).isoformat()


def test_an_event_naming_no_payload_keeps_the_payload_the_row_had() -> None:
    queued, started = history(claimed)
    row = pure(evolve(None, queued), started)
    assert row is not None and row["payload"] == {}
    earlier = {**(evolve(None, queued) or {}), "payload": {"correlationId": "req-1"}}
    moved = pure(earlier, started)
    assert moved is not None and moved["payload"] == {"correlationId": "req-1"}


def test_a_sent_delivery_clears_its_deadline() -> None:
    events = history(claimed, lambda d: d.succeed(1, ["t"], at(1)))
    assert fold(events) is None
    assert pure(fold(events[:-1]), events[-1]) is None


def test_a_dead_or_skipped_delivery_clears_its_deadline() -> None:
    dead = history(claimed, lambda d: d.fail(1, "MessageTooBig", at(1), permanent=True))
    assert fold(dead) is None
    assert fold(history(lambda d: d.skip("no_address", at(1)))) is None


def test_a_redelivery_sets_a_deadline_again_with_no_tenant_left_to_keep() -> None:
    dead = [claimed, lambda d: d.fail(1, "MessageTooBig", at(1), permanent=True)]
    row = fold(history(*dead, lambda d: d.redeliver(at(60))))
    assert row is not None
    assert (row["id"], row["dueAt"], row["tenantId"]) == (KEY, at(60).isoformat(), None)


def test_a_row_reads_back_as_the_deadline_it_stores() -> None:
    row = fold(history(correlation="req-7"))
    assert row is not None
    assert to_deadline(row) == Deadline(
        DELIVERY, DELIVERY_ID, T0, CLINIC, {"correlationId": "req-7"}
    )
    assert to_deadline(row).key == KEY


def test_a_feedback_window_is_a_deadline_of_its_own_kind() -> None:
    window = FeedbackWindow.open(CLINIC, uuid.UUID(int=1), uuid.UUID(int=2), PATIENT, T0, 300)
    row = fold(list(window.collect_events()))
    assert row is not None
    assert (row["id"], row["kind"], row["dueAt"]) == (
        deadline_key(FEEDBACK_WINDOW, window.id),
        FEEDBACK_WINDOW,
        at(300).isoformat(),
    )


def test_the_read_model_folds_every_delivery_event() -> None:
    assert set(deadline_events([Delivery])) == {
        Delivery.Queued,
        Delivery.AttemptStarted,
        Delivery.Sent,
        Delivery.AttemptFailed,
        Delivery.Died,
        Delivery.Skipped,
        Delivery.Redelivered,
    }


@given(
    first=st.datetimes(SOON, LATER, timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))])),
    second=st.datetimes(
        SOON, LATER, timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))])
    ),
)
def test_sort_keys_order_due_times_as_time_does_in_any_time_zone(
    first: datetime, second: datetime
) -> None:
    assert (sort_key(first) < sort_key(second)) is (first < second)
    assert (sort_key(first) == sort_key(second)) is (first == second)
    assert len(sort_key(first)) == len(sort_key(second))
