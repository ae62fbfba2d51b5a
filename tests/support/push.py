"""Steps for push-delivery tests: queue a push, register a device, read the outcome."""

from __future__ import annotations

import uuid
from typing import Any

from bootstrap.runtime import Runtime
from domain.notifications.application import queue_push
from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.outbox.delivery import Delivery
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role

TITLE = "Your therapist reviewed your session"
BODY = "Maya Lind left notes on 2 exercise(s). Tap to view."


def queue_notification(
    runtime: Runtime, recipient: uuid.UUID, tenant: uuid.UUID, title: str = TITLE
) -> uuid.UUID:
    """Queues one notification, as the feedback loop's policies do."""
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


def tokens_of(runtime: Runtime, user: uuid.UUID) -> dict[str, str]:
    found = runtime.log.find(push_tokens_id(user))
    return dict(found.tokens) if isinstance(found, PushTokens) else {}
