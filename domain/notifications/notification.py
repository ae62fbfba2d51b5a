"""A push notification, leaving through the outbox.

Deciding to notify is an event (Queued), saved with whatever caused it. A worker delivers
it and records the outcome as another event; retries are scheduled with backoff.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (5, 30, 120, 600)


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"
    RECORDED = "recorded"  # embedded default: kept, not sent
    NO_DEVICE = "no_device"  # the recipient has registered no push token


class Notification(CareLoopAggregate):
    class Queued(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        recipient_id: uuid.UUID
        title: str
        body: str
        data: dict[str, Any]

    class Delivered(CareLoopAggregate.Event):
        tickets: list[str]

    class Recorded(CareLoopAggregate.Event):
        reason: str

    class DeliveryFailed(CareLoopAggregate.Event):
        error: str
        attempt: int
        retry_at: datetime | None

    @event(Queued)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        recipient_id: uuid.UUID,
        title: str,
        body: str,
        data: dict[str, Any],
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.recipient_id = recipient_id
        self.title = title
        self.body = body
        self.data = data
        self.status = DeliveryStatus.QUEUED
        self.attempts = 0
        self.retry_at: datetime | None = None
        self.delivered_at: datetime | None = None

    @property
    def is_settled(self) -> bool:
        return self.status in (
            DeliveryStatus.DELIVERED,
            DeliveryStatus.FAILED,
            DeliveryStatus.RECORDED,
            DeliveryStatus.NO_DEVICE,
        )

    def delivered(self, tickets: list[str], at: datetime) -> None:
        if self.is_settled:
            return
        self._delivered(tickets=tickets, timestamp=at)

    @event(Delivered)
    def _delivered(self, tickets: list[str], timestamp: datetime) -> None:
        self.status = DeliveryStatus.DELIVERED
        self.delivered_at = timestamp
        self.attempts += 1

    def record_only(self, reason: str, at: datetime) -> None:
        """Settle without sending: the embedded default, or a recipient with no device."""
        if self.is_settled:
            return
        self._recorded(reason=reason, timestamp=at)

    @event(Recorded)
    def _recorded(self, reason: str, timestamp: datetime) -> None:
        self.status = DeliveryStatus.NO_DEVICE if reason == "no_device" else DeliveryStatus.RECORDED

    def failed(self, error: str, at: datetime, permanent: bool = False) -> None:
        """Record a failed attempt; schedule a retry with backoff unless it is permanent
        or the attempts are used up."""
        if self.is_settled:
            return
        attempt = self.attempts + 1
        retry_at = None
        if not permanent and attempt < MAX_ATTEMPTS:
            delay = BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]
            retry_at = at + timedelta(seconds=delay)
        self._failed(error=error, attempt=attempt, retry_at=retry_at, timestamp=at)

    @event(DeliveryFailed)
    def _failed(
        self, error: str, attempt: int, retry_at: datetime | None, timestamp: datetime
    ) -> None:
        self.attempts = attempt
        self.retry_at = retry_at
        self.status = DeliveryStatus.RETRYING if retry_at else DeliveryStatus.FAILED
