"""Email delivery through the outbox: `DeliverDue` claims a due email, `SmtpSender` sends
it with the standard library's `smtplib` to a real SMTP server (`aiosmtpd`, started by the
test on a local port), and the outcome is recorded. Arrival, refused connections retried
until the server is up, 4xx and 5xx replies, refused recipients, SMTP login, the URL's
forms and the embedded default."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from fastapi.testclient import TestClient

from api.main import create_app
from bootstrap.runtime import Runtime
from domain.notifications.application import RECORDED_RECEIPT
from domain.notifications.email import EMAIL, queue_email
from domain.outbox.application import Claim
from domain.outbox.delivery import BACKOFF_SECONDS, Delivery, DeliveryStatus
from domain.people.staff import StaffType
from domain.shared.clock import FakeClock
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from tests.support.app import PLATFORM, auth, make_runtime
from tests.support.processes import free_port
from tests.support.push import deliver_due, status_of, stored
from workers.outbox.email import DELIVERY_HEADER, SmtpSender, SmtpServer
from workers.outbox.senders import RecordingSender

PATIENT_EMAIL = "sam.carter@patients.example"
DOCTOR_EMAIL = "maya.lind@riverside.example"
LINK = "https://app.careloop.example/feedback/3f1c9e"
SUBJECT = "Your therapist reviewed your session"
TEXT = f"Maya Lind left notes on 2 exercises. Read them here: {LINK}"
HTML = f'<p>Maya Lind left notes on 2 exercises. <a href="{LINK}">Read them</a>.</p>'
FROM = "no-reply@careloop.invalid"
PLATFORM_ADMIN = Actor(PLATFORM, Role.PLATFORM_ADMIN, None)


# -- a real SMTP server ------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts, or refuses what it is told
    to: a reply to DATA (`refuse_data`) or to RCPT (`refuse_recipients`)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse_data: list[str] = []  # replies for the next DATA commands, in turn
        self.refuse_recipients: str | None = None

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.refuse_recipients:
            return self.refuse_recipients.replace("{address}", address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data.pop(0)
        self.envelopes.append(envelope)
        return f"250 2.0.0 Ok: queued as Q{len(self.envelopes):04d}"

    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


@contextmanager
def smtp_server(port: int, mailbox: Mailbox, **smtp: Any) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def server(port: int, mailbox: Mailbox) -> Iterator[Controller]:
    with smtp_server(port, mailbox) as controller:
        yield controller


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mailing(port: int, clock: FakeClock, tmp_path: Path) -> Iterator[Runtime]:
    """A SQLite runtime whose emails go to the SMTP server on `port` (if one listens)."""
    with make_runtime("sqlite", tmp_path, clock=clock, smtp_url=f"smtp://127.0.0.1:{port}") as rt:
        yield rt


# -- steps -------------------------------------------------------------------------------


def run(runtime: Runtime, actor: Actor, handler: Any) -> Any:
    return runtime.commands.run(CommandContext(actor=actor), handler).result


def a_patient(runtime: Runtime) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A clinic, an approved doctor and the patient they invited: (tenant, doctor, patient)."""
    people = runtime.people
    tenant = run(runtime, PLATFORM_ADMIN, lambda uow: people.create_tenant(uow, "Riverside").id)
    doctor = run(
        runtime,
        PLATFORM_ADMIN,
        lambda uow: (
            people.register_staff(uow, tenant, StaffType.DOCTOR, "Maya", "Lind", DOCTOR_EMAIL).id
        ),
    )
    run(runtime, PLATFORM_ADMIN, lambda uow: people.approve_staff(uow, doctor))
    patient = run(
        runtime,
        Actor(doctor, Role.DOCTOR, tenant),
        lambda uow: (
            people.invite_patient(uow, "Sam", "Carter", PATIENT_EMAIL, "Europe/Oslo", []).patient_id
        ),
    )
    return tenant, doctor, patient


def an_email_to(
    runtime: Runtime, tenant: uuid.UUID, recipient: uuid.UUID, html: str | None = None
) -> uuid.UUID:
    """Queues one email, as a policy would, in a unit of work of its own."""
    delivery_id = runtime.ids.new_id()
    run(
        runtime,
        SYSTEM_ACTOR,
        lambda uow: queue_email(uow, delivery_id, tenant, recipient, SUBJECT, TEXT, html),
    )
    return delivery_id


