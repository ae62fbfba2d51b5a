"""Email: the outbox's `email` channel, and the rules that need the domain.

An email is an outbox delivery on the `email` channel (domain/outbox). Its payload holds
what is said (`subject`, `text`, optionally `html`) and never where it goes: the address
is personal data, so it is read from the recipient's own aggregate when an attempt is
claimed, not copied into the log. A recipient who is gone (unknown, inactive, erased,
or of another tenant than the delivery) has no address, and the delivery is skipped. Sending
itself is infrastructure (workers/outbox/email.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from domain.outbox.delivery import Delivery
from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.privacy.personal import PersonalText
from domain.shared.unit_of_work import UnitOfWork

EMAIL = "email"


def queue_email(
    uow: UnitOfWork,
    delivery_id: uuid.UUID,
    tenant_id: uuid.UUID,
    recipient_id: uuid.UUID,
    subject: str | PersonalText,
    text: str | PersonalText,
    html: str | PersonalText | None = None,
) -> Delivery:
    """Adds an email to the outbox, in the caller's unit of work (so it is saved, or not,
    with whatever decided to send it). The recipient is a patient or a staff member; the
    address is looked up when the email is sent, never stored with it. A text quoting a
    patient's name or notes is their `PersonalText`, opened only when it is sent."""
    payload: dict[str, Any] = {"subject": subject, "text": text}
    if html is not None:
        payload["html"] = html
    delivery = Delivery.queue(
        id=delivery_id,
        channel=EMAIL,
        tenant_id=tenant_id,
        recipient_id=recipient_id,
        payload=payload,
        at=uow.now,
    )
    uow.add(delivery)
    return delivery


def recipient_email(uow: UnitOfWork, delivery: Delivery) -> str | None:
    """The address of the delivery's recipient as their aggregate has it now, or None when
    there is nobody to write to: no such patient or staff member, one who is no longer
    active or was erased, or one outside the delivery's tenant."""
    if delivery.recipient_id is None:
        return None
    person: Patient | Staff | None = uow.find(Patient, delivery.recipient_id)
    if person is None:
        person = uow.find(Staff, delivery.recipient_id)
    if person is None or not person.active:
        return None
    if delivery.tenant_id is not None and person.tenant_id != delivery.tenant_id:
        return None
    # A patient's address is personal text, opened here, as the attempt is claimed; an
    # erased patient has none.
    address = person.email.text if isinstance(person, Patient) else person.email
    return (address or "").strip() or None


class EmailRules:
    """The email channel's domain rules: an email goes to its recipient's current address;
    no address is ever forgotten (a bounce says nothing the recipient's record should
    lose)."""

    def addresses(self, uow: UnitOfWork, delivery: Delivery) -> list[str]:
        address = recipient_email(uow, delivery)
        return [address] if address else []

    def forget(self, uow: UnitOfWork, delivery: Delivery, gone: Sequence[str]) -> None:
        return None
