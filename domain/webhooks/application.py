"""Webhook subscriptions and the `webhook` outbox channel's rules.

A trigger becomes one outbox delivery per subscription that wants it, with an id derived
from the subscription and the event, so a retried decision queues it once and every
retry of the delivery carries the same `X-CareLoop-Delivery` id. Whether a URL may be
called (no private, loopback or link-local address unless allowed) is asked of an
injected `UrlGuard`, at subscription and again at every attempt (workers/outbox/webhook.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.outbox.delivery import Delivery
from domain.shared.errors import InvalidInputError, NotFoundError
from domain.shared.unit_of_work import UnitOfWork
from domain.webhooks.subscription import Subscription

WEBHOOK = "webhook"
_NAMESPACE = uuid.UUID("3d7a9c14-6e2b-4f80-a5d1-8c0e7b2f9a63")


class UrlGuard(Protocol):
    def refusal(self, url: str) -> str | None:
        """Why this URL may not be called (it resolves to a private, loopback or
        link-local address, or does not resolve), or None."""
        ...


class SubscriptionDirectory(Protocol):
    def subscriptions_of(self, tenant_id: uuid.UUID, trigger: str) -> list[uuid.UUID]:
        """Candidates a read model lists; each is checked against its aggregate."""
        ...


@dataclass(frozen=True)
class SubscriptionCreated:
    id: uuid.UUID
    url: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class Fired:
    trigger: str
    deliveries: tuple[uuid.UUID, ...]


def webhook_delivery_id(subscription_id: uuid.UUID, trigger: str, source: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{subscription_id}:{trigger}:{source}")


class WebhookRules:
    """A webhook goes to its subscription's URL while the subscription is active."""

    def addresses(self, uow: UnitOfWork, delivery: Delivery) -> list[str]:
        if delivery.recipient_id is None:
            return []
        subscription = uow.find(Subscription, delivery.recipient_id)
        if subscription is None or not subscription.active:
            return []
        return [subscription.url]

    def forget(self, uow: UnitOfWork, delivery: Delivery, gone: Sequence[str]) -> None:
        return None


class Webhooks:
    def __init__(self, guard: UrlGuard, directory: SubscriptionDirectory) -> None:
        self.guard = guard
        self.directory = directory

    def subscribe(
        self, uow: UnitOfWork, url: str, events: list[str], secret: str
    ) -> SubscriptionCreated:
        """A subscription of the caller's tenant; 422 for an invalid URL, event or secret,
        or a URL that resolves to an address CareLoop may not call."""
        if uow.actor.tenant_id is None:
            raise NotFoundError("Webhook subscriptions belong to a tenant.")
        subscription = Subscription.create(
            uow.new_id(), uow.actor.tenant_id, url, events, secret, uow.actor.user_id, uow.now
        )
        refusal = self.guard.refusal(url)
        if refusal is not None:
            raise InvalidInputError(
                f"This URL may not be called: {refusal}.",
                errors=[{"field": "url", "message": refusal}],
            )
        uow.add(subscription)
        return SubscriptionCreated(subscription.id, subscription.url, tuple(subscription.events))

    def fire(
        self,
        uow: UnitOfWork,
        tenant_id: uuid.UUID,
        trigger: str,
        source: str,
        occurred_at: datetime,
        data: Mapping[str, Any],
    ) -> Fired:
        """Queues `{event, occurredAt, data}` to every subscription of the tenant that
        wants `trigger`; `source` names the event, so deciding twice queues once."""
        queued = []
        for subscription_id in self.directory.subscriptions_of(tenant_id, trigger):
            subscription = uow.find(Subscription, subscription_id)
            if subscription is None or subscription.tenant_id != tenant_id:
                continue
            if not subscription.wants(trigger):
                continue
            delivery_id = webhook_delivery_id(subscription.id, trigger, source)
            if uow.find(Delivery, delivery_id) is not None:
                continue
            uow.add(
                Delivery.queue(
                    id=delivery_id,
                    channel=WEBHOOK,
                    tenant_id=tenant_id,
                    recipient_id=subscription.id,
                    payload={
                        "event": trigger,
                        "occurredAt": occurred_at.isoformat(),
                        "data": dict(data),
                    },
                    at=uow.now,
                )
            )
            queued.append(delivery_id)
        return Fired(trigger, tuple(queued))