def an_email_to_a_patient(runtime: Runtime, html: str | None = None) -> uuid.UUID:
    tenant, _, patient = a_patient(runtime)
    return an_email_to(runtime, tenant, patient, html)


def event_names(runtime: Runtime, delivery_id: uuid.UUID) -> list[str]:
    return [type(e).__qualname__ for e in runtime.log.stream(delivery_id)]


def last_event(runtime: Runtime, delivery_id: uuid.UUID) -> Any:
    return runtime.log.stream(delivery_id)[-1]


def listed(runtime: Runtime, delivery_id: uuid.UUID) -> dict[str, Any]:
    runtime.catch_up()
    row = runtime.views.deliveries.get(str(delivery_id))
    assert row is not None
    return row


def outcomes(row: dict[str, Any]) -> list[str]:
    return [attempt["outcome"] for attempt in row["attempts"]]


# -- delivering --------------------------------------------------------------------------


def test_a_due_email_arrives_at_the_patients_address_with_its_subject_and_link(
    mailing: Runtime, mailbox: Mailbox, server: Controller
) -> None:
    delivery = an_email_to_a_patient(mailing)

    assert deliver_due(mailing, delivery) == 1

    [envelope] = mailbox.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == (FROM, [PATIENT_EMAIL])
    [message] = mailbox.messages()
    assert message["To"] == PATIENT_EMAIL
    assert message["From"] == f"CareLoop <{FROM}>"
    assert message["Subject"] == SUBJECT
    assert message["Message-ID"] == f"<{delivery}@careloop.invalid>"
    assert message[DELIVERY_HEADER] == str(delivery)
    assert not message.is_multipart()
    assert LINK in message.get_content()
    sent = last_event(mailing, delivery)
    assert isinstance(sent, Delivery.Sent)
    assert (sent.attempt, sent.receipt) == (
        1,
        [f"<{delivery}@careloop.invalid>", "250 2.0.0 Ok: queued as Q0001"],
    )
    assert listed(mailing, delivery)["status"] == "sent"
    assert deliver_due(mailing) == 0


def test_an_email_with_html_arrives_as_text_with_an_html_alternative(
    mailing: Runtime, mailbox: Mailbox, server: Controller
) -> None:
    delivery = an_email_to_a_patient(mailing, html=HTML)

    deliver_due(mailing, delivery)

    [message] = mailbox.messages()
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and LINK in text.get_content()
    assert html is not None and f'href="{LINK}"' in html.get_content()


def test_an_email_to_a_staff_member_arrives_at_their_address(
    mailing: Runtime, mailbox: Mailbox, server: Controller
) -> None:
    tenant, doctor, _ = a_patient(mailing)
    delivery = an_email_to(mailing, tenant, doctor)

    deliver_due(mailing, delivery)

    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == [DOCTOR_EMAIL]
    assert status_of(mailing, delivery) is DeliveryStatus.SENT


def test_an_email_to_an_inactive_staff_member_is_skipped_and_nothing_is_sent(
    mailing: Runtime, mailbox: Mailbox, server: Controller
) -> None:
    tenant, doctor, _ = a_patient(mailing)
    run(mailing, PLATFORM_ADMIN, lambda uow: mailing.people.deactivate_staff(uow, doctor))
    delivery = an_email_to(mailing, tenant, doctor)

    assert deliver_due(mailing, delivery) == 0

    assert status_of(mailing, delivery) is DeliveryStatus.SKIPPED
    assert mailbox.envelopes == []


# -- a server that is down, then up ------------------------------------------------------


