"""The satisfaction check (a SATISFACTION_CHECK feedback linked to a negative survey) and
its durable deadline: given events / when a command or a wake-up / then events. One
reminder after `reminder_days`, then the expiry; an answer, a close or an escalation
clears the timer; a stale, early or duplicate wake-up does nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.privacy.personal import PersonalText
from domain.shared.deadlines import Deadline
from domain.shared.errors import InvalidInputError
from domain.surveys.errors import InvalidAnswersError, LinkGoneError, SurveyStateError
from domain.surveys.feedback import (
    SATISFACTION_CHECK,
    Feedback,
    FeedbackStatus,
    FeedbackType,
)
from domain.surveys.survey import SurveyInstance, SurveyStatus
from domain.surveys.template import Question, TemplateVersion
from tests.support.given import Step, given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
REMIND = T0 + timedelta(days=3)
EXPIRES = T0 + timedelta(days=30)
SECOND = timedelta(seconds=1)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SURVEY = uuid.UUID("00000000-0000-4000-a000-00000000f001")
CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc001")
NEXT_CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc002")
LINK = uuid.UUID("00000000-0000-4000-a000-00000000b002")
VERSION = TemplateVersion(
    uuid.UUID("00000000-0000-4000-a000-00000000a001"),
    1,
    "Visit",
    3.0,
    "en",
    (Question("care", "How was your care?"),),
)


def a_check(remind_at: datetime = REMIND, expires_at: datetime = EXPIRES) -> Feedback:
    return Feedback.satisfaction_check(
        CHECK, TENANT, PATIENT, SURVEY, ADMIN, LINK, expires_at, remind_at, T0
    )


def wakeup(scheduled_for: datetime, at: datetime | None = None) -> Step:
    return lambda f: f.elapse(scheduled_for, scheduled_for if at is None else at)


reminded = wakeup(REMIND)
expired = wakeup(EXPIRES)


def rated(rating: int) -> Step:
    return lambda f: f.answer(rating, None, REMIND - timedelta(hours=1))


def a_negative_contacted_survey(*steps: Step) -> SurveyInstance:
    survey = SurveyInstance.send(
        SURVEY, TENANT, PATIENT, ADMIN, VERSION, "en", uuid.uuid4(), EXPIRES, T0
    )
    return given(
        survey,
        lambda s: s.answer({"care": 1}, None, T0),
        lambda s: s.log_contact(ADMIN, "Called", "resolved", T0),
        *steps,
    )


def check_sent(feedback: uuid.UUID = CHECK) -> Step:
    return lambda s: s.satisfaction_sent(feedback, ADMIN, T0)


def deadlines(events: list[Any]) -> list[tuple[str, uuid.UUID, datetime] | None]:
    """The timer each event leaves (the deadlines read model keeps the row's tenant)."""
    left: list[Deadline | None] = [e.next_deadline() for e in events]
    return [None if d is None else (d.kind, d.id, d.due_at) for d in left]


def timer(due: datetime) -> tuple[str, uuid.UUID, datetime]:
    return (SATISFACTION_CHECK, CHECK, due)


# -- sending ------------------------------------------------------------------------------


def test_a_check_is_a_satisfaction_check_feedback_linked_to_its_survey() -> None:
    check = a_check()
    (sent,) = new_events(check)
    assert names([sent]) == ["Feedback.Sent"]
    assert (sent.feedback_type, sent.related_survey_id) == ("SATISFACTION_CHECK", SURVEY)
    check = given(a_check())
    assert check.feedback_type is FeedbackType.SATISFACTION_CHECK
    assert check.is_open and check.rating is None


def test_a_sent_check_sets_its_timer_for_the_reminder() -> None:
    (sent,) = new_events(a_check())
    assert sent.next_deadline() == Deadline(SATISFACTION_CHECK, CHECK, REMIND, TENANT)


def test_a_reminder_due_no_earlier_than_the_expiry_sets_the_timer_for_the_expiry() -> None:
    for remind_at in (EXPIRES, EXPIRES + timedelta(days=5)):
        assert deadlines(new_events(a_check(remind_at=remind_at))) == [timer(EXPIRES)]


# -- at most one open check ---------------------------------------------------------------


def test_no_check_is_sent_before_contact_is_logged() -> None:
    survey = given(
        SurveyInstance.send(SURVEY, TENANT, PATIENT, ADMIN, VERSION, "en", LINK, EXPIRES, T0),
        lambda s: s.answer({"care": 1}, None, T0),
    )
    with pytest.raises(SurveyStateError):
        survey.check_to_send()
    with pytest.raises(SurveyStateError):
        survey.satisfaction_sent(CHECK, ADMIN, T0)
    assert new_events(survey) == []


def test_a_check_may_be_sent_once_contact_is_logged() -> None:
    survey = a_negative_contacted_survey()
    assert survey.check_to_send() is None
    survey.satisfaction_sent(CHECK, ADMIN, T0)
    (event,) = new_events(survey)
    assert names([event]) == ["SurveyInstance.SatisfactionFeedbackSent"]
    assert (event.feedback_id, event.sent_by) == (CHECK, ADMIN)
    assert survey.status is SurveyStatus.FEEDBACK_SENT
    assert survey.follow_up_feedbacks == [CHECK]


def test_while_a_check_is_open_sending_again_names_it_and_a_second_is_refused() -> None:
    survey = a_negative_contacted_survey(check_sent())
    assert survey.check_to_send() == CHECK
    with pytest.raises(SurveyStateError):
        survey.satisfaction_sent(NEXT_CHECK, ADMIN, T0)
    assert new_events(survey) == []
    assert survey.open_check == CHECK


@pytest.mark.parametrize(
    "settled",
    [
        lambda s: s.satisfaction_answered(CHECK, 4, REMIND),
        lambda s: s.satisfaction_expired(CHECK, EXPIRES),
    ],
    ids=["answered", "expired"],
)
def test_once_the_check_is_answered_or_expired_another_may_be_sent(settled: Step) -> None:
    survey = a_negative_contacted_survey(check_sent(), settled)
    assert survey.check_to_send() is None
    survey.satisfaction_sent(NEXT_CHECK, ADMIN, EXPIRES)
    assert survey.open_check == NEXT_CHECK
    assert survey.follow_up_feedbacks == [CHECK, NEXT_CHECK]


def test_no_check_is_sent_once_the_loop_is_closed() -> None:
    survey = a_negative_contacted_survey(check_sent(), lambda s: s.close(CHECK, ADMIN, T0))
    with pytest.raises(SurveyStateError):
        survey.check_to_send()


# -- the timer: reminder then expiry ------------------------------------------------------


def test_an_unanswered_check_is_reminded_once_at_its_reminder_time() -> None:
    check = given(a_check())
    check.elapse(REMIND, REMIND + SECOND)
    events = new_events(check)
    assert names(events) == ["Feedback.ReminderDue"]
    assert deadlines(events) == [timer(EXPIRES)]
    assert check.reminded and check.is_open


def test_after_the_reminder_the_check_expires_with_its_link() -> None:
    check = given(a_check(), reminded)
    check.elapse(EXPIRES, EXPIRES)
    events = new_events(check)
    assert names(events) == ["Feedback.Expired"]
    assert deadlines(events) == [None]
    assert check.status is FeedbackStatus.EXPIRED


def test_a_reminder_due_no_earlier_than_the_expiry_goes_straight_to_the_expiry() -> None:
    check = given(a_check(remind_at=EXPIRES + timedelta(days=1)))
    check.elapse(EXPIRES, EXPIRES)
    assert names(new_events(check)) == ["Feedback.Expired"]
    assert not check.reminded


def test_a_reminder_wakeup_that_arrives_after_the_expiry_expires_the_check() -> None:
    """The scheduler was down past the expiry: reminding would send a dead link."""
    check = given(a_check())
    check.elapse(REMIND, EXPIRES + SECOND)
    assert names(new_events(check)) == ["Feedback.Expired"]


def test_an_early_wakeup_does_nothing() -> None:
    check = given(a_check())
    check.elapse(REMIND, REMIND - SECOND)
    assert new_events(check) == []
    check = given(a_check(), reminded)
    check.elapse(EXPIRES, EXPIRES - SECOND)
    assert new_events(check) == []


def test_a_stale_reminder_wakeup_after_the_reminder_does_nothing() -> None:
    check = given(a_check(), reminded)
    check.elapse(REMIND, REMIND + timedelta(days=1))
    assert new_events(check) == []


def test_a_wakeup_for_a_time_the_check_never_had_does_nothing() -> None:
    check = given(a_check())
    check.elapse(REMIND - timedelta(hours=1), REMIND)
    assert new_events(check) == []


def test_a_duplicate_reminder_wakeup_reminds_once() -> None:
    check = given(a_check(), reminded)
    check.elapse(REMIND, REMIND + SECOND)
    assert new_events(check) == []


def test_a_duplicate_expiry_wakeup_expires_once() -> None:
    check = given(a_check(), reminded, expired)
    check.elapse(EXPIRES, EXPIRES + SECOND)
    assert new_events(check) == []


# -- no reminder after an answer ----------------------------------------------------------


def test_an_answer_clears_the_timer() -> None:
    check = given(a_check())
    check.answer(5, "Thanks", REMIND - SECOND)
    events = new_events(check)
    assert names(events) == ["Feedback.Answered"]
    assert deadlines(events) == [None]


@pytest.mark.parametrize("scheduled", [REMIND, EXPIRES])
def test_no_reminder_and_no_expiry_after_an_answer(scheduled: datetime) -> None:
    check = given(a_check(), rated(4))
    check.elapse(scheduled, scheduled + SECOND)
    assert new_events(check) == []
    assert check.status is FeedbackStatus.ANSWERED


def test_an_answer_after_the_reminder_stops_the_expiry() -> None:
    check = given(a_check(), reminded, lambda f: f.answer(3, None, REMIND + SECOND))
    check.elapse(EXPIRES, EXPIRES)
    assert new_events(check) == []


# -- the patient answers ------------------------------------------------------------------


@pytest.mark.parametrize(("rating", "flagged"), [(1, True), (2, True), (3, False), (5, False)])
def test_a_rating_of_1_or_2_flags_the_loop_for_escalation(rating: int, flagged: bool) -> None:
    check = given(a_check())
    assert check.answer(rating, None, REMIND) is flagged
    (event,) = new_events(check)
    assert (event.rating, event.flagged_for_escalation) == (rating, flagged)
    survey = a_negative_contacted_survey(check_sent())
    survey.satisfaction_answered(CHECK, rating, REMIND)
    (answered,) = new_events(survey)
    assert answered.flagged_for_escalation is flagged
    assert survey.flagged_for_escalation is flagged
    assert survey.needs_action  # staff still decide


@pytest.mark.parametrize("rating", [0, 6, 2.5, "3", True, None])
def test_a_rating_outside_1_to_5_is_422_naming_the_rating(rating: object) -> None:
    check = given(a_check())
    with pytest.raises(InvalidAnswersError) as error:
        check.answer(rating, None, REMIND)
    assert [e["field"] for e in error.value.errors] == ["rating"]
    assert new_events(check) == []


@pytest.mark.parametrize(
    "history",
    [
        (rated(4),),
        (reminded, expired),
        (lambda f: f.close(ADMIN, T0),),
        (lambda f: f.escalate(ADMIN, "Unhappy", T0),),
    ],
    ids=["answered", "expired", "closed", "escalated"],
)
def test_a_check_no_longer_open_is_410(history: tuple[Step, ...]) -> None:
    check = given(a_check(), *history)
    with pytest.raises(LinkGoneError):
        check.answer(5, None, REMIND)
    assert new_events(check) == []


def test_an_answer_to_a_check_that_is_not_the_surveys_open_one_changes_nothing() -> None:
    survey = a_negative_contacted_survey(check_sent())
    survey.satisfaction_answered(NEXT_CHECK, 1, REMIND)
    assert new_events(survey) == []
    assert survey.open_check == CHECK


# -- expiry returns the survey to needs action --------------------------------------------


def test_an_expired_check_returns_the_survey_to_needs_action() -> None:
    survey = a_negative_contacted_survey(check_sent())
    assert not survey.needs_action
    survey.satisfaction_expired(CHECK, EXPIRES)
    assert names(new_events(survey)) == ["SurveyInstance.SatisfactionExpired"]
    assert survey.needs_action
    assert survey.status is SurveyStatus.CONTACTED


@pytest.mark.parametrize(
    "history",
    [
        (check_sent(), lambda s: s.close(CHECK, ADMIN, T0)),
        (check_sent(), lambda s: s.satisfaction_answered(CHECK, 4, REMIND)),
        (check_sent(NEXT_CHECK),),
    ],
    ids=["closed", "answered", "another check open"],
)
def test_an_expiry_of_a_check_that_is_not_open_changes_nothing(history: tuple[Step, ...]) -> None:
    survey = a_negative_contacted_survey(*history)
    survey.satisfaction_expired(CHECK, EXPIRES)
    assert new_events(survey) == []


# -- close and escalate -------------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [(), (rated(5),), (reminded, expired), (lambda f: f.escalate(ADMIN, "Unhappy", T0),)],
    ids=["open", "answered", "expired", "escalated"],
)
def test_closing_a_check_closes_it_and_clears_its_timer(history: tuple[Step, ...]) -> None:
    check = given(a_check(), *history)
    assert check.close(ADMIN, REMIND) is True
    events = new_events(check)
    assert names(events) == ["Feedback.Closed"]
    assert deadlines(events) == [None]
    assert check.status is FeedbackStatus.CLOSED and check.is_settled


