"""Provenance: the chain of events that caused a thing (docs/decisions/0025-provenance.md).

Readers are the history readers (the tenant's hospital admins and auditors, platform
admins) and whoever may read the thing itself: a participant of a card's conversation,
the recipient of a notification, the patient of a workout and their connected doctors.
Anyone else, in any tenant, finds nothing: 404, as for an id that never existed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from api.deps import ActorDep, RuntimeDep
from api.openapi import errors
from api.schemas.provenance import Provenance
from bootstrap.runtime import Runtime
from domain.messaging.message import Message
from domain.outbox.delivery import Delivery
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from domain.shared.eventlog import EventLog
from domain.shared.provenance import trace_from
from domain.workouts.workout import Workout

router = APIRouter(prefix="/v1/provenance", tags=["history"])

HISTORY_READERS = frozenset({Role.HOSPITAL_ADMIN, Role.AUDITOR, Role.PLATFORM_ADMIN})


class LogReader:
    """The event log as provenance reads it: an aggregate's events by its key, one event
    by its position; each one indexed query."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def events_of(self, aggregate_id: uuid.UUID) -> Sequence[tuple[int, Any]]:
        return self.log.positioned_events(aggregate_id)

    def event_at(self, position: int) -> Any | None:
        if position < 1:
            return None
        found = self.log.read(after=position - 1, limit=1, stop=position)
        if not found or found[0].id != position:
            return None
        return self.log.decode(found[0])


def may_read(runtime: Runtime, actor: Actor, thing: Any) -> bool:
    """Whether the actor may read the thing's provenance (within its tenant)."""
    if not actor.can_see_tenant(getattr(thing, "tenant_id", None)):
        return False
    if actor.role in HISTORY_READERS:
        return True
    me = str(actor.user_id)
    if isinstance(thing, Message):
        row = runtime.views.conversations.conversation(str(thing.conversation_id))
        return row is not None and me in row.get("participants", ())
    if isinstance(thing, Delivery):
        return thing.recipient_id == actor.user_id
    if isinstance(thing, Workout):
        if actor.role is Role.PATIENT:
            return thing.patient_id == actor.user_id
        if actor.role is Role.DOCTOR:
            team = runtime.views.care_team.team_of(str(thing.patient_id))
            return team is not None and any(t["id"] == me for t in team[1])
    return False


@router.get(
    "/{id}",
    response_model=Provenance,
    responses=errors(
        (404, "No such thing, one of another tenant, or one the caller may not read.")
    ),
)
def read_provenance(id: uuid.UUID, actor: ActorDep, runtime: RuntimeDep) -> Any:
    """The chain of events that caused the thing with this id (an aggregate, a message or
    card, a notification), oldest first: following `causationId` back from the event that
    created it, through the process managers' and deadlines' causes, to the request that
    set it off (named by the first entry's `causationId`). At most 100 entries."""
    reader = LogReader(runtime.log)
    stored = reader.events_of(id)
    thing: Any = None
    for _, event in stored:
        thing = event.mutate(thing)
    if thing is None or not may_read(runtime, actor, thing):
        raise NotFoundError(f"No provenance for id {id}.")
    chain = trace_from(reader, *stored[0])
    return {
        "id": id,
        "chain": [
            {
                "position": s.position,
                "aggregateId": s.aggregate_id,
                "aggregateType": s.aggregate_type,
                "type": s.type,
                "recordedAt": s.recorded_at,
                "actorId": s.actor_id,
                "role": s.role,
                "correlationId": s.correlation_id,
                "causationId": s.causation_id,
            }
            for s in chain
        ],
    }
