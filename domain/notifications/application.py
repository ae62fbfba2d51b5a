"""Push notifications: device registration, and recording what delivery did.

Delivery itself is a side effect outside the domain. A worker hands `deliver` a `Sender`
(the Expo client in production, a fake in tests); this module decides, from what the
sender reports, which outcome the notification records and which tokens to forget.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.notifications.notification import Notification
from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.shared.errors import ForbiddenError, InvalidInputError
from domain.shared.unit_of_work import UnitOfWork

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


class SendOnce:
    """A sender that really sends at most once per (tokens, title, body, data).

    The command bus runs a handler again when a concurrent writer saved first; without
    this, that re-run would push the same notification to the device a second time.
    """

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self._sent: dict[tuple[tuple[str, ...], str, str, str], list[PushResult]] = {}

    def send(
        self, tokens: Sequence[str], title: str, body: str, data: Mapping[str, Any]
    ) -> list[PushResult]:
        key = (tuple(tokens), title, body, repr(sorted(data.items())))
        if key not in self._sent:
            self._sent[key] = self._sender.send(tokens, title, body, data)
        return self._sent[key]


def _outcome(notification: Notification, **extra: Any) -> dict[str, Any]:
    return {
        "notificationId": str(notification.id),
        "status": notification.status.value,
        "attempts": notification.attempts,
        "retryAt": notification.retry_at.isoformat() if notification.retry_at else None,
        **extra,
    }


class Notifications:
    def register_push_token(self, uow: UnitOfWork, token: str, platform: str) -> dict[str, Any]:
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
        return {"token": token, "platform": platform}

    def deliver(
        self, uow: UnitOfWork, notification_id: uuid.UUID, sender: Sender
    ) -> dict[str, Any]:
        """Tries to deliver one notification and records the outcome.

        Does nothing to a settled notification, or to one whose retry is not due yet. A
        recipient with no device settles as `no_device`. Tokens the push service reports
        as DeviceNotRegistered are forgotten. Any device reached settles it as delivered;
        otherwise the failure is recorded, with a retry scheduled unless every error was
        permanent or the attempts are used up. The outcome says `sent` when the sender
        was called.
        """
        notification = uow.get(Notification, notification_id, "notification")
        if notification.is_settled:
            return _outcome(notification, sent=False)
        if notification.retry_at is not None and notification.retry_at > uow.now:
            return _outcome(notification, sent=False)
        devices = uow.find(PushTokens, push_tokens_id(notification.recipient_id))
        tokens = sorted(devices.tokens) if devices is not None else []
        if devices is None or not tokens:
            notification.record_only("no_device", uow.now)
            return _outcome(notification, sent=False)

        results = sender.send(tokens, notification.title, notification.body, notification.data)
        by_token = {r.token: r for r in results}
        missing = [t for t in tokens if t not in by_token]
        failures = [r for r in results if not r.ok] + [
            PushResult(token=t, ok=False, error="no result") for t in missing
        ]
        gone = [r.token for r in failures if r.device_gone]
        if gone:
            uow.add(devices)
            for token in gone:
                devices.unregister(token, DEVICE_NOT_REGISTERED, uow.now)
        tickets = [r.ticket_id or "" for r in results if r.ok]
        if tickets:
            notification.delivered(tickets, uow.now)
        else:
            permanent = all(r.permanent or r.device_gone for r in failures)
            error = "; ".join(sorted({r.error or "unknown" for r in failures}))
            notification.failed(error, uow.now, permanent=permanent)
        return _outcome(notification, sent=True)

    def record_without_sending(self, uow: UnitOfWork, notification_id: uuid.UUID) -> dict[str, Any]:
        """Settles a notification as recorded, not sent: the embedded default, where no
        push service is configured. The notification stays readable by its recipient."""
        notification = uow.get(Notification, notification_id, "notification")
        notification.record_only("embedded", uow.now)
        return _outcome(notification, sent=False)
