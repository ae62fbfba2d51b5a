"""Treatment plans' process managers, as pure decisions.

- Session completion: a finalized workout may have performed a plan session; the
  command checks and records it on the enrollment, once.
- Automations: the six triggers of the spec become webhook deliveries to the tenant's
  subscriptions (domain/webhooks). The event names itself as the delivery's source, so
  deciding twice queues once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.plans.enrollment import Enrollment
from domain.plans.plan import TreatmentPlan
from domain.shared.reactions import ProcessManager
from domain.webhooks.subscription import Trigger
from domain.workouts.workout import Workout

WEBHOOKS = "webhooks"


@dataclass(frozen=True)
class CompleteSession:
    workout_id: uuid.UUID


@dataclass(frozen=True)
class FireTrigger:
    trigger: str
    aggregate_id: uuid.UUID
    source: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


def decide_session(event: Workout.Finalized) -> list[CompleteSession]:
    return [CompleteSession(event.originator_id)]


def _plain(value: Any) -> Any:
    """JSON-ready: ids as strings, times in ISO 8601 like the delivery's `occurredAt`."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value


def _fire(trigger: Trigger, event: Any, **data: Any) -> FireTrigger:
    return FireTrigger(
        trigger.value,
        event.originator_id,
        f"{event.originator_id}:{event.originator_version}",
        event.timestamp,
        {k: _plain(v) for k, v in data.items()},
    )


def decide_automations(event: Any) -> list[FireTrigger]:
    if isinstance(event, TreatmentPlan.Drafted):
        if event.tenant_id is None:
            return []  # a global plan belongs to no clinic's automations
        return [
            _fire(
                Trigger.CREATED,
                event,
                planId=event.originator_id,
                scope=event.scope,
                title=event.content.title,
            )
        ]
    if isinstance(event, Enrollment.Enrolled):
        facts = {
            "enrollmentId": event.originator_id,
            "planId": event.plan_id,
            "version": event.version,
            "patientId": event.patient_id,
            "selfAssigned": event.self_assigned,
        }
        fired = [_fire(Trigger.ASSIGNED, event, status=event.status, **facts)]
        if event.ends_at is not None:
            fired.append(_fire(Trigger.ACTIVATED, event, endsAt=event.ends_at, **facts))
        return fired
    if isinstance(event, Enrollment.Approved):
        return [
            _fire(Trigger.ACTIVATED, event, enrollmentId=event.originator_id, endsAt=event.ends_at)
        ]
    if isinstance(event, Enrollment.SessionCompleted):
        c = event.completion
        return [
            _fire(
                Trigger.SESSION_COMPLETED,
                event,
                enrollmentId=event.originator_id,
                sessionId=c.session_id,
                workoutId=c.workout_id,
                completedAt=c.completed_at,
            )
        ]
    if isinstance(event, Enrollment.Completed):
        return [_fire(Trigger.COMPLETED, event, enrollmentId=event.originator_id)]
    if isinstance(event, Enrollment.Expired):
        return [_fire(Trigger.EXPIRED, event, enrollmentId=event.originator_id)]
    return []


SESSION_COMPLETION = ProcessManager(
    name="plan_session_completion",
    reacts_to=(Workout.Finalized,),
    decide=decide_session,
)

AUTOMATIONS = ProcessManager(
    name="plan_automations",
    reacts_to=(
        TreatmentPlan.Drafted,
        Enrollment.Enrolled,
        Enrollment.Approved,
        Enrollment.SessionCompleted,
        Enrollment.Completed,
        Enrollment.Expired,
    ),
    decide=decide_automations,
    needs=(WEBHOOKS,),
)

PROCESS_MANAGERS = (SESSION_COMPLETION, AUTOMATIONS)
