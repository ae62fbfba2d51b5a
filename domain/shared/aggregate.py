"""The base class of every CareLoop aggregate.

Events never read the wall clock: every command passes `timestamp=` explicitly (from the
injected clock), and an event class that is triggered without one raises instead of
silently calling `datetime.now()`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate


class TimestampRequiredError(RuntimeError):
    pass


class CareLoopAggregate(Aggregate):
    """An aggregate that belongs to one tenant (`tenant_id` None: platform-level)."""

    tenant_id: uuid.UUID | None

    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            raise TimestampRequiredError("events take their timestamp from the injected clock")

    class Created(Event, Aggregate.Created):
        pass

    @property
    def subject_type(self) -> str:
        return type(self).__name__
