"""The outbox dispatcher: follows the log and turns decisions into Dramatiq messages.

It is a projection with no tables: its tracking row says how far it has dispatched. A
message is sent before the position is committed, so a crash in between sends it again;
every actor is idempotent, so at-least-once delivery is enough.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bootstrap.runtime import OUTBOX_DISPATCH
from domain.notifications.notification import Notification
from domain.shared.clock import Clock
from domain.workouts.window import FeedbackWindow
from domain.workouts.workout import Workout
from projections.platform.projection import Batch, Projection
from workers.feedback.actors import fire_window, summarize_workout


def delay_ms(deadline: datetime, now: datetime) -> int:
    return max(0, int((deadline - now).total_seconds() * 1000))


class OutboxDispatch(Projection):
    name = OUTBOX_DISPATCH
    tables = ()
    handles = (
        Workout.Finalized,
        FeedbackWindow.Opened,
        FeedbackWindow.Extended,
        FeedbackWindow.Reopened,
        Notification.Queued,
    )

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        if isinstance(event, Workout.Finalized):
            summarize_workout.send(str(event.originator_id), str(event.patient_id), position)
        elif isinstance(
            event, FeedbackWindow.Opened | FeedbackWindow.Extended | FeedbackWindow.Reopened
        ):
            fire_window.send_with_options(
                args=(str(event.originator_id), event.deadline.isoformat(), position),
                delay=delay_ms(event.deadline, self.clock.now()),
            )
        elif isinstance(event, Notification.Queued):
            from workers.notifications.actors import deliver_notification

            deliver_notification.send(str(event.originator_id))