def test_a_refused_connection_is_a_failed_attempt_retried_once_the_server_is_up(
    mailing: Runtime, mailbox: Mailbox, port: int, clock: FakeClock
) -> None:
    delivery = an_email_to_a_patient(mailing)

    assert deliver_due(mailing, delivery) == 1  # nothing listens on the port yet

    retry = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    failure = last_event(mailing, delivery)
    assert isinstance(failure, Delivery.AttemptFailed)
    assert (failure.attempt, failure.retry_at) == (1, retry)
    assert failure.error.startswith("ConnectionRefusedError")
    assert status_of(mailing, delivery) is DeliveryStatus.FAILED
    row = listed(mailing, delivery)
    assert (row["status"], row["nextAttemptAt"]) == ("failed", retry.isoformat())
    assert outcomes(row) == ["started", "failed"]

    with smtp_server(port, mailbox):
        clock.set(retry - timedelta(milliseconds=1))
        assert deliver_due(mailing, delivery) == 0  # not before its retry time
        clock.set(retry + timedelta(seconds=1))
        assert deliver_due(mailing, delivery) == 1

    [message] = mailbox.messages()
    assert (message["To"], message["Subject"]) == (PATIENT_EMAIL, SUBJECT)
    assert LINK in message.get_content()
    assert status_of(mailing, delivery) is DeliveryStatus.SENT
    assert stored(mailing, delivery).attempts == 2
    assert event_names(mailing, delivery) == [
        "Delivery.Queued",
        "Delivery.AttemptStarted",
        "Delivery.AttemptFailed",
        "Delivery.AttemptStarted",
        "Delivery.Sent",
    ]
    row = listed(mailing, delivery)
    assert row["status"] == "sent"
    assert outcomes(row) == ["started", "failed", "started", "sent"]
    with TestClient(create_app(mailing)) as client:
        response = client.get(
            "/v1/admin/deliveries?channel=email", headers=auth(Role.PLATFORM_ADMIN, PLATFORM)
        )
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert (item["id"], item["status"]) == (str(delivery), "sent")
    assert [a["outcome"] for a in item["attempts"]] == ["started", "failed", "started", "sent"]
    assert item["attempts"][1]["detail"].startswith("ConnectionRefusedError")


# -- what the server answers -------------------------------------------------------------


def test_a_5xx_reply_to_the_message_fails_it_for_good_after_one_attempt(
    mailing: Runtime, mailbox: Mailbox, server: Controller, clock: FakeClock
) -> None:
    mailbox.refuse_data.append("550 5.7.1 Message rejected as spam")
    delivery = an_email_to_a_patient(mailing)

    assert deliver_due(mailing, delivery) == 1

    assert status_of(mailing, delivery) is DeliveryStatus.DEAD
    assert event_names(mailing, delivery)[-2:] == ["Delivery.AttemptFailed", "Delivery.Died"]
    failure = mailing.log.stream(delivery)[-2]
    assert isinstance(failure, Delivery.AttemptFailed)
    assert (failure.attempt, failure.retry_at) == (1, None)
    assert failure.error == "SMTP 550: 5.7.1 Message rejected as spam"
    assert stored(mailing, delivery).attempts == 1
    assert listed(mailing, delivery)["status"] == "dead"
    clock.advance(86_400)
    assert deliver_due(mailing, delivery) == 0
    assert mailbox.envelopes == []


def test_a_4xx_reply_to_the_message_is_retried_after_the_backoff(
    mailing: Runtime, mailbox: Mailbox, server: Controller, clock: FakeClock
) -> None:
    mailbox.refuse_data.append("451 4.3.0 Try again later")
    delivery = an_email_to_a_patient(mailing)

    deliver_due(mailing, delivery)

    failure = last_event(mailing, delivery)
    assert isinstance(failure, Delivery.AttemptFailed)
    assert failure.error == "SMTP 451: 4.3.0 Try again later"
    assert failure.retry_at == clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    clock.set(failure.retry_at)
    assert deliver_due(mailing, delivery) == 1
    assert status_of(mailing, delivery) is DeliveryStatus.SENT
    assert len(mailbox.envelopes) == 1


def test_a_refused_recipient_fails_for_good_and_the_log_never_holds_the_address(
    mailing: Runtime, mailbox: Mailbox, server: Controller
) -> None:
    mailbox.refuse_recipients = "550 5.1.1 <{address}>: Recipient address rejected"
    delivery = an_email_to_a_patient(mailing)

    deliver_due(mailing, delivery)

    assert status_of(mailing, delivery) is DeliveryStatus.DEAD
    failure = mailing.log.stream(delivery)[-2]
    assert isinstance(failure, Delivery.AttemptFailed)
    assert failure.error == (
        "recipient refused: 550 5.1.1 <<recipient>>: Recipient address rejected"
    )
    stored_events = repr([vars(e) for e in mailing.log.stream(delivery)])
    assert PATIENT_EMAIL not in stored_events
    assert mailbox.envelopes == []


