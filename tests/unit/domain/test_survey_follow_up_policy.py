"""The survey loop's follow-up process manager.

First as a pure decision: given events / when the process manager sees them / then
commands. Then each command it yields, run on a clinic (a real runtime on SQLite): given
the loop so far, when the command runs, then these deliveries and events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.notifications.application import PUSH
from domain.notifications.email import EMAIL
from domain.outbox.delivery import Delivery
from domain.people.staff import StaffType
from domain.shared.context import SYSTEM_ACTOR
from domain.shared.reactions import ProcessManager
from domain.surveys.feedback import Feedback, delivery_id
from domain.surveys.policies import (
    FOLLOW_UP,
    AlertStaff,
    FollowUpCommand,
    RemindPatient,
    ReturnToNeedsAction,
    decide_follow_up,
)
from domain.surveys.survey import SurveyInstance
from domain.surveys.template import Question, TemplateVersion
from tests.support.surveys import SurveyClinic

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
REMIND = T0 + timedelta(days=3)
EXPIRES = T0 + timedelta(days=30)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SURVEY = uuid.UUID("00000000-0000-4000-a000-00000000f001")
CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc001")
LINK = uuid.UUID("00000000-0000-4000-a000-00000000b001")
VERSION = TemplateVersion(
    uuid.UUID("00000000-0000-4000-a000-00000000a001"),
    1,
    "Visit",
    3.0,
    "en",
    (Question("care", "How was your care?"), Question("staff", "How helpful was the staff?")),
)


# == given events / when the process manager sees them / then commands ===================


def survey_events(*scores: int, contacted: bool = False, check: bool = False) -> list[Any]:
    survey = SurveyInstance.send(SURVEY, TENANT, PATIENT, ADMIN, VERSION, "en", LINK, EXPIRES, T0)
    survey.answer(dict(zip(["care", "staff"], scores, strict=True)), None, T0)
    if contacted:
        survey.log_contact(ADMIN, "Called", "resolved", T0)
    if check:
        survey.satisfaction_sent(CHECK, ADMIN, T0)
    return list(survey.collect_events())


def check_events(*steps: Any) -> list[Any]:
    check = Feedback.satisfaction_check(
        CHECK, TENANT, PATIENT, SURVEY, ADMIN, uuid.uuid4(), EXPIRES, REMIND, T0
    )
    for step in steps:
        step(check)
    return list(check.collect_events())


def decisions(manager: ProcessManager, history: list[Any]) -> list[Any]:
    """What the process manager decides over a history: the platform hands it only the
    events it reacts to, one at a time."""
    return [
        command
        for event in history
        if isinstance(event, manager.reacts_to)
        for command in manager.decide(event)
    ]


def reminded(check: Feedback) -> None:
    check.elapse(REMIND, REMIND)


def expired(check: Feedback) -> None:
    check.elapse(EXPIRES, EXPIRES)


def test_a_negative_answer_alerts_the_staff() -> None:
    assert decisions(FOLLOW_UP, survey_events(1, 2)) == [AlertStaff(SURVEY)]


@pytest.mark.parametrize("scores", [(3, 3), (4, 5), (2, 4)])
def test_an_answer_at_or_above_the_threshold_alerts_nobody(scores: tuple[int, int]) -> None:
    assert decisions(FOLLOW_UP, survey_events(*scores)) == []


def test_contact_and_sending_a_check_decide_nothing() -> None:
    history = survey_events(1, 1, contacted=True, check=True)
    assert decisions(FOLLOW_UP, history) == [AlertStaff(SURVEY)]


def test_a_reminder_falling_due_reminds_the_patient() -> None:
    assert decisions(FOLLOW_UP, check_events(reminded)) == [RemindPatient(CHECK)]


def test_an_expired_check_returns_the_survey_to_needs_action() -> None:
    assert decisions(FOLLOW_UP, check_events(reminded, expired)) == [
        RemindPatient(CHECK),
        ReturnToNeedsAction(CHECK),
    ]


def test_a_check_answered_before_its_reminder_decides_nothing() -> None:
    history = check_events(lambda c: c.answer(4, None, T0), reminded, expired)
    assert decisions(FOLLOW_UP, history) == []


def test_a_closed_or_escalated_check_decides_nothing() -> None:
    for settle in (lambda c: c.close(ADMIN, T0), lambda c: c.escalate(ADMIN, "Unhappy", T0)):
        assert decisions(FOLLOW_UP, check_events(settle, reminded, expired)) == []


def test_the_decisions_are_the_same_on_every_replay() -> None:
    history = [*survey_events(1, 2), *check_events(reminded, expired)]
    assert decisions(FOLLOW_UP, history) == decisions(FOLLOW_UP, history)
    assert [decide_follow_up(e) for e in history if isinstance(e, FOLLOW_UP.reacts_to)] == [
        [AlertStaff(SURVEY)],
        [RemindPatient(CHECK)],
        [ReturnToNeedsAction(CHECK)],
    ]


def test_the_follow_up_waits_for_the_directory_of_admins() -> None:
    assert FOLLOW_UP.needs == ("directory",)
    assert set(FOLLOW_UP.reacts_to) == {
        SurveyInstance.Answered,
        Feedback.ReminderDue,
        Feedback.Expired,
    }


# == given the loop so far / when the command runs / then deliveries and events ===========


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[SurveyClinic]:
    c = SurveyClinic(tmp_path)
    try:
        yield c
    finally:
        c.close_runtime()


def run(clinic: SurveyClinic, command: FollowUpCommand) -> tuple[dict[str, Any], list[Any]]:
    """The command, as the process manager runs it (as the system), once the read models
    it needs are current; its result and the events it recorded."""
    clinic.rt.catch_up()
    head = clinic.rt.log.head()
    outcome = clinic.run(SYSTEM_ACTOR, lambda u: clinic.rt.surveys.handle(u, command))
    recorded = [clinic.rt.log.decode(n) for n in clinic.rt.log.read(head, 1000)]
    return outcome, recorded


def queued(events: list[Any]) -> list[tuple[str, uuid.UUID | None]]:
    return sorted((e.channel, e.recipient_id) for e in events if isinstance(e, Delivery.Queued))


def register(clinic: SurveyClinic, kind: StaffType, name: str, tenant: uuid.UUID) -> uuid.UUID:
    return uuid.UUID(
        clinic.run(
            clinic.platform,
            lambda u: clinic.rt.people.register_staff(
                u, tenant, kind, name, "Staff", f"{name.lower()}@c.example"
            ),
        )["id"]
    )


def a_check_sent(clinic: SurveyClinic) -> tuple[uuid.UUID, uuid.UUID, str]:
    survey, _ = clinic.negative_survey()
    clinic.log_contact(survey)
    sent = clinic.send_check(survey)
    return survey, uuid.UUID(sent["feedbackId"]), sent["token"]


# -- AlertStaff ---------------------------------------------------------------------------


def test_a_negative_survey_alerts_each_active_hospital_and_px_admin_by_one_push(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    outcome, events = run(clinic, AlertStaff(survey))
    admins = [clinic.staff[StaffType.HOSPITAL_ADMIN], clinic.staff[StaffType.PX_ADMIN]]
    assert queued(events) == sorted((PUSH, a) for a in admins)
    assert sorted(outcome["notified"]) == sorted(str(a) for a in admins)
    for event in events:
        assert event.payload["data"] == {"type": "NEGATIVE_SURVEY", "surveyId": str(survey)}
        assert event.originator_id == delivery_id(survey, f"alert:{event.recipient_id}:push")
        assert event.tenant_id == clinic.tenant


def test_the_alert_reaches_no_doctor(clinic: SurveyClinic) -> None:
    survey, _ = clinic.negative_survey()
    _, events = run(clinic, AlertStaff(survey))
    doctor = clinic.staff[StaffType.DOCTOR]
    assert doctor not in {e.recipient_id for e in events}


def test_a_deactivated_admin_is_not_alerted(clinic: SurveyClinic) -> None:
    px_admin = clinic.staff[StaffType.PX_ADMIN]
    clinic.run(clinic.platform, lambda u: clinic.rt.people.deactivate_staff(u, px_admin))
    survey, _ = clinic.negative_survey()
    _, events = run(clinic, AlertStaff(survey))
    assert queued(events) == [(PUSH, clinic.staff[StaffType.HOSPITAL_ADMIN])]


def test_an_admin_deactivated_after_the_directory_last_looked_is_not_alerted(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    clinic.rt.catch_up()
    px_admin = clinic.staff[StaffType.PX_ADMIN]
    clinic.run(clinic.platform, lambda u: clinic.rt.people.deactivate_staff(u, px_admin))
    head = clinic.rt.log.head()
    # The directory still lists the PX admin: each candidate is checked against its Staff.
    clinic.run(SYSTEM_ACTOR, lambda u: clinic.rt.surveys.handle(u, AlertStaff(survey)))
    events = [clinic.rt.log.decode(n) for n in clinic.rt.log.read(head, 1000)]
    assert queued(events) == [(PUSH, clinic.staff[StaffType.HOSPITAL_ADMIN])]


def test_every_active_admin_is_alerted_and_no_admin_of_another_tenant(
    clinic: SurveyClinic,
) -> None:
    second_px = register(clinic, StaffType.PX_ADMIN, "Petra", clinic.tenant)
    other_tenant = uuid.UUID(
        clinic.run(clinic.platform, lambda u: clinic.rt.people.create_tenant(u, "Other"))["id"]
    )
    outsider = register(clinic, StaffType.HOSPITAL_ADMIN, "Olga", other_tenant)
    survey, _ = clinic.negative_survey()
    _, events = run(clinic, AlertStaff(survey))
    recipients = {e.recipient_id for e in events}
    assert recipients == {
        clinic.staff[StaffType.HOSPITAL_ADMIN],
        clinic.staff[StaffType.PX_ADMIN],
        second_px,
    }
    assert outsider not in recipients


def test_alerting_twice_alerts_nobody_twice(clinic: SurveyClinic) -> None:
    survey, _ = clinic.negative_survey()
    run(clinic, AlertStaff(survey))
    outcome, events = run(clinic, AlertStaff(survey))
    assert events == []
    assert outcome["notified"] == []


def test_an_admin_who_joins_later_is_alerted_by_a_retry_and_nobody_else_again(
    clinic: SurveyClinic,
) -> None:
    survey, _ = clinic.negative_survey()
    run(clinic, AlertStaff(survey))
    newcomer = register(clinic, StaffType.HOSPITAL_ADMIN, "Nora", clinic.tenant)
    _, events = run(clinic, AlertStaff(survey))
    assert queued(events) == [(PUSH, newcomer)]


def test_a_loop_closed_before_the_alert_went_out_alerts_nobody(clinic: SurveyClinic) -> None:
    survey, check, _ = a_check_sent(clinic)
    clinic.close(check)
    outcome, events = run(clinic, AlertStaff(survey))
    assert (outcome["outcome"], events) == ("closed", [])


# -- RemindPatient ------------------------------------------------------------------------


def test_a_reminder_queues_one_email_and_one_push_to_the_patient_with_the_link(
    clinic: SurveyClinic,
) -> None:
    _, check, token = a_check_sent(clinic)
    clinic.advance(3)
    assert clinic.fire_due() == 1
    outcome, events = run(clinic, RemindPatient(check))
    assert outcome["outcome"] == "reminded"
    assert queued(events) == sorted([(EMAIL, clinic.patient), (PUSH, clinic.patient)])
    for event in events:
        assert event.originator_id == delivery_id(check, f"reminder:{event.channel}")
        assert event.payload["link"]["path"] == "/public/feedback/"
        assert token not in repr(event.payload)  # the outbox writes the link in


def test_reminding_twice_reminds_once(clinic: SurveyClinic) -> None:
    _, check, _ = a_check_sent(clinic)
    clinic.advance(3)
    clinic.fire_due()
    run(clinic, RemindPatient(check))
    outcome, events = run(clinic, RemindPatient(check))
    assert (outcome["outcome"], events) == ("already_reminded", [])


def test_no_reminder_once_the_patient_answered(clinic: SurveyClinic) -> None:
    _, check, token = a_check_sent(clinic)
    clinic.advance(3)
    clinic.fire_due()
    clinic.answer_check(token, 4)
    outcome, events = run(clinic, RemindPatient(check))
    assert (outcome["outcome"], events) == ("not_open", [])


def test_no_reminder_once_the_loop_is_closed(clinic: SurveyClinic) -> None:
    _, check, _ = a_check_sent(clinic)
    clinic.advance(3)
    clinic.fire_due()
    clinic.close(check)
    outcome, events = run(clinic, RemindPatient(check))
    assert (outcome["outcome"], events) == ("not_open", [])


# -- ReturnToNeedsAction ------------------------------------------------------------------


def test_an_expired_check_makes_the_survey_need_action_again(clinic: SurveyClinic) -> None:
    survey, check, _ = a_check_sent(clinic)
    clinic.advance(30)
    assert clinic.fire_due() == 1
    outcome, events = run(clinic, ReturnToNeedsAction(check))
    assert outcome["outcome"] == "needs_action"
    assert [type(e).__qualname__ for e in events] == ["SurveyInstance.SatisfactionExpired"]
    found = clinic.rt.log.find(survey)
    assert found is not None and found.needs_action and found.open_check is None
    clinic.rt.catch_up()
    listed, _ = clinic.rt.views.surveys.needs_action(str(clinic.tenant), None, 10)
    assert [row["id"] for row in listed] == [str(survey)]


def test_returning_to_needs_action_twice_records_it_once(clinic: SurveyClinic) -> None:
    _, check, _ = a_check_sent(clinic)
    clinic.advance(30)
    clinic.fire_due()
    run(clinic, ReturnToNeedsAction(check))
    _, events = run(clinic, ReturnToNeedsAction(check))
    assert events == []


def test_a_check_that_expired_after_the_loop_was_closed_changes_nothing(
    clinic: SurveyClinic,
) -> None:
    survey, check, _ = a_check_sent(clinic)
    clinic.close(check)
    outcome, events = run(clinic, ReturnToNeedsAction(check))
    assert (outcome["outcome"], events) == ("unchanged", [])
    found = clinic.rt.log.find(survey)
    assert found is not None and found.is_closed


def test_a_new_check_sent_after_an_expiry_is_not_undone_by_a_late_expiry(
    clinic: SurveyClinic,
) -> None:
    survey, check, _ = a_check_sent(clinic)
    clinic.advance(30)
    clinic.fire_due()
    run(clinic, ReturnToNeedsAction(check))
    second = uuid.UUID(clinic.send_check(survey)["feedbackId"])
    _, events = run(clinic, ReturnToNeedsAction(check))  # a redelivered decision
    assert events == []
    found = clinic.rt.log.find(survey)
    assert found is not None and found.open_check == second


# -- the whole follow-up through the process manager --------------------------------------


def deliveries_about(clinic: SurveyClinic, record: uuid.UUID, what: str) -> list[Any]:
    ids = {delivery_id(record, f"{what}:{channel}") for channel in (EMAIL, PUSH)}
    return [e for e in clinic.events() if isinstance(e, Delivery.Queued) and e.originator_id in ids]


def test_the_process_manager_follows_a_negative_survey_until_its_check_expires(
    clinic: SurveyClinic,
) -> None:
    hospital, px = clinic.staff[StaffType.HOSPITAL_ADMIN], clinic.staff[StaffType.PX_ADMIN]
    survey, _ = clinic.negative_survey()
    clinic.react()
    assert len(deliveries_about(clinic, survey, f"alert:{hospital}")) == 1
    assert len(deliveries_about(clinic, survey, f"alert:{px}")) == 1
    clinic.log_contact(survey)
    check = uuid.UUID(clinic.send_check(survey)["feedbackId"])
    clinic.advance(3)
    clinic.fire_due()
    clinic.react()
    assert len(deliveries_about(clinic, check, "reminder")) == 2
    clinic.advance(27)
    clinic.fire_due()
    clinic.react()
    found = clinic.rt.log.find(survey)
    assert found is not None and found.needs_action
    clinic.react()
    assert len(deliveries_about(clinic, survey, f"alert:{hospital}")) == 1
    assert len(deliveries_about(clinic, check, "reminder")) == 2
