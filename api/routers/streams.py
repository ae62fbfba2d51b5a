"""Event history: every stored event of an aggregate, and its state at a version or time.

Generic over aggregate types (domain/shared/history.py); readers are the tenant's
hospital admins and auditors, and platform admins (docs/decisions/0024-history-endpoints.md).
"""

from __future__ import annotations

import threading
import uuid
import weakref
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import RuntimeDep, require
from api.openapi import errors
from api.schemas.streams import StreamEvents, StreamState
from bootstrap.runtime import Runtime
from domain.privacy.personal import reveal
from domain.shared.context import Actor, Role
from domain.shared.errors import InvalidInputError, NotFoundError
from domain.shared.eventlog import EventLog, metadata_of
from domain.shared.history import History, NotYetError, Snapshot, data_of, type_name

router = APIRouter(prefix="/v1/streams", tags=["history"])

Reader = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN, Role.AUDITOR, Role.PLATFORM_ADMIN))]

# One replay cache per event log (per runtime), dropped with it.
_histories: weakref.WeakKeyDictionary[EventLog, History] = weakref.WeakKeyDictionary()
_histories_lock = threading.Lock()


def history_of(runtime: Runtime) -> History:
    log = runtime.log
    with _histories_lock:
        history = _histories.get(log)
        if history is None:
            history = _histories[log] = History(log.positioned_events)
        return history


def _not_found(aggregate_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"No stream with id {aggregate_id}.")


def _readable(actor: Actor, snapshot: Snapshot) -> Snapshot:
    # A platform-level aggregate (no tenant) is the platform admin's alone.
    if not actor.can_see_tenant(snapshot.tenant_id):
        raise _not_found(snapshot.aggregate_id)
    return snapshot


@router.get(
    "/{aggregateId}/events",
    response_model=StreamEvents,
    responses=errors((404, "No such aggregate, or one of another tenant.")),
)
def list_stream_events(aggregateId: uuid.UUID, actor: Reader, runtime: RuntimeDep) -> Any:
    """Every stored event of the aggregate, oldest first, with its log position, its
    metadata (who, in which role and tenant, correlation and causation) and its data."""
    try:
        # The cached current state names the type and the tenant: no replay per listing.
        current = _readable(actor, history_of(runtime).current(aggregateId))
    except NotYetError:
        raise _not_found(aggregateId) from None
    stored = runtime.log.positioned_events(aggregateId)
    # A patient's personal text is opened on the way out, or null with `erased: true`.
    return reveal(
        {
            "aggregateId": aggregateId,
            "aggregateType": current.aggregate_type,
            "events": [
                {
                    "position": position,
                    "version": event.originator_version,
                    "type": type_name(event),
                    "recordedAt": event.timestamp,  # type: ignore[attr-defined]
                    "metadata": dict(metadata_of(event)),
                    "data": data_of(event),
                }
                for position, event in stored
            ],
        },
        runtime.sealer,
    )


@router.get(
    "/{aggregateId}",
    response_model=StreamState,
    responses=errors(
        (404, "No such aggregate, one of another tenant, or it did not exist yet then."),
        (422, "`version` and `asOf` both given, or an invalid one."),
    ),
)
def read_stream_state(
    aggregateId: uuid.UUID,
    actor: Reader,
    runtime: RuntimeDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    as_of: Annotated[datetime | None, Query(alias="asOf")] = None,
) -> Any:
    """The aggregate's state replayed to `version`, or to its last event recorded at or
    before `asOf`; with neither, its current state. 404 where it did not exist yet."""
    if version is not None and as_of is not None:
        raise InvalidInputError(
            "Give `version` or `asOf`, not both.",
            [
                {
                    "field": "asOf",
                    "in": "query",
                    "message": "not allowed with `version`",
                    "type": "conflict",
                }
            ],
        )
    history = history_of(runtime)
    try:
        # Access is decided on the aggregate as it is now: its tenant never changes.
        _readable(actor, history.current(aggregateId))
        if version is not None:
            snapshot = history.at_version(aggregateId, version)
        elif as_of is not None:
            at = as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=UTC)
            snapshot = history.as_of(aggregateId, at)
        else:
            snapshot = history.current(aggregateId)
    except NotYetError:
        raise _not_found(aggregateId) from None
    return {
        "aggregateId": snapshot.aggregate_id,
        "aggregateType": snapshot.aggregate_type,
        "version": snapshot.version,
        "recordedAt": snapshot.recorded_at,
        "state": reveal(snapshot.state, runtime.sealer),
    }