def test_a_recipient_refused_with_4xx_is_retried(
    mailing: Runtime, mailbox: Mailbox, server: Controller
) -> None:
    mailbox.refuse_recipients = "450 4.2.1 Mailbox busy, try later"
    delivery = an_email_to_a_patient(mailing)

    deliver_due(mailing, delivery)

    assert status_of(mailing, delivery) is DeliveryStatus.FAILED
    assert last_event(mailing, delivery).retry_at is not None


# -- TLS: STARTTLS and implicit TLS ----------------------------------------------------

# A self-signed certificate for 127.0.0.1 (P-256, valid 2000 to 2099), for tests only.
TEST_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBbDCCARKgAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAkxMjcuMC4w
LjEwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEyMzU5NTlaMBQxEjAQBgNVBAMM
CTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGK/hM5xYKimiBIL
z9y43esed/i1+j6Kk4leAJWib8oVyoHAZZs6MTayCmJITP8WzjhFpHONln9dAMMn
F+t14ByjUzBRMA8GA1UdEwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATAOBgNV
HQ8BAf8EBAMCAoQwHQYDVR0OBBYEFCrWD0U+PH73uM2ed1lBJttRL6coMAoGCCqG
SM49BAMCA0gAMEUCIE5dzNVC1c7xxGi8+Ri5R6ThS9oqhxmcrPujJmoCFOSvAiEA
rfeNiB4MGWWGx04qgyCycQ8HVp8ff0BQYuCGRAA//Qo=
-----END CERTIFICATE-----
"""
TEST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6EK6L8aorYnmj3n0
oAn0L3eKOjm2bY072fOi+NfqKvKhRANCAARiv4TOcWCopogSC8/cuN3rHnf4tfo+
ipOJXgCVom/KFcqBwGWbOjE2sgpiSEz/Fs44RaRzjZZ/XQDDJxfrdeAc
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_KEY)
    return cert, key


def server_tls(files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*files)
    return context


def client_tls(files: tuple[Path, Path]) -> ssl.SSLContext:
    """The default client context, trusting the test certificate: the hostname is checked
    as in production."""
    return ssl.create_default_context(cafile=str(files[0]))


def test_starttls_upgrades_the_connection_and_a_server_requiring_it_refuses_plain_text(
    mailbox: Mailbox, port: int, tls_files: tuple[Path, Path]
) -> None:
    with smtp_server(port, mailbox, tls_context=server_tls(tls_files), require_starttls=True):
        plain = SmtpSender(f"smtp://127.0.0.1:{port}")
        upgraded = SmtpSender(f"smtp://127.0.0.1:{port}?starttls=true", tls=client_tls(tls_files))

        refused = plain.send(claim_for(PATIENT_EMAIL))
        sent = upgraded.send(claim_for(PATIENT_EMAIL))

    assert sent.ok, sent.error
    # 530 "Must issue a STARTTLS command first": the URL is wrong, not the message.
    assert (refused.ok, refused.permanent) == (False, False)
    assert refused.error is not None and refused.error.startswith("SMTP 530")
    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == [PATIENT_EMAIL]


def test_smtps_speaks_tls_from_the_first_byte_and_checks_the_servers_certificate(
    mailbox: Mailbox, port: int, tls_files: tuple[Path, Path]
) -> None:
    with smtp_server(port, mailbox, ssl_context=server_tls(tls_files)):
        trusting = SmtpSender(f"smtps://127.0.0.1:{port}", tls=client_tls(tls_files))
        default = SmtpSender(f"smtps://127.0.0.1:{port}")

        sent = trusting.send(claim_for(PATIENT_EMAIL))
        untrusted = default.send(claim_for(PATIENT_EMAIL))

    assert sent.ok, sent.error
    assert (untrusted.ok, untrusted.permanent) == (False, False)
    assert untrusted.error is not None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
    assert len(mailbox.envelopes) == 1


# -- login, and the URL ------------------------------------------------------------------


class Accounts:
    """An aiosmtpd authenticator that knows one login."""

    def __init__(self, username: str, password: str) -> None:
        self.login = (username.encode(), password.encode())
        self.seen: list[tuple[bytes, bytes]] = []

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.seen.append((data.login, data.password))
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        return AuthResult(success=(data.login, data.password) == self.login, handled=False)


def claim_for(address: str) -> Claim:
    return Claim(uuid.uuid4(), EMAIL, 1, {"subject": SUBJECT, "text": TEXT}, (address,))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_credentials_in_the_url_log_in_and_a_wrong_password_is_transient(
    mailbox: Mailbox, port: int
) -> None:
    accounts = Accounts("mailer@careloop.example", "p@ss:word/1")
    with smtp_server(
        port, mailbox, authenticator=accounts, auth_required=True, auth_require_tls=False
    ):
        good = SmtpSender(f"smtp://mailer%40careloop.example:p%40ss%3Aword%2F1@127.0.0.1:{port}")
        bad = SmtpSender(f"smtp://mailer%40careloop.example:wrong@127.0.0.1:{port}")

        sent = good.send(claim_for(PATIENT_EMAIL))
        refused = bad.send(claim_for(PATIENT_EMAIL))

    assert sent.ok, sent.error
    assert accounts.seen[0] == accounts.login
    assert (refused.ok, refused.permanent) == (False, False)
    assert refused.error is not None and refused.error.startswith("SMTP 535")
    assert len(mailbox.envelopes) == 1


def test_a_server_that_never_answers_times_out_as_a_transient_failure() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never greets
        port = silent.getsockname()[1]
        sender = SmtpSender(f"smtp://127.0.0.1:{port}", timeout=0.3)

        result = sender.send(claim_for(PATIENT_EMAIL))

    assert (result.ok, result.permanent) == (False, False)
    assert result.error is not None and "timed out" in result.error


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"text": TEXT}, "invalid email: KeyError('subject')"),
        (
            {"subject": "Hi\r\nBcc: everyone@example.com", "text": TEXT},
            "invalid email: ValueError('Header values may not contain linefeed",
        ),
    ],
    ids=["no-subject", "header-injection"],
)
def test_a_payload_that_makes_no_email_fails_for_good_without_connecting(
    port: int, payload: dict[str, str], error: str
) -> None:
    claim = Claim(uuid.uuid4(), EMAIL, 1, payload, (PATIENT_EMAIL,))
    result = SmtpSender(f"smtp://127.0.0.1:{port}").send(claim)
    assert (result.ok, result.permanent) == (False, True)
    assert result.error is not None and result.error.startswith(error)


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://mail.example", SmtpServer("mail.example", 25)),
        ("smtp://mail.example:2525", SmtpServer("mail.example", 2525)),
        ("smtp://mail.example?starttls=true", SmtpServer("mail.example", 587, starttls=True)),
        ("smtps://u:p%2Fw@mail.example", SmtpServer("mail.example", 465, True, False, "u", "p/w")),
        ("SMTPS://mail.example:8465", SmtpServer("mail.example", 8465, implicit_tls=True)),
    ],
)
def test_the_smtp_url_names_host_port_tls_and_login(url: str, server: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == server


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example",
        "smtp://",
        "smtps://mail.example?starttls=true",
        "smtp://mail.example?starttls=maybe",
        "smtp://mail.example?tls=1",
        "smtp://mail.example:99999",
    ],
)
def test_a_malformed_smtp_url_is_refused_at_startup(url: str) -> None:
    with pytest.raises(ValueError):
        SmtpServer.from_url(url)


def test_the_password_never_shows_in_the_senders_repr() -> None:
    sender = SmtpSender("smtps://mailer:s3cret@mail.example")
    assert "s3cret" not in repr(sender) and "s3cret" not in repr(sender.server)


# -- the embedded default ----------------------------------------------------------------


def test_the_embedded_default_records_every_email_with_its_own_recorder_and_sends_nothing(
    tmp_path: Path, mailbox: Mailbox, server: Controller
) -> None:
    with make_runtime("sqlite", tmp_path) as runtime:
        assert runtime.settings.smtp_url is None
        assert runtime.settings.email_from == f"CareLoop <{FROM}>"
        delivery = an_email_to_a_patient(runtime)

        assert deliver_due(runtime, delivery) == 1

        sent = last_event(runtime, delivery)
        assert isinstance(sent, Delivery.Sent) and sent.receipt == [RECORDED_RECEIPT]
        recorder = runtime.senders[EMAIL]
        assert isinstance(recorder, RecordingSender)
        assert recorder is not runtime.senders["push"]
        [claim] = recorder.sent
        assert (claim.delivery_id, claim.addresses) == (delivery, (PATIENT_EMAIL,))
    assert mailbox.envelopes == []
