"""The survey loop on the production shape: PostgreSQL, Redis, real Dramatiq workers, and
a real SMTP server started by the test.

The patient's links arrive by email; the test answers through the links it read there.
The satisfaction check's reminder is due 2 seconds after it is sent; meanwhile Redis is
flushed, so any wake-up message is gone: the reminder must still arrive, because its
deadline lives in the event store and the scheduler sends its wake-up again.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from domain.shared.context import Role
from tests.support.app import Api, auth
from tests.support.feedback_http import eventually
from tests.support.processes import free_port
from tests.support.production import production_api

REMINDER_SECONDS = 2.0
LINK = re.compile(r"http://careloop\.test(/public/(?:surveys|feedback)/[A-Za-z0-9_\-]+)")


class Mailbox:
    """An SMTP server's handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[tuple[str, str]]:
        """(subject, text) of every message to `address`, oldest first."""
        with self.lock:
            found = [m for m in self.messages if m["To"] == address]
        return [(str(m["Subject"]), m.get_body(("plain",)).get_content()) for m in found]  # type: ignore[union-attr]


@pytest.fixture
def production(tmp_path: Path) -> Iterator[tuple[Api, Mailbox, str]]:
    mailbox = Mailbox()
    port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with production_api(
            tmp_path,
            smtp_url=f"smtp://127.0.0.1:{port}",
            public_base_url="http://careloop.test",
            satisfaction_reminder_days=REMINDER_SECONDS / 86_400,
            sweep_interval_seconds=0.5,
        ) as (api, url):
            yield api, mailbox, url
    finally:
        smtp.stop()


def link_in(mailbox: Mailbox, address: str, subject_part: str) -> str:
    def probe() -> str | None:
        for subject, text in mailbox.to(address):
            if subject_part in subject and (found := LINK.search(text)):
                return found.group(1)
        return None

    path: str = eventually(probe, timeout=20, what=f"an email '{subject_part}' to {address}")
    return path


def test_a_negative_survey_is_followed_up_by_email_push_and_a_durable_reminder(
    production: tuple[Api, Mailbox, str],
) -> None:
    api, mailbox, url = production
    tenant = api.tenant("Riverside")
    admin_id = api.staff(tenant, "HOSPITAL_ADMIN", "Hana", "Adler")
    px_id = api.staff(tenant, "PX_ADMIN", "Pia", "Xu")
    admin = auth(Role.HOSPITAL_ADMIN, admin_id, tenant)
    px = auth(Role.PX_ADMIN, px_id, tenant)
    _, doctor = api.doctor(tenant)
    patient = api.invite(doctor)
    patient_id = patient["patientId"]
    address = api.runtime.views.directory.patient(patient_id)
    if address is None:
        address = eventually(
            lambda: api.runtime.views.directory.patient(patient_id), what="patient row"
        )
    patient_email = address["email"]

    template = api.ok(
        "POST",
        "/v1/survey-templates",
        admin,
        201,
        json={"name": "Visit", "questions": [{"id": "care", "text": "How was your care?"}]},
    )
    sent = api.ok(
        "POST", "/v1/surveys", px, 201, json={"templateId": template["id"], "patientId": patient_id}
    )

    # The patient answers through the link the email brought.
    survey_link = link_in(mailbox, patient_email, "How are we doing?")
    assert survey_link.endswith(sent["token"])
    form = api.client.get(survey_link.replace("/public/", "/v1/public/", 1)).json()
    assert form["templateName"] == "Visit"
    answered = api.client.post(
        f"{survey_link.replace('/public/', '/v1/public/', 1)}/responses",
        json={"answers": {"care": 1}},
    )
    assert answered.status_code == 201, answered.text

    # Both admins are alerted in the app.
    def alerts_of(headers: dict[str, str]) -> list[dict[str, Any]]:
        return [
            n
            for n in api.ok("GET", "/v1/me/notifications", headers)
            if n["data"].get("type") == "NEGATIVE_SURVEY"
        ]

    for headers in (admin, px):
        alerts = eventually(partial(alerts_of, headers), what="the negative-survey alert")
        assert [a["data"]["surveyId"] for a in alerts] == [sent["surveyId"]]
    waiting = eventually(
        lambda: api.ok("GET", "/v1/surveys/needs-action", admin)["items"], what="needs action"
    )
    assert [s["id"] for s in waiting] == [sent["surveyId"]]

    api.ok(
        "POST",
        f"/surveys/instances/{sent['surveyId']}/log-contact/",
        admin,
        json={"contactNotes": "Called; the wait was too long.", "outcome": "explained"},
    )
    check = api.ok("POST", f"/surveys/instances/{sent['surveyId']}/send-satisfaction/", admin, 202)
    check_link = link_in(mailbox, patient_email, "Did we address your concerns?")
    assert check_link.endswith(check["token"])

    # Every wake-up message is lost; the reminder is due in 2 s and must still come.
    redis.Redis.from_url(url).flushall()
    reminder_link = link_in(mailbox, patient_email, "Reminder")
    assert reminder_link == check_link

    rated = api.client.post(
        f"{check_link.replace('/public/', '/v1/public/', 1)}/responses", json={"rating": 5}
    )
    assert rated.status_code == 201, rated.text
    closed = api.ok("POST", f"/v1/feedback/{check['feedbackId']}/close", admin)
    survey = api.ok(
        "GET", f"/v1/surveys/{sent['surveyId']}?minPosition={closed['position']}", admin
    )
    feedback = api.ok(
        "GET", f"/v1/feedback/{check['feedbackId']}?minPosition={closed['position']}", admin
    )
    assert (survey["status"], feedback["status"]) == ("closed", "closed")
    assert feedback["rating"] == 5
    # One reminder, one invitation, one check: nothing sent twice despite the flush.
    subjects = sorted(subject for subject, _ in mailbox.to(patient_email))
    assert subjects == [
        "Did we address your concerns?",
        "How are we doing? Visit",
        "Reminder: did we address your concerns?",
    ]