def test_closing_a_closed_check_records_nothing() -> None:
    check = given(a_check(), lambda f: f.close(ADMIN, T0))
    assert check.close(ADMIN, REMIND) is False
    assert new_events(check) == []


def test_no_reminder_and_no_expiry_after_a_close_or_an_escalation() -> None:
    for settle in (lambda f: f.close(ADMIN, T0), lambda f: f.escalate(ADMIN, "Unhappy", T0)):
        check = given(a_check(), settle)
        check.elapse(REMIND, REMIND)
        check.elapse(EXPIRES, EXPIRES)
        assert new_events(check) == []


def test_escalating_a_check_records_who_and_why_and_clears_its_timer() -> None:
    check = given(a_check(), rated(1))
    check.escalate(ADMIN, "Wants the director", REMIND)
    events = new_events(check)
    assert names(events) == ["Feedback.Escalated"]
    reason = PersonalText(PATIENT, "Wants the director")
    assert (events[0].escalated_by, events[0].reason) == (ADMIN, reason)
    assert deadlines(events) == [None]
    assert check.status is FeedbackStatus.ESCALATED


def test_a_blank_escalation_reason_is_422_and_a_closed_check_cannot_be_escalated() -> None:
    check = given(a_check())
    with pytest.raises(InvalidInputError):
        check.escalate(ADMIN, " ", REMIND)
    check = given(a_check(), lambda f: f.close(ADMIN, T0))
    with pytest.raises(SurveyStateError):
        check.escalate(ADMIN, "Unhappy", REMIND)
    assert new_events(check) == []


def test_closing_the_loop_closes_both_the_survey_and_the_check() -> None:
    survey = a_negative_contacted_survey(check_sent())
    check = given(a_check())
    check.close(ADMIN, REMIND)
    survey.close(check.id, ADMIN, REMIND)
    assert names(new_events(check) + new_events(survey)) == [
        "Feedback.Closed",
        "SurveyInstance.Closed",
    ]
    assert check.status is FeedbackStatus.CLOSED and survey.is_closed
    assert not survey.needs_action


def test_escalating_the_loop_marks_both_records_escalated() -> None:
    survey = a_negative_contacted_survey(check_sent())
    check = given(a_check())
    survey.escalate(check.id, ADMIN, "Unhappy", REMIND)
    check.escalate(ADMIN, "Unhappy", REMIND)
    assert names(new_events(survey) + new_events(check)) == [
        "SurveyInstance.Escalated",
        "Feedback.Escalated",
    ]
    assert survey.status is SurveyStatus.ESCALATED
    assert check.status is FeedbackStatus.ESCALATED
    assert survey.needs_action
