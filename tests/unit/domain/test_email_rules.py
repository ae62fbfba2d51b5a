"""The email channel's rules, given people and a queued email / when the outbox claims
it / then where it goes (or that it is skipped). Over an in-memory log, no SMTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.notifications.email import EMAIL, EmailRules, queue_email
from domain.outbox.application import ERASED, Claim, Outbox
from domain.outbox.delivery import Delivery, DeliveryStatus
from domain.people.application import People
from domain.people.staff import StaffType
from domain.privacy.personal import PersonalText
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import CommandBus, Handler
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.eventlog import EventLog
from tests.support.given import names
from tests.support.sealing import sealing

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PLATFORM_ADMIN = Actor(uuid.UUID(int=0xAA), Role.PLATFORM_ADMIN, None)
DELIVERY_ID = uuid.UUID("00000000-0000-4000-a000-00000000f001")
DOCTOR_EMAIL = "maya.lind@riverside.example"
PATIENT_EMAIL = "sam.carter@patients.example"
SUBJECT = "Your therapist reviewed your session"
TEXT = "Maya Lind left notes on your session: $link"


class MailDesk:
    """The Outbox with the email channel's rules and the People application, on an
    in-memory log, a fake clock and predictable ids."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.keys = sealing(self.log)
        self.clock = FakeClock(T0)
        self.commands = CommandBus(self.log, self.clock, SequentialIds())
        self.outbox = Outbox({EMAIL: EmailRules()})
        self.people = People()

    def run(self, handler: Handler[Any], actor: Actor = SYSTEM_ACTOR) -> Any:
        return self.commands.run(CommandContext(actor=actor), handler).result

    # -- given -----------------------------------------------------------------------

    def a_clinic(self) -> uuid.UUID:
        tenant: uuid.UUID = self.run(
            lambda uow: self.people.create_tenant(uow, "Riverside").id, PLATFORM_ADMIN
        )
        return tenant

    def a_doctor(self, tenant: uuid.UUID) -> uuid.UUID:
        doctor: uuid.UUID = self.run(
            lambda uow: (
                self.people.register_staff(
                    uow, tenant, StaffType.DOCTOR, "Maya", "Lind", DOCTOR_EMAIL
                ).id
            ),
            PLATFORM_ADMIN,
        )
        self.run(lambda uow: self.people.approve_staff(uow, doctor), PLATFORM_ADMIN)
        return doctor

    def a_patient(self, tenant: uuid.UUID, doctor: uuid.UUID) -> uuid.UUID:
        patient: uuid.UUID = self.run(
            lambda uow: (
                self.people.invite_patient(
                    uow, "Sam", "Carter", PATIENT_EMAIL, "Europe/Oslo", []
                ).patient_id
            ),
            Actor(doctor, Role.DOCTOR, tenant),
        )
        return patient

    def deactivated(self, staff: uuid.UUID) -> None:
        self.run(lambda uow: self.people.deactivate_staff(uow, staff), PLATFORM_ADMIN)

    def an_email(
        self, tenant: uuid.UUID, recipient: uuid.UUID, html: str | None = None
    ) -> uuid.UUID:
        self.run(lambda uow: queue_email(uow, DELIVERY_ID, tenant, recipient, SUBJECT, TEXT, html))
        return DELIVERY_ID

    # -- when / then -----------------------------------------------------------------

    def claim(self, delivery_id: uuid.UUID = DELIVERY_ID) -> Claim | None:
        due = self.delivery(delivery_id).due_at
        assert due is not None
        claim: Claim | None = self.run(lambda uow: self.outbox.claim(uow, delivery_id, due))
        return claim

    def delivery(self, delivery_id: uuid.UUID = DELIVERY_ID) -> Delivery:
        found = self.log.find(delivery_id)
        assert isinstance(found, Delivery)
        return found


@pytest.fixture
def desk() -> Iterator[MailDesk]:
    d = MailDesk()
    yield d
    d.log.close()


def test_an_email_to_a_patient_is_claimed_for_the_address_on_the_patients_record(
    desk: MailDesk,
) -> None:
    clinic = desk.a_clinic()
    patient = desk.a_patient(clinic, desk.a_doctor(clinic))
    desk.an_email(clinic, patient)

    claim = desk.claim()

    assert claim is not None
    assert (claim.channel, claim.attempt, claim.addresses) == (EMAIL, 1, (PATIENT_EMAIL,))
    assert claim.payload == {"subject": SUBJECT, "text": TEXT}


def test_an_email_to_a_staff_member_is_claimed_for_their_address(desk: MailDesk) -> None:
    clinic = desk.a_clinic()
    doctor = desk.a_doctor(clinic)
    desk.an_email(clinic, doctor)

    claim = desk.claim()

    assert claim is not None and claim.addresses == (DOCTOR_EMAIL,)


