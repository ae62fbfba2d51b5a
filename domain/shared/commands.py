"""Runs one command: idempotency, optimistic-concurrency retries, one atomic save.

A command's handler returns a typed result; the domain knows nothing of HTTP. What an
Idempotency-Key replays is the caller's own rendering of that result (`Rendered`), which
the caller (the API) hands in as `render` and the bus stores with the command's events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import RecordConflictError, Tracking

from domain.shared.clock import Clock, IdSource
from domain.shared.context import CommandContext
from domain.shared.errors import ConflictError, IdempotencyKeyReusedError
from domain.shared.eventlog import EventLog, TrackingConflictError
from domain.shared.idempotency import IdempotencyRecord, idempotency_record_id
from domain.shared.unit_of_work import UnitOfWork

R = TypeVar("R")
Handler = Callable[[UnitOfWork], R]

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Rendered:
    """A result as its caller presents it (for the API: a status code and a JSON body)."""

    status_code: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class CommandOutcome(Generic[R]):
    """What a command did: its `result` (None when replayed), the log position it reached,
    and, for a replayed Idempotency-Key, the first rendering."""

    result: R | None
    position: int
    replay: Rendered | None = None
    wrote: bool = True  # False when the command changed nothing (or was replayed)

    @property
    def replayed(self) -> bool:
        return self.replay is not None


class CommandBus:
    def __init__(self, log: EventLog, clock: Clock, ids: IdSource) -> None:
        self.log = log
        self.clock = clock
        self.ids = ids

    def run(
        self,
        ctx: CommandContext,
        handler: Handler[R],
        *,
        render: Callable[[R], Rendered] | None = None,
        tracking: Tracking | None = None,
    ) -> CommandOutcome[R]:
        """Run `handler` in a unit of work and save what it changed, exactly once per
        Idempotency-Key, and (for a reaction) exactly once per `tracking` position.

        A concurrent writer that saves the same aggregate first makes the handler run
        again on fresh state (up to MAX_ATTEMPTS times, then ConflictError). The same key
        with the same request replays the first rendering and writes nothing; with a
        different request it is rejected. A follower that finds its `tracking` position
        already recorded by another gets TrackingConflictError, and nothing is written.
        """
        record_id = None
        if ctx.idempotency_key is not None:
            record_id = idempotency_record_id(ctx.actor.user_id, ctx.idempotency_key)
            replay = self._replay(record_id, ctx)
            if replay is not None:
                return replay

        for _ in range(MAX_ATTEMPTS):
            uow = UnitOfWork(self.log, ctx, self.clock, self.ids)
            result = handler(uow)
            if record_id is not None and ctx.idempotency_key is not None:
                rendered = render(result) if render else Rendered(200, {})
                uow.add(
                    IdempotencyRecord(
                        id=record_id,
                        tenant_id=ctx.actor.tenant_id,
                        key=ctx.idempotency_key,
                        fingerprint=ctx.request_fingerprint or "",
                        status_code=rendered.status_code,
                        body=dict(rendered.body),
                        timestamp=uow.now,
                    )
                )
            try:
                position = uow.commit(tracking)
            except RecordConflictError:
                if (
                    tracking is not None
                    and self.log.tracked(tracking.application_name) >= tracking.notification_id
                ):
                    raise TrackingConflictError(
                        f"{tracking.application_name} is past {tracking.notification_id}"
                    ) from None
                if record_id is not None:
                    replay = self._replay(record_id, ctx)
                    if replay is not None:
                        return replay
                continue
            if position is None:
                return CommandOutcome(result, self.log.head(), wrote=False)
            return CommandOutcome(result, position)
        raise ConflictError("The resource was changed concurrently; try again.")

    def _replay(self, record_id: Any, ctx: CommandContext) -> CommandOutcome[Any] | None:
        record = self.log.find(record_id)
        if not isinstance(record, IdempotencyRecord):
            return None
        if record.fingerprint != (ctx.request_fingerprint or ""):
            raise IdempotencyKeyReusedError(
                "This Idempotency-Key was already used with a different request.",
                errors=[{"field": "Idempotency-Key", "message": "reused with another body"}],
            )
        # The first response's position: the record is the last thing its command saved,
        # so its position is the highest that commit wrote.
        position = self.log.position_of(record.id) or self.log.head()
        return CommandOutcome(
            None, position, Rendered(record.status_code, dict(record.body)), wrote=False
        )
