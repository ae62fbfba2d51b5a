"""The push delivery actor: one message, one delivery attempt, one recorded outcome.

Retries are CareLoop's, not Dramatiq's (`max_retries=0`): the Notification aggregate
records each failed attempt with the time of the next one, the actor re-sends itself
with a delay until then (the fast path), and the sweep re-sends what that message lost.
An attempt that is not due yet, or a notification already settled, does nothing, so
duplicate and early messages are harmless.
"""

from __future__ import annotations

import math
import threading
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dramatiq

import workers.broker  # first: the broker must exist before any actor
from domain.notifications.application import Sender, SendOnce
from domain.notifications.notification import DeliveryStatus
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from workers.context import get_runtime
from workers.notifications.expo import ExpoSender

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

QUEUE = "notifications"
# Wake a little after `retry_at`, never before: an early attempt is skipped as not due.
RETRY_MARGIN_MS = 50

_senders: dict[tuple[str, str | None], ExpoSender] = {}

# Two messages for one notification (a duplicate, the sweep beside the fast path) must
# not both reach Expo: in one process, attempts at the same notification take turns, and
# the second finds it settled or not yet due. Striped, so the table never grows.
_attempt_locks = [threading.Lock() for _ in range(64)]


def _lock_for(notification_id: uuid.UUID) -> threading.Lock:
    return _attempt_locks[notification_id.int % len(_attempt_locks)]


def expo_sender(runtime: Runtime) -> ExpoSender | None:
    """The process's Expo client for the runtime's settings; None in the embedded
    default (no `expo_base_url`), where notifications are recorded, not sent."""
    base_url = runtime.settings.expo_base_url
    if not base_url:
        return None
    key = (base_url, runtime.settings.expo_access_token)
    if key not in _senders:
        _senders[key] = ExpoSender(base_url, runtime.settings.expo_access_token)
    return _senders[key]


def deliver_once(
    runtime: Runtime, notification_id: uuid.UUID, sender: Sender | None = None
) -> dict[str, Any]:
    """One delivery attempt through the command bus; returns the command's outcome
    {notificationId, status, attempts, retryAt, sent}.

    `sender` defaults to Expo when `expo_base_url` is set; without it the notification
    is recorded without sending.
    """
    ctx = CommandContext(actor=SYSTEM_ACTOR, causation_id=f"notification:{notification_id}")
    sender = sender or expo_sender(runtime)
    if sender is None:
        outcome = runtime.commands.run(
            ctx, lambda uow: runtime.notifications.record_without_sending(uow, notification_id)
        )
        return outcome.body
    once = SendOnce(sender)
    with _lock_for(notification_id):
        outcome = runtime.commands.run(
            ctx, lambda uow: runtime.notifications.deliver(uow, notification_id, once)
        )
    return outcome.body


def retry_delay_ms(retry_at: datetime, now: datetime) -> int:
    return max(0, math.ceil((retry_at - now).total_seconds() * 1000)) + RETRY_MARGIN_MS


def declare(broker: dramatiq.Broker) -> dramatiq.Actor[[str], None]:
    """The `deliver_notification` actor, declared on `broker`. The module declares one on
    the process's broker; tests declare their own on a broker of their choosing."""

    def deliver_notification(notification_id: str) -> None:
        runtime = get_runtime()
        outcome = deliver_once(runtime, uuid.UUID(notification_id))
        # Only the attempt that just failed schedules the next one: a message that found
        # the retry not yet due leaves that to the message already waiting for it.
        if outcome["sent"] and outcome["status"] == DeliveryStatus.RETRYING.value:
            delay = retry_delay_ms(datetime.fromisoformat(outcome["retryAt"]), runtime.clock.now())
            actor.send_with_options(args=(notification_id,), delay=delay)

    actor: dramatiq.Actor[[str], None] = dramatiq.actor(
        broker=broker, actor_name="deliver_notification", queue_name=QUEUE, max_retries=0
    )(deliver_notification)
    return actor


deliver_notification = declare(workers.broker.broker)
