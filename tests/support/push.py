"""Steps for push-delivery tests: queue a notification, register a device, read the outcome."""

from __future__ import annotations

import uuid
from typing import Any

from bootstrap.runtime import Runtime
from domain.notifications.notification import Notification
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

    def queue(uow: Any) -> dict[str, Any]:
        uow.add(
            Notification(
                id=notification_id,
                tenant_id=tenant,
                recipient_id=recipient,
                title=title,
                body=BODY,
                data=data,
                timestamp=uow.now,
            )
        )
        return {}

    runtime.commands.run(CommandContext(actor=SYSTEM_ACTOR), queue)
    return notification_id


def register_token(
    runtime: Runtime, user: uuid.UUID, tenant: uuid.UUID, token: str, platform: str = "ios"
) -> None:
    ctx = CommandContext(actor=Actor(user, Role.PATIENT, tenant))
    runtime.commands.run(
        ctx, lambda uow: runtime.notifications.register_push_token(uow, token, platform)
    )


def stored(runtime: Runtime, notification_id: uuid.UUID) -> Notification:
    notification = runtime.log.find(notification_id)
    assert isinstance(notification, Notification)
    return notification


def tokens_of(runtime: Runtime, user: uuid.UUID) -> dict[str, str]:
    from domain.notifications.push_tokens import PushTokens, push_tokens_id

    found = runtime.log.find(push_tokens_id(user))
    return dict(found.tokens) if isinstance(found, PushTokens) else {}
