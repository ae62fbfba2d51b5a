"""The survey loop under `kill -9`: a real `careloop serve` on SQLite with its workers
in-process, killed at 0-1.5 s into a burst of concurrent survey steps (send, the
patient's negative answer, contact, satisfaction check), and restarted on the same data
directory, round after round. A check's reminder is due one second after it is sent, so
reminders fall due across the kills.

Afterwards, read from the event store: every acknowledged negative answer alerted each
admin exactly once; every acknowledged send and check emailed the patient exactly once;
every acknowledged check got exactly one reminder, by email and push; every delivery
settled; no read model skipped an event.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bootstrap.runtime import Runtime
from domain.outbox.delivery import Delivery
from domain.shared.context import Role
from domain.surveys.feedback import Feedback, delivery_id
from tests.faults.harness import (
    Api,
    Proc,
    bearer,
    embedded_runtime,
    fault_env,
    free_port,
    publish,
    read_models_skipped,
    rounds,
)

SURVEYS_PER_BURST = 4
REMINDER_SECONDS = 1.0


@dataclass
class SurveyClinic:
    tenant: str
    admins: dict[str, dict[str, str]]  # id -> headers
    patients: list[str]
    template: str

    @classmethod
    def create(cls, api: Api) -> SurveyClinic:
        tenant = api.ok("POST", "/v1/tenants", api.admin, 201, json={"name": "Faults"})["id"]
        admins = {}
        for kind, first in (("HOSPITAL_ADMIN", "Hana"), ("PX_ADMIN", "Pia")):
            body = {
                "type": kind,
                "firstName": first,
                "lastName": "Adler",
                "email": f"{first.lower()}.{uuid.uuid4().hex[:6]}@clinic.example",
            }
            staff = api.ok("POST", f"/v1/tenants/{tenant}/staff", api.admin, 201, json=body)["id"]
            role = Role.HOSPITAL_ADMIN if kind == "HOSPITAL_ADMIN" else Role.PX_ADMIN
            admins[staff] = bearer(role, staff, tenant)
        body = {"type": "DOCTOR", "firstName": "Maya", "lastName": "Lind", "email": "m@c.example"}
        doctor = api.ok("POST", f"/v1/tenants/{tenant}/staff", api.admin, 201, json=body)["id"]
        api.ok("POST", f"/v1/staff/{doctor}/approve", api.admin)
        patients = []
        for i in range(3):
            invited = api.ok(
                "POST",
                "/v1/patients/invite",
                bearer(Role.DOCTOR, doctor, tenant),
                201,
                json={"firstName": f"Pat{i}", "lastName": "Ient", "email": f"p{i}@p.example"},
            )
            patients.append(invited["patientId"])
        template = api.ok(
            "POST",
            "/v1/survey-templates",
            next(iter(admins.values())),
            201,
            json={"name": "Visit", "questions": [{"id": "care", "text": "How was your care?"}]},
        )["id"]
        return cls(tenant, admins, patients, template)


@dataclass
class SurveyLedger:
    """What the service acknowledged."""

    sent: set[str] = field(default_factory=set)
    negative: set[str] = field(default_factory=set)
    checks: set[str] = field(default_factory=set)
    commands: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def _loop(api: Api, clinic: SurveyClinic, ledger: SurveyLedger) -> None:
    """One survey as far as the service lets it go before a kill."""
    admin = random.choice(list(clinic.admins.values()))
    try:
        body = {"templateId": clinic.template, "patientId": random.choice(clinic.patients)}
        sent = api.ok("POST", "/v1/surveys", admin, 201, json=body)
        survey = sent["surveyId"]
        ledger.sent.add(survey)
        api.ok(
            "POST",
            f"/v1/public/surveys/{sent['token']}/responses",
            {},
            201,
            json={"answers": {"care": 1}},
        )
        ledger.negative.add(survey)
        api.ok(
            "POST",
            f"/surveys/instances/{survey}/log-contact/",
            admin,
            json={"contactNotes": "Called back.", "outcome": "resolved"},
        )
        check = api.ok("POST", f"/surveys/instances/{survey}/send-satisfaction/", admin, 202)
        ledger.checks.add(check["feedbackId"])
        ledger.commands += 4
    except (httpx.HTTPError, AssertionError) as e:
        ledger.errors[type(e).__name__] += 1


def burst(api: Api, clinic: SurveyClinic, ledger: SurveyLedger, kill: Any) -> None:
    with ThreadPoolExecutor(max_workers=SURVEYS_PER_BURST + 1) as pool:
        jobs = [pool.submit(_loop, api, clinic, ledger) for _ in range(SURVEYS_PER_BURST)]
        # Anywhere in the loop: a burst's four steps take about a second on this box.
        time.sleep(random.uniform(0, 1.5))
        kill()
        for job in jobs:
            job.result()


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    alerts: int = 0
    emails: int = 0
    reminders: int = 0


def check(runtime: Runtime, clinic: SurveyClinic, ledger: SurveyLedger) -> Findings:
    findings = Findings()
    queued: Counter[uuid.UUID] = Counter()
    settled: set[uuid.UUID] = set()
    reminded: Counter[uuid.UUID] = Counter()
    for notification in runtime.log.read(0, 10_000_000):
        event = runtime.log.decode(notification)
        if isinstance(event, Delivery.Queued):
            queued[event.originator_id] += 1
        elif isinstance(event, Delivery.Sent | Delivery.Skipped | Delivery.Died):
            settled.add(event.originator_id)
        elif isinstance(event, Feedback.ReminderDue):
            reminded[event.originator_id] += 1

    def once(ident: uuid.UUID, what: str) -> bool:
        if queued[ident] != 1:
            findings.problems.append(f"{what}: queued {queued[ident]} times")
            return False
        if ident not in settled:
            findings.problems.append(f"{what}: not settled")
            return False
        return True

    for survey in ledger.sent:
        findings.emails += once(delivery_id(uuid.UUID(survey), "invite:email"), f"invite {survey}")
    for survey in ledger.negative:
        for admin in clinic.admins:
            what = f"alert:{admin}:push"
            findings.alerts += once(delivery_id(uuid.UUID(survey), what), f"{what} {survey}")
    for check_id in ledger.checks:
        feedback = uuid.UUID(check_id)
        findings.emails += once(delivery_id(feedback, "check:email"), f"check {check_id}")
        if reminded[feedback] != 1:
            findings.problems.append(f"check {check_id}: {reminded[feedback]} reminders due")
        for channel in ("email", "push"):
            findings.reminders += once(
                delivery_id(feedback, f"reminder:{channel}"), f"reminder {channel} {check_id}"
            )
    return findings


def test_kill_9_mid_survey_loop_loses_and_repeats_no_alert_email_or_reminder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    port = free_port()
    server = Proc(
        ["serve", "--port", str(port)],
        fault_env(
            CARELOOP_DATA_DIR=str(data),
            CARELOOP_SATISFACTION_REMINDER_DAYS=str(REMINDER_SECONDS / 86_400),
        ),
        tmp_path / "server.log",
    )
    api = Api(port)
    server.start()
    api.wait_healthy(server)
    clinic = SurveyClinic.create(api)
    ledger = SurveyLedger()
    started = time.monotonic()
    try:
        for _ in range(rounds(10)):
            burst(api, clinic, ledger, server.kill9)
            server.start()
            api.wait_healthy(server)
        deadline = time.monotonic() + 60
        while True:
            runtime = embedded_runtime(data)
            try:
                findings = check(runtime, clinic, ledger)
            finally:
                runtime.close()
            if not findings.problems or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        server.stop()
        api.close()
    assert findings.problems == [], (findings.problems[:20], server.tail())
    runtime = embedded_runtime(data)
    try:
        skipped = read_models_skipped(runtime, tmp_path)
    finally:
        runtime.close()
    assert skipped == []
    assert ledger.checks, "no check was acknowledged: the kills came too early every time"
    figures = {
        "fault": "survey loop kill -9",
        "kills": server.kills,
        "acknowledged_commands": ledger.commands,
        "acknowledged_surveys": len(ledger.sent),
        "acknowledged_checks": len(ledger.checks),
        "alerts": findings.alerts,
        "emails": findings.emails,
        "reminders": findings.reminders,
        "duplicates": 0,
        "lost": 0,
        "seconds": round(time.monotonic() - started, 1),
    }
    publish(figures)
