"""The outbox's commands: queue a delivery, claim an attempt, record its outcome.

The channel-specific rules that need the domain (whom a push goes to, which tokens to
forget) are a channel's `ChannelRules`; the sending itself is infrastructure, outside
the domain (workers/outbox/).

A payload may quote a patient's personal text (a name in a push title): it is stored
sealed with that patient's key like any event field, and opened only in the claim handed
to the sender. A delivery whose personal text was erased is skipped, never sent with a
blank where the text was.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.outbox.delivery import LEASE_EXPIRED, LEASE_SECONDS, Delivery, DeliveryStatus
from domain.privacy.personal import PersonalText
from domain.shared.errors import ConflictError
from domain.shared.unit_of_work import UnitOfWork

# Why a delivery was skipped: the patient whose personal text it quotes was erased.
ERASED = "personal data erased"


@dataclass(frozen=True)
class Claim:
    """One claimed attempt: what its sender needs, and nothing it must look up. Its
    payload is opened: personal text is plain text here, and only here."""

    delivery_id: uuid.UUID
    channel: str
    attempt: int
    payload: Mapping[str, Any]
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class SendResult:
    """What a sender reports for one attempt. `gone` lists addresses the far side says
    will never work again; `permanent` says retrying cannot help."""

    ok: bool
    receipt: tuple[str, ...] = ()
    error: str | None = None
    permanent: bool = False
    gone: tuple[str, ...] = field(default=())


def holds_erased(value: Any) -> bool:
    """Whether a payload quotes personal text whose patient was erased."""
    if isinstance(value, PersonalText):
        return value.erased
    if isinstance(value, Mapping):
        return any(holds_erased(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_erased(v) for v in value)
    return False


def opened(value: Any) -> Any:
    """A payload as its sender sends it: each personal text as its text."""
    if isinstance(value, PersonalText):
        return value.text
    if isinstance(value, Mapping):
        return {k: opened(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [opened(v) for v in value]
    return value


class ChannelRules(Protocol):
    def addresses(self, uow: UnitOfWork, delivery: Delivery) -> list[str]:
        """Where the delivery goes now; empty means nowhere (it is skipped)."""
        ...

    def forget(self, uow: UnitOfWork, delivery: Delivery, gone: Sequence[str]) -> None:
        """Stop using addresses the far side reported gone."""
        ...


class NoRules:
    """A channel whose address is in the payload (`to`) and is never forgotten."""

    def addresses(self, uow: UnitOfWork, delivery: Delivery) -> list[str]:
        to = delivery.payload.get("to")
        return [str(to)] if to else []

    def forget(self, uow: UnitOfWork, delivery: Delivery, gone: Sequence[str]) -> None:
        return None


@dataclass(frozen=True)
class Redelivery:
    id: uuid.UUID
    status: DeliveryStatus


class Outbox:
    def __init__(
        self, rules: Mapping[str, ChannelRules], lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.rules = rules
        self.lease_seconds = lease_seconds

    def claim(
        self, uow: UnitOfWork, delivery_id: uuid.UUID, scheduled_for: datetime
    ) -> Claim | None:
        """Claims the next attempt of a delivery whose step scheduled for `scheduled_for`
        is due; None when it is not (a stale, early or duplicate wake-up), when there is
        nowhere to send it (it is skipped) or when its attempts ran out. Two workers
        racing for one attempt cannot both commit this claim. A delivery quoting an erased
        patient's personal text is skipped (`ERASED`)."""
        delivery = uow.find(Delivery, delivery_id)
        if delivery is None or not delivery.is_due(scheduled_for, uow.now):
            return None
        uow.add(delivery)
        addresses: list[str] = []
        if holds_erased(delivery.payload):
            skipped: str | None = ERASED
        else:
            addresses = self.rules.get(delivery.channel, NoRules()).addresses(uow, delivery)
            skipped = None if addresses else "no_address"
        if skipped is not None:
            if delivery.sending:
                # The attempt under way ran out of its lease: it counts as failed, and no
                # next attempt starts, as it could only fail for the same reason.
                delivery.fail(delivery.attempts, LEASE_EXPIRED, uow.now)
            delivery.skip(skipped, uow.now)
            return None
        attempt = delivery.start_attempt(scheduled_for, uow.now, self.lease_seconds)
        if attempt is None:
            return None
        payload = opened(delivery.payload)
        return Claim(delivery.id, delivery.channel, attempt, payload, tuple(addresses))

    def record(self, uow: UnitOfWork, claim: Claim, result: SendResult) -> DeliveryStatus:
        """Records the outcome of a claimed attempt (an outcome for an attempt that is no
        longer current, e.g. after its lease ran out, changes nothing)."""
        delivery = uow.get(Delivery, claim.delivery_id, "delivery")
        if result.gone:
            self.rules.get(delivery.channel, NoRules()).forget(uow, delivery, result.gone)
        if result.ok:
            delivery.succeed(claim.attempt, list(result.receipt), uow.now)
        else:
            delivery.fail(claim.attempt, result.error or "unknown", uow.now, result.permanent)
        return delivery.status

    def redeliver(self, uow: UnitOfWork, delivery_id: uuid.UUID) -> Redelivery:
        """Tries a dead delivery again, with a fresh set of attempts; 409 if not dead."""
        delivery = uow.get(Delivery, delivery_id, "delivery")
        if not delivery.redeliver(uow.now):
            raise ConflictError(f"Delivery {delivery_id} is {delivery.status}, not dead.")
        return Redelivery(delivery.id, delivery.status)
