from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import event

from domain.people.flags import DEFAULT_FLAGS, Flag
from domain.shared.aggregate import CareLoopAggregate


class Tenant(CareLoopAggregate):
    """A clinic. Its feature flags live here so that a command can check them consistently."""

    class Created(CareLoopAggregate.Created):
        name: str

    class FeatureFlagChanged(CareLoopAggregate.Event):
        flag: str
        enabled: bool

    @event(Created)
    def __init__(self, id: uuid.UUID, name: str, timestamp: datetime) -> None:
        self.tenant_id: uuid.UUID | None = id
        self.name = name
        self.flags: dict[str, bool] = dict(DEFAULT_FLAGS)

    def is_enabled(self, flag: Flag) -> bool:
        return self.flags.get(flag.value, False)

    def set_flag(self, flag: Flag, enabled: bool, at: datetime) -> None:
        if self.flags.get(flag.value, False) == enabled:
            return  # setting a flag to what it already is changes nothing
        self._flag_changed(flag=flag.value, enabled=enabled, timestamp=at)

    @event(FeatureFlagChanged)
    def _flag_changed(self, flag: str, enabled: bool, timestamp: datetime) -> None:
        self.flags[flag] = enabled
