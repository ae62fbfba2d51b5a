"""Steps for push-delivery tests: queue a push, register a device, deliver what is due
as the deadlines worker would, read the outcome."""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

from bootstrap.runtime import Runtime
from domain.notifications.application import queue_push
from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.outbox.delivery import DELIVERY, Delivery, DeliveryStatus
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.deadlines import Deadline
from projections.deadlines.projection import DeadlineProjection
from projections.platform.runner import wait_for_position
from projections.platform.store import TrackingConflictError
from workers.outbox.deliver import DeliverDue

TITLE = "Your therapist reviewed your session"
BODY = "Maya Lind left notes on 2 exercise(s). Tap to view."


def queue_notification(
    runtime: Runtime, recipient: uuid.UUID, tenant: uuid.UUID, title: str = TITLE
) -> uuid.UUID:
    """Queues one push, as the feedback loop's policies do."""
    notification_id = runtime.ids.new_id()
    data = {
        "type": "DOCTOR_FEEDBACK_NOTE",
        "workoutId": str(uuid.uuid4()),
        "conversationId": str(uuid.uuid4()),
        "messageId": str(uuid.uuid4()),
    }

    def queue(uow: Any) -> None:
        queue_push(uow, notification_id, tenant, recipient, title, BODY, data)

    runtime.commands.run(CommandContext(actor=SYSTEM_ACTOR), queue)
    return notification_id


def register_token(
    runtime: Runtime, user: uuid.UUID, tenant: uuid.UUID, token: str, platform: str = "ios"
) -> None:
    ctx = CommandContext(actor=Actor(user, Role.PATIENT, tenant))
    runtime.commands.run(
        ctx, lambda uow: runtime.notifications.register_push_token(uow, token, platform)
    )


def stored(runtime: Runtime, delivery_id: uuid.UUID) -> Delivery:
    delivery = runtime.log.find(delivery_id)
    assert isinstance(delivery, Delivery)
    return delivery


def status_of(runtime: Runtime, delivery_id: uuid.UUID) -> DeliveryStatus:
    return stored(runtime, delivery_id).status


def tokens_of(runtime: Runtime, user: uuid.UUID) -> dict[str, str]:
    found = runtime.log.find(push_tokens_id(user))
    return dict(found.tokens) if isinstance(found, PushTokens) else {}


def delivery_handler(runtime: Runtime) -> DeliverDue:
    """What the deadlines worker runs for a due deadline of kind `delivery`."""
    handler = runtime.deadline_handlers[DELIVERY]
    assert isinstance(handler, DeliverDue)
    return handler


def deadlines_current(runtime: Runtime, timeout: float = 10.0) -> None:
    """Bring the deadlines read model up to the head: in this thread, or, when the
    runtime's own projection threads run it, by waiting for them."""
    runner = runtime.runners[DeadlineProjection.name]
    with suppress(TrackingConflictError):  # another runner moved it first: wait for it
        runner.catch_up()
    assert wait_for_position(runtime.store, runner.name, runtime.log.head(), timeout)


def due_deliveries(runtime: Runtime, now: datetime | None = None) -> list[Deadline]:
    """The delivery deadlines the scheduler would find due now."""
    deadlines_current(runtime)
    now = now or runtime.clock.now()
    return [d for d in runtime.views.deadlines.due(now) if d.kind == DELIVERY]


def deliver_due(runtime: Runtime, delivery_id: uuid.UUID | None = None) -> int:
    """What one pass of the deadlines worker does for deliveries: fire each due one (or
    only `delivery_id`'s); returns how many attempts were made."""
    handler = delivery_handler(runtime)
    due = [d for d in due_deliveries(runtime) if delivery_id in (None, d.id)]
    return sum(handler.deliver(deadline) for deadline in due)
