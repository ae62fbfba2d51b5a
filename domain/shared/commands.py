"""Runs one command: idempotency, optimistic-concurrency retries, one atomic save."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import RecordConflictError

from domain.shared.clock import Clock, IdSource
from domain.shared.context import CommandContext
from domain.shared.errors import ConflictError, IdempotencyKeyReusedError
from domain.shared.eventlog import EventLog
from domain.shared.idempotency import IdempotencyRecord, idempotency_record_id
from domain.shared.unit_of_work import UnitOfWork

Handler = Callable[[UnitOfWork], dict[str, Any]]

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class CommandOutcome:
    status_code: int
    body: dict[str, Any]
    position: int
    replayed: bool = False


class CommandBus:
    def __init__(self, log: EventLog, clock: Clock, ids: IdSource) -> None:
        self.log = log
        self.clock = clock
        self.ids = ids

    def run(self, ctx: CommandContext, handler: Handler, status_code: int = 200) -> CommandOutcome:
        """Run `handler` in a unit of work and save what it changed, exactly once per
        Idempotency-Key.

        A concurrent writer that saves the same aggregate first makes the handler run
        again on fresh state (up to MAX_ATTEMPTS times, then 409). The same key with the
        same request replays the first response and writes nothing; with a different
        request it is rejected.
        """
        record_id = None
        if ctx.idempotency_key is not None:
            record_id = idempotency_record_id(ctx.actor.user_id, ctx.idempotency_key)
            replay = self._replay(record_id, ctx)
            if replay is not None:
                return replay

        for _ in range(MAX_ATTEMPTS):
            uow = UnitOfWork(self.log, ctx, self.clock, self.ids)
            body = handler(uow)
            if record_id is not None and ctx.idempotency_key is not None:
                uow.add(
                    IdempotencyRecord(
                        id=record_id,
                        tenant_id=ctx.actor.tenant_id,
                        key=ctx.idempotency_key,
                        fingerprint=ctx.request_fingerprint or "",
                        status_code=status_code,
                        body=body,
                        timestamp=uow.now,
                    )
                )
            try:
                position = uow.commit()
            except RecordConflictError:
                if record_id is not None:
                    replay = self._replay(record_id, ctx)
                    if replay is not None:
                        return replay
                continue
            if position is None:
                position = self.log.head()
            return CommandOutcome(status_code, body, position)
        raise ConflictError("The resource was changed concurrently; try again.")

    def _replay(self, record_id: Any, ctx: CommandContext) -> CommandOutcome | None:
        record = self.log.find(record_id)
        if not isinstance(record, IdempotencyRecord):
            return None
        if record.fingerprint != (ctx.request_fingerprint or ""):
            raise IdempotencyKeyReusedError(
                "This Idempotency-Key was already used with a different request.",
                errors=[{"field": "Idempotency-Key", "message": "reused with another body"}],
            )
        # The first response's position is at or below the head, so reading at the head
        # still shows the caller everything its first request wrote.
        return CommandOutcome(record.status_code, dict(record.body), self.log.head(), True)
