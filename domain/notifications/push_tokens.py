"""A user's registered Expo push tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

_NAMESPACE = uuid.UUID("5b8f2a64-1c3d-4e9f-a0b7-6d2e8c4f1a39")


def push_tokens_id(user_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, str(user_id))


class PushTokens(CareLoopAggregate):
    class Created(CareLoopAggregate.Created):
        tenant_id: uuid.UUID | None
        user_id: uuid.UUID

    class Registered(CareLoopAggregate.Event):
        token: str
        platform: str

    class Unregistered(CareLoopAggregate.Event):
        token: str
        reason: str

    @event(Created)
    def __init__(
        self, id: uuid.UUID, tenant_id: uuid.UUID | None, user_id: uuid.UUID, timestamp: datetime
    ) -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.tokens: dict[str, str] = {}

    @classmethod
    def for_user(cls, user_id: uuid.UUID, tenant_id: uuid.UUID | None, at: datetime) -> PushTokens:
        return cls(id=push_tokens_id(user_id), tenant_id=tenant_id, user_id=user_id, timestamp=at)

    def register(self, token: str, platform: str, at: datetime) -> None:
        if self.tokens.get(token) == platform:
            return
        self._registered(token=token, platform=platform, timestamp=at)

    @event(Registered)
    def _registered(self, token: str, platform: str, timestamp: datetime) -> None:
        self.tokens[token] = platform

    def unregister(self, token: str, reason: str, at: datetime) -> None:
        """Drop a token Expo reported as DeviceNotRegistered (or the user removed)."""
        if token not in self.tokens:
            return
        self._unregistered(token=token, reason=reason, timestamp=at)

    @event(Unregistered)
    def _unregistered(self, token: str, reason: str, timestamp: datetime) -> None:
        self.tokens.pop(token, None)
