"""A tenant's webhook subscription: where to POST which automation triggers, and the
secret that signs them (never shown again after creation)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.errors import InvalidInputError

SECRET_MIN, SECRET_MAX = 16, 256
URL_MAX = 2000


class Trigger(StrEnum):
    CREATED = "treatment_plan.created"
    ASSIGNED = "treatment_plan.assigned"
    ACTIVATED = "treatment_plan.activated"
    SESSION_COMPLETED = "treatment_plan.session_completed"
    COMPLETED = "treatment_plan.completed"
    EXPIRED = "treatment_plan.expired"


def validate_subscription(url: str, events: list[str], secret: str) -> None:
    errors: list[dict[str, Any]] = []
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > URL_MAX:
        errors.append({"field": "url", "message": "an http(s) URL"})
    known = {t.value for t in Trigger}
    if not events:
        errors.append({"field": "events", "message": "at least one event"})
    for i, name in enumerate(events):
        if name not in known:
            errors.append(
                {"field": f"events[{i}]", "message": f"one of {', '.join(sorted(known))}"}
            )
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        errors.append({"field": "secret", "message": f"{SECRET_MIN}-{SECRET_MAX} characters"})
    if errors:
        raise InvalidInputError("The webhook subscription is not valid.", errors=errors)


class Subscription(CareLoopAggregate):
    class Created(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        url: str
        events: list[str]
        secret: str
        created_by: uuid.UUID

    class Deactivated(CareLoopAggregate.Event):
        pass

    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        url: str,
        events: list[str],
        secret: str,
        created_by: uuid.UUID,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.url = url
        self.events = list(events)
        self.secret = secret
        self.active = True

    @classmethod
    def create(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        url: str,
        events: list[str],
        secret: str,
        created_by: uuid.UUID,
        at: datetime,
    ) -> Subscription:
        validate_subscription(url, events, secret)
        return cls(
            id=id,
            tenant_id=tenant_id,
            url=url,
            events=sorted(set(events)),
            secret=secret,
            created_by=created_by,
            timestamp=at,
        )

    def wants(self, trigger: str) -> bool:
        return self.active and trigger in self.events

    def deactivate(self, at: datetime) -> None:
        if self.active:
            self._deactivated(timestamp=at)

    @event(Deactivated)
    def _deactivated(self, timestamp: datetime) -> None:
        self.active = False
