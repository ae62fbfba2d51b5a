"""The webhooks read model as pure folds, without a database: given the events of a
subscription and of outbox deliveries (made by the aggregates themselves), then the
subscription row (never its secret), its trigger index rows and the delivery log."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from domain.notifications.application import PUSH
from domain.outbox.delivery import BACKOFF_SECONDS, Delivery
from domain.webhooks.application import WEBHOOK, webhook_delivery_id
from domain.webhooks.subscription import Subscription, Trigger
from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc
from projections.webhooks.evolve import (
    KEY,
    delivery_doc,
    delivery_key,
    evolve_delivery,
    evolve_subscription,
    key_range,
    newest_first,
    public,
    trigger_key,
    trigger_rows,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
SUBSCRIPTION = uuid.UUID("00000000-0000-4000-a000-00000000f001")
SECRET = "a-secret-of-32-characters-000000"
CREATED, EXPIRED = Trigger.CREATED.value, Trigger.EXPIRED.value

Fold = Callable[[Doc | None, Any], Doc | None]


def pure(evolve: Fold) -> Fold:
    def step(row: Doc | None, event: Any) -> Doc | None:
        before = copy.deepcopy(row)
        after = evolve(row, event)
        assert row == before, "a fold must not change the row it was given"
        return after

    return step


def fold(evolve: Fold, events: list[Any]) -> Doc | None:
    return reduce(pure(evolve), events, None)


def subscription(*events: str) -> Subscription:
    return Subscription.create(
        SUBSCRIPTION,
        TENANT,
        "https://hooks.example/in",
        list(events or (CREATED, EXPIRED)),
        SECRET,
        ADMIN,
        T0,
    )


def queued(
    at: datetime = T0, channel: str = WEBHOOK, source: str = "plan:1", trigger: str = CREATED
) -> Delivery:
    return Delivery.queue(
        webhook_delivery_id(SUBSCRIPTION, trigger, source),
        channel,
        TENANT,
        SUBSCRIPTION,
        {"event": trigger, "occurredAt": at.isoformat(), "data": {}},
        at,
    )


def test_a_subscription_row_never_holds_its_secret() -> None:
    row = fold(evolve_subscription, list(subscription(EXPIRED, CREATED).collect_events()))
    assert row is not None
    assert public(row) == {
        "id": str(SUBSCRIPTION),
        "tenantId": str(TENANT),
        "url": "https://hooks.example/in",
        "events": sorted([CREATED, EXPIRED]),
        "active": True,
        "createdAt": T0.isoformat(),
    }
    assert row[KEY] == f"{TENANT}|{sort_key(T0)}|{SUBSCRIPTION}"
    assert SECRET not in repr(row)


def test_an_active_subscription_has_one_index_row_per_trigger_it_wants() -> None:
    row = fold(evolve_subscription, list(subscription().collect_events()))
    assert row is not None
    rows = trigger_rows(row)
    assert sorted(rows) == sorted(
        f"{TENANT}|{trigger}|{SUBSCRIPTION}" for trigger in (CREATED, EXPIRED)
    )
    index = rows[trigger_key(str(TENANT), CREATED, str(SUBSCRIPTION))]
    assert index == {
        "id": f"{TENANT}|{CREATED}|{SUBSCRIPTION}",
        "tenantId": str(TENANT),
        "subscriptionId": str(SUBSCRIPTION),
        "trigger": CREATED,
        KEY: f"{TENANT}|{CREATED}|{SUBSCRIPTION}",
    }
    after, below = key_range(f"{TENANT}|{CREATED}|")
    assert all(after < key < below for key in rows if CREATED in key)
    assert not any(after < key < below for key in rows if CREATED not in key)


def test_a_deactivated_subscription_wants_nothing() -> None:
    aggregate = subscription()
    aggregate.deactivate(T0 + timedelta(days=1))
    row = fold(evolve_subscription, list(aggregate.collect_events()))
    assert row is not None
    assert row["active"] is False
    assert trigger_rows(row) == {}


def test_deliveries_of_other_channels_have_no_row() -> None:
    assert fold(evolve_delivery, list(queued(channel=PUSH).collect_events())) is None


def test_a_queued_webhook_delivery_names_its_trigger_and_sorts_newest_first() -> None:
    delivery = queued()
    row = fold(evolve_delivery, list(delivery.collect_events()))
    assert row is not None
    assert delivery_doc(row) == {
        "id": str(delivery.id),
        "event": CREATED,
        "status": "pending",
        "attempts": [],
        "nextAttemptAt": T0.isoformat(),
        "createdAt": T0.isoformat(),
    }
    assert row["subscriptionId"] == str(SUBSCRIPTION)
    assert row[KEY] == delivery_key(str(SUBSCRIPTION), sort_key(T0), str(delivery.id))
    second = queued(T0 + timedelta(seconds=1), source="x")
    later = fold(evolve_delivery, list(second.collect_events()))
    assert later is not None
    assert later[KEY] < row[KEY]
    assert newest_first(sort_key(T0)) > newest_first(sort_key(T0 + timedelta(microseconds=1)))


def test_every_attempt_of_a_webhook_delivery_is_logged_until_it_is_sent() -> None:
    delivery = queued()
    delivery.start_attempt(T0, T0)
    delivery.fail(1, "HTTP 500", T0 + timedelta(seconds=1))
    retry_at = T0 + timedelta(seconds=1 + BACKOFF_SECONDS[0])
    failed = fold(evolve_delivery, list(delivery.collect_events()))
    assert failed is not None
    assert (failed["status"], failed["nextAttemptAt"]) == ("failed", retry_at.isoformat())
    delivery.start_attempt(retry_at, retry_at)
    delivery.succeed(2, ["200"], retry_at + timedelta(seconds=1))
    row = reduce(pure(evolve_delivery), list(delivery.collect_events()), failed)
    assert row is not None
    assert delivery_doc(row)["attempts"] == [
        {"at": T0.isoformat(), "outcome": "started", "detail": None},
        {"at": (T0 + timedelta(seconds=1)).isoformat(), "outcome": "failed", "detail": "HTTP 500"},
        {"at": retry_at.isoformat(), "outcome": "started", "detail": None},
        {"at": (retry_at + timedelta(seconds=1)).isoformat(), "outcome": "sent", "detail": "200"},
    ]
    assert (row["status"], row["nextAttemptAt"]) == ("sent", None)
    assert row["event"] == CREATED  # kept from the Queued event through every attempt
