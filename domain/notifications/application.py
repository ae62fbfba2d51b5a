"""Push notifications: device registration, and the push channel's rules.

A push is an outbox delivery on the `push` channel (domain/outbox). What needs the
domain lives here: which tokens a push goes to, which tokens to forget when Expo says a
device is gone, and how Expo's per-token answers add up to one attempt's outcome.
Sending itself is infrastructure (workers/outbox/expo.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.outbox.application import SendResult
from domain.outbox.delivery import Delivery
from domain.privacy.personal import PersonalText
from domain.shared.errors import ForbiddenError, InvalidInputError
from domain.shared.unit_of_work import UnitOfWork

PUSH = "push"
# The receipt of a push the embedded default kept instead of sending.
RECORDED_RECEIPT = "recorded"

# Expo's two token spellings: `ExponentPushToken[...]` and the newer `ExpoPushToken[...]`.
EXPO_TOKEN = re.compile(r"^(ExponentPushToken|ExpoPushToken)\[[A-Za-z0-9_\-:.]{1,200}\]$")
PLATFORMS = frozenset({"ios", "android", "web"})

# The ticket error Expo answers for a token whose app was uninstalled or whose
# registration expired: never send to that token again.
DEVICE_NOT_REGISTERED = "DeviceNotRegistered"


@dataclass(frozen=True)
class PushResult:
    """What the push service answered for one token.

    `ok` with the service's `ticket_id`; otherwise `error` is a short code
    (`DeviceNotRegistered`, `MessageRateExceeded`, `HTTP 500`, ...) and `permanent` says
    whether trying again could ever help.
    """

    token: str
    ok: bool
    ticket_id: str | None = None
    error: str | None = None
    permanent: bool = False

    @property
    def device_gone(self) -> bool:
        return self.error == DEVICE_NOT_REGISTERED


class Sender(Protocol):
    def send(
        self, tokens: Sequence[str], title: str, body: str, data: Mapping[str, Any]
    ) -> list[PushResult]:
        """One result per token, in any order; never raises for a delivery problem."""
        ...


@dataclass(frozen=True)
class PushTokenRegistered:
    token: str
    platform: str


def queue_push(
    uow: UnitOfWork,
    delivery_id: uuid.UUID,
    tenant_id: uuid.UUID,
    recipient_id: uuid.UUID,
    title: str | PersonalText,
    body: str | PersonalText,
    data: Mapping[str, str],
) -> Delivery:
    """Adds a push to the outbox, in the caller's unit of work (so it is saved, or not,
    with whatever decided to send it). A text quoting a patient's name or notes is
    their `PersonalText`, whoever the push goes to."""
    delivery = Delivery.queue(
        id=delivery_id,
        channel=PUSH,
        tenant_id=tenant_id,
        recipient_id=recipient_id,
        payload={"title": title, "body": body, "data": dict(data)},
        at=uow.now,
    )
    uow.add(delivery)
    return delivery


def push_outcome(tokens: Sequence[str], results: Sequence[PushResult]) -> SendResult:
    """One attempt's outcome from Expo's answer per token: sent if any device was
    reached; otherwise failed, permanently if no error could pass on a retry. Tokens
    Expo reported DeviceNotRegistered are `gone`."""
    by_token = {r.token: r for r in results}
    failures = [r for r in results if not r.ok] + [
        PushResult(token=t, ok=False, error="no result") for t in tokens if t not in by_token
    ]
    gone = tuple(sorted(r.token for r in failures if r.device_gone))
    tickets = tuple(r.ticket_id or "" for r in results if r.ok)
    if tickets:
        return SendResult(ok=True, receipt=tickets, gone=gone)
    return SendResult(
        ok=False,
        error="; ".join(sorted({r.error or "unknown" for r in failures})),
        permanent=all(r.permanent or r.device_gone for r in failures),
        gone=gone,
    )


class PushRules:
    """The push channel's domain rules: a push goes to every token its recipient has
    registered, and a token Expo reports gone is unregistered."""

    def addresses(self, uow: UnitOfWork, delivery: Delivery) -> list[str]:
        if delivery.recipient_id is None:
            return []
        devices = uow.find(PushTokens, push_tokens_id(delivery.recipient_id))
        return sorted(devices.tokens) if devices is not None else []

    def forget(self, uow: UnitOfWork, delivery: Delivery, gone: Sequence[str]) -> None:
        if delivery.recipient_id is None:
            return
        devices = uow.find(PushTokens, push_tokens_id(delivery.recipient_id))
        if devices is None:
            return
        uow.add(devices)
        for token in gone:
            devices.unregister(token, DEVICE_NOT_REGISTERED, uow.now)


class Notifications:
    def register_push_token(
        self, uow: UnitOfWork, token: str, platform: str
    ) -> PushTokenRegistered:
        """Adds an Expo push token to the caller's devices (registering it again changes
        nothing). The caller's token list is created on first use."""
        actor = uow.actor
        if actor.tenant_id is None:
            raise ForbiddenError("Only users of a tenant can register push tokens.")
        errors = []
        if not EXPO_TOKEN.match(token):
            errors.append(
                {
                    "field": "token",
                    "message": "not an Expo push token (ExponentPushToken[...])",
                }
            )
        if platform not in PLATFORMS:
            errors.append({"field": "platform", "message": "one of ios, android, web"})
        if errors:
            raise InvalidInputError("The push token was not accepted.", errors=errors)
        tokens = uow.find(PushTokens, push_tokens_id(actor.user_id))
        if tokens is None:
            tokens = PushTokens.for_user(actor.user_id, actor.tenant_id, uow.now)
        uow.add(tokens)
        tokens.register(token, platform, uow.now)
        return PushTokenRegistered(token, platform)