def test_an_email_to_an_inactive_staff_member_has_no_address_and_is_skipped_unsent(
    desk: MailDesk,
) -> None:
    clinic = desk.a_clinic()
    doctor = desk.a_doctor(clinic)
    desk.deactivated(doctor)
    desk.an_email(clinic, doctor)

    assert desk.claim() is None

    delivery = desk.delivery()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SKIPPED, 0)
    assert names(desk.log.stream(DELIVERY_ID)) == ["Delivery.Queued", "Delivery.Skipped"]
    skipped = desk.log.stream(DELIVERY_ID)[-1]
    assert isinstance(skipped, Delivery.Skipped) and skipped.reason == "no_address"


def test_an_email_to_an_erased_patient_has_no_address_and_is_skipped_unsent(
    desk: MailDesk,
) -> None:
    clinic = desk.a_clinic()
    patient = desk.a_patient(clinic, desk.a_doctor(clinic))
    desk.an_email(clinic, patient)
    desk.keys.destroy(patient)

    assert desk.claim() is None

    skipped = desk.log.stream(DELIVERY_ID)[-1]
    assert isinstance(skipped, Delivery.Skipped) and skipped.reason == "no_address"


def test_an_email_quoting_a_patients_name_is_stored_sealed_and_sent_as_text(
    desk: MailDesk,
) -> None:
    clinic = desk.a_clinic()
    patient = desk.a_patient(clinic, desk.a_doctor(clinic))
    subject = PersonalText(patient, "Negative survey: Sam Carter")
    desk.run(lambda uow: queue_email(uow, DELIVERY_ID, clinic, patient, subject, TEXT))

    stored = b"".join(n.state for n in desk.log.recorder.select_notifications(1, 1000))
    assert b"Carter" not in stored
    claim = desk.claim()
    assert claim is not None
    assert claim.payload == {"subject": "Negative survey: Sam Carter", "text": TEXT}


def test_an_email_quoting_an_erased_patients_name_is_skipped_never_sent_blank(
    desk: MailDesk,
) -> None:
    clinic = desk.a_clinic()
    doctor = desk.a_doctor(clinic)
    patient = desk.a_patient(clinic, doctor)
    subject = PersonalText(patient, "Negative survey: Sam Carter")
    desk.run(lambda uow: queue_email(uow, DELIVERY_ID, clinic, doctor, subject, TEXT))
    desk.keys.destroy(patient)

    assert desk.claim() is None

    delivery = desk.delivery()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SKIPPED, 0)
    skipped = desk.log.stream(DELIVERY_ID)[-1]
    assert isinstance(skipped, Delivery.Skipped) and skipped.reason == ERASED


def test_an_email_to_an_unknown_recipient_is_skipped(desk: MailDesk) -> None:
    clinic = desk.a_clinic()
    desk.an_email(clinic, uuid.uuid4())

    assert desk.claim() is None
    assert desk.delivery().status is DeliveryStatus.SKIPPED


def test_an_email_naming_a_recipient_of_another_clinic_is_skipped(desk: MailDesk) -> None:
    clinic, other = desk.a_clinic(), desk.a_clinic()
    patient = desk.a_patient(clinic, desk.a_doctor(clinic))
    desk.an_email(other, patient)

    assert desk.claim() is None
    assert desk.delivery().status is DeliveryStatus.SKIPPED


def test_a_queued_email_keeps_what_is_said_and_never_the_address(desk: MailDesk) -> None:
    clinic = desk.a_clinic()
    patient = desk.a_patient(clinic, desk.a_doctor(clinic))

    desk.an_email(clinic, patient, html="<p>Maya Lind left notes</p>")

    [queued] = desk.log.stream(DELIVERY_ID)
    assert isinstance(queued, Delivery.Queued)
    assert (queued.channel, queued.tenant_id, queued.recipient_id) == (EMAIL, clinic, patient)
    assert queued.payload == {
        "subject": SUBJECT,
        "text": TEXT,
        "html": "<p>Maya Lind left notes</p>",
    }
    assert PATIENT_EMAIL not in repr(vars(queued))


def test_an_address_the_far_side_reports_gone_is_not_forgotten(desk: MailDesk) -> None:
    clinic = desk.a_clinic()
    patient = desk.a_patient(clinic, desk.a_doctor(clinic))
    desk.an_email(clinic, patient)
    head = desk.log.head()

    desk.run(lambda uow: EmailRules().forget(uow, desk.delivery(), [PATIENT_EMAIL]))

    assert desk.log.head() == head
    assert desk.claim() is not None
