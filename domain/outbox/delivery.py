"""One side effect leaving through the outbox: a delivery on a channel.

Deciding to deliver is an event (Queued), saved with whatever caused it. A worker claims
an attempt (AttemptStarted, with a lease): the claim is an optimistic-concurrency write,
so of two workers that try to claim one attempt, one commits and the other finds it
claimed. Only the worker that claimed an attempt sends it, then records the outcome.
Failures are retried with backoff until `max_attempts`, then the delivery is dead. A
worker that dies mid-attempt leaves its lease to expire: that attempt counts as failed
(its outcome is unknown) and the next one starts.

Every pending step is a deadline of kind "delivery" (due now, a lease's end, a retry),
so a lost wake-up only delays the work until the deadlines worker finds it due.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.deadlines import Deadline, SetsDeadline

DELIVERY = "delivery"
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (5, 30, 120, 600)
LEASE_SECONDS = 30.0
LEASE_EXPIRED = "lease expired before the outcome was recorded"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, or an attempt is under way
    SENT = "sent"
    FAILED = "failed"  # the last attempt failed; another is scheduled
    DEAD = "dead"  # no attempt left, or failed for good
    SKIPPED = "skipped"  # nothing to send to (e.g. a user with no device)


class _DeliveryEvent(CareLoopAggregate.Event, SetsDeadline):
    deadline_kind = DELIVERY


class Delivery(CareLoopAggregate):
    class Queued(CareLoopAggregate.Created, SetsDeadline):
        deadline_kind = DELIVERY
        channel: str
        tenant_id: uuid.UUID | None
        recipient_id: uuid.UUID | None
        payload: dict[str, Any]
        max_attempts: int

        def next_deadline(self) -> Deadline | None:
            return _deadline(self, self.timestamp)

    class AttemptStarted(_DeliveryEvent):
        attempt: int
        lease_until: datetime

        def next_deadline(self) -> Deadline | None:
            return _deadline(self, self.lease_until)

    class Sent(_DeliveryEvent):
        attempt: int
        receipt: list[str]

    class AttemptFailed(_DeliveryEvent):
        attempt: int
        error: str
        retry_at: datetime | None

        def next_deadline(self) -> Deadline | None:
            return None if self.retry_at is None else _deadline(self, self.retry_at)

    class Died(_DeliveryEvent):
        attempts: int
        error: str

    class Skipped(_DeliveryEvent):
        reason: str

    class Redelivered(_DeliveryEvent):
        """An admin asked for a dead delivery to be tried again: a fresh set of attempts."""

        def next_deadline(self) -> Deadline | None:
            return _deadline(self, self.timestamp)

    @event(Queued)
    def __init__(
        self,
        id: uuid.UUID,
        channel: str,
        tenant_id: uuid.UUID | None,
        recipient_id: uuid.UUID | None,
        payload: dict[str, Any],
        max_attempts: int,
        timestamp: datetime,
    ) -> None:
        self.channel = channel
        self.tenant_id = tenant_id
        self.recipient_id = recipient_id
        self.payload = payload
        self.max_attempts = max_attempts
        self.status = DeliveryStatus.PENDING
        self.attempts = 0
        self.first_attempt = 1  # a redelivery starts a fresh count from here
        self.sending = False
        self.due_at: datetime | None = timestamp

    @classmethod
    def queue(
        cls,
        id: uuid.UUID,
        channel: str,
        tenant_id: uuid.UUID | None,
        recipient_id: uuid.UUID | None,
        payload: dict[str, Any],
        at: datetime,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> Delivery:
        return cls(
            id=id,
            channel=channel,
            tenant_id=tenant_id,
            recipient_id=recipient_id,
            payload=payload,
            max_attempts=max_attempts,
            timestamp=at,
        )

    @property
    def is_settled(self) -> bool:
        return self.status in (DeliveryStatus.SENT, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED)

    def is_due(self, scheduled_for: datetime, now: datetime) -> bool:
        """Still waiting for the step this wake-up was scheduled for, and past it."""
        return (
            not self.is_settled
            and self.due_at is not None
            and self.due_at == scheduled_for
            and now >= self.due_at
        )

    # -- commands ---------------------------------------------------------------------

    def start_attempt(
        self, scheduled_for: datetime, at: datetime, lease_seconds: float = LEASE_SECONDS
    ) -> int | None:
        """Claim the next attempt, if this wake-up is current: returns its number, or None
        (not due, moved, settled, or no attempt left after an expired lease)."""
        if not self.is_due(scheduled_for, at):
            return None
        if self.sending:
            # The lease of the attempt under way ran out: its worker died or hung. Whether
            # it sent is unknown; it counts as failed, and the next attempt starts now.
            self.fail(self.attempts, LEASE_EXPIRED, at)
            if self.is_settled:
                return None
        attempt = self.attempts + 1
        self._attempt_started(
            attempt=attempt, lease_until=at + timedelta(seconds=lease_seconds), timestamp=at
        )
        return attempt

    def succeed(self, attempt: int, receipt: list[str], at: datetime) -> None:
        if self._is_current(attempt):
            self._sent(attempt=attempt, receipt=receipt, timestamp=at)

    def fail(self, attempt: int, error: str, at: datetime, permanent: bool = False) -> None:
        """Record a failed attempt: retry with backoff, or die when it was permanent or
        the last one."""
        if not self._is_current(attempt):
            return
        used = attempt - self.first_attempt + 1
        retry_at = None
        if not permanent and used < self.max_attempts:
            delay = BACKOFF_SECONDS[min(used - 1, len(BACKOFF_SECONDS) - 1)]
            retry_at = at + timedelta(seconds=delay)
        self._attempt_failed(attempt=attempt, error=error, retry_at=retry_at, timestamp=at)
        if retry_at is None:
            self._died(attempts=attempt, error=error, timestamp=at)

    def skip(self, reason: str, at: datetime) -> None:
        """Settle without sending: there is nothing to send to."""
        if not self.is_settled:
            self._skipped(reason=reason, timestamp=at)

    def redeliver(self, at: datetime) -> bool:
        """Try a dead delivery again (a fresh set of attempts); False if it is not dead."""
        if self.status is not DeliveryStatus.DEAD:
            return False
        self._redelivered(timestamp=at)
        return True

    def _is_current(self, attempt: int) -> bool:
        return self.sending and attempt == self.attempts and not self.is_settled

    # -- mutators ---------------------------------------------------------------------

    @event(AttemptStarted)
    def _attempt_started(self, attempt: int, lease_until: datetime, timestamp: datetime) -> None:
        self.attempts = attempt
        self.sending = True
        self.status = DeliveryStatus.PENDING
        self.due_at = lease_until

    @event(Sent)
    def _sent(self, attempt: int, receipt: list[str], timestamp: datetime) -> None:
        self.sending = False
        self.status = DeliveryStatus.SENT
        self.due_at = None

    @event(AttemptFailed)
    def _attempt_failed(
        self, attempt: int, error: str, retry_at: datetime | None, timestamp: datetime
    ) -> None:
        self.sending = False
        self.status = DeliveryStatus.FAILED
        self.due_at = retry_at

    @event(Died)
    def _died(self, attempts: int, error: str, timestamp: datetime) -> None:
        self.status = DeliveryStatus.DEAD
        self.due_at = None

    @event(Skipped)
    def _skipped(self, reason: str, timestamp: datetime) -> None:
        self.sending = False
        self.status = DeliveryStatus.SKIPPED
        self.due_at = None

    @event(Redelivered)
    def _redelivered(self, timestamp: datetime) -> None:
        self.status = DeliveryStatus.PENDING
        self.first_attempt = self.attempts + 1
        self.due_at = timestamp


def _deadline(event: Any, due_at: datetime) -> Deadline:
    return Deadline(
        kind=DELIVERY,
        id=event.originator_id,
        due_at=due_at,
        tenant_id=getattr(event, "tenant_id", None),
        payload={},
    )


# Every event of a delivery's life, for the read models that fold them all.
DELIVERY_EVENTS = (
    Delivery.Queued,
    Delivery.AttemptStarted,
    Delivery.Sent,
    Delivery.AttemptFailed,
    Delivery.Died,
    Delivery.Skipped,
    Delivery.Redelivered,
)
