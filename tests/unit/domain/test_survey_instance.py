"""A survey sent to a patient: given / when / then, without a database. The answer's score
is the mean; negative is decided once, with the threshold of the version sent; a negative
survey's loop is contact, a satisfaction check, then close or escalate."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from domain.privacy.personal import PersonalText
from domain.shared.errors import InvalidInputError
from domain.surveys.errors import InvalidAnswersError, LinkGoneError, SurveyStateError
from domain.surveys.survey import Contact, SurveyInstance, SurveyStatus
from domain.surveys.template import Question, TemplateVersion
from tests.support.given import Step, given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)
T3 = T0 + timedelta(days=3)
EXPIRES = T0 + timedelta(days=30)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PX_ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SURVEY = uuid.UUID("00000000-0000-4000-a000-00000000f001")
LINK = uuid.UUID("00000000-0000-4000-a000-00000000b001")
CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc001")
OTHER_CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc002")

VERSION = TemplateVersion(
    uuid.UUID("00000000-0000-4000-a000-00000000a001"),
    2,
    "Visit",
    3.0,
    "en",
    (Question("care", "How was your care?"), Question("staff", "How helpful was the staff?")),
)


def a_survey(version: TemplateVersion = VERSION) -> SurveyInstance:
    return SurveyInstance.send(SURVEY, TENANT, PATIENT, ADMIN, version, "en", LINK, EXPIRES, T0)


def answered(care: int, staff: int, comment: str | None = None) -> Step:
    return lambda s: s.answer({"care": care, "staff": staff}, comment, T1)


negative = answered(1, 2)
positive = answered(4, 5)


def contacted(notes: str = "Called; apologised.", outcome: str = "resolved") -> Step:
    return lambda s: s.log_contact(ADMIN, notes, outcome, T1)


def check_sent(feedback: uuid.UUID = CHECK) -> Step:
    return lambda s: s.satisfaction_sent(feedback, ADMIN, T1)


def check_answered(rating: int, feedback: uuid.UUID = CHECK) -> Step:
    return lambda s: s.satisfaction_answered(feedback, rating, T2)


def check_expired(feedback: uuid.UUID = CHECK) -> Step:
    return lambda s: s.satisfaction_expired(feedback, EXPIRES)


def closed(feedback: uuid.UUID = CHECK) -> Step:
    return lambda s: s.close(feedback, ADMIN, T3)


def escalated(feedback: uuid.UUID = CHECK) -> Step:
    return lambda s: s.escalate(feedback, ADMIN, "Still unhappy", T3)


def error_fields(error: pytest.ExceptionInfo[Any]) -> list[str]:
    return [e["field"] for e in error.value.errors]


# -- sending ------------------------------------------------------------------------------


def test_a_sent_survey_keeps_its_version_language_link_and_expiry() -> None:
    survey = a_survey()
    (sent,) = new_events(survey)
    assert names([sent]) == ["SurveyInstance.Sent"]
    assert sent.template == VERSION
    assert (sent.language, sent.link_id, sent.expires_at) == ("en", LINK, EXPIRES)
    survey = given(a_survey())
    assert survey.status is SurveyStatus.SENT
    assert not survey.is_negative and not survey.needs_action


# -- the patient answers ------------------------------------------------------------------


def test_the_score_is_the_mean_of_the_answers() -> None:
    survey = given(a_survey())
    survey.answer({"care": 1, "staff": 4}, None, T1)
    (event,) = new_events(survey)
    assert names([event]) == ["SurveyInstance.Answered"]
    assert event.score == 2.5
    assert survey.score == 2.5
    assert survey.answered_at == T1


def test_a_score_below_the_threshold_is_negative_and_stored_on_the_event() -> None:
    survey = given(a_survey())
    survey.answer({"care": 2, "staff": 3}, None, T1)
    (event,) = new_events(survey)
    assert (event.is_negative, event.negative_threshold) == (True, 3.0)
    assert survey.needs_action


def test_a_score_at_the_threshold_is_not_negative() -> None:
    survey = given(a_survey())
    survey.answer({"care": 3, "staff": 3}, None, T1)
    (event,) = new_events(survey)
    assert event.is_negative is False
    assert not survey.needs_action


@for_all(
    care=st.integers(1, 5),
    staff=st.integers(1, 5),
    threshold=st.sampled_from([1.0, 2.5, 3.0, 3.5, 5.0]),
)
def test_any_answer_is_scored_as_the_mean_and_judged_with_the_threshold_sent(
    care: int, staff: int, threshold: float
) -> None:
    version = TemplateVersion(VERSION.template_id, 1, "Visit", threshold, "en", VERSION.questions)
    survey = given(a_survey(version))
    survey.answer({"staff": staff, "care": care}, None, T1)
    (event,) = new_events(survey)
    assert event.score == statistics.fmean([care, staff])
    assert event.is_negative is (event.score < threshold)
    assert list(event.answers) == ["care", "staff"]  # in the version's order


def test_a_blank_comment_is_stored_as_none() -> None:
    survey = given(a_survey())
    survey.answer({"care": 4, "staff": 4}, "   ", T1)
    (event,) = new_events(survey)
    assert event.comment is None


@pytest.mark.parametrize(
    ("answers", "fields"),
    [
        ({"care": 3}, ["answers.staff"]),
        ({}, ["answers.care", "answers.staff"]),
        ({"care": 3, "staff": 3, "extra": 3}, ["answers.extra"]),
        ({"care": 0, "staff": 6}, ["answers.care", "answers.staff"]),
        ({"care": 2.5, "staff": 3}, ["answers.care"]),
        ({"care": "3", "staff": 3}, ["answers.care"]),
        ({"care": True, "staff": 3}, ["answers.care"]),
        ({"care": None, "staff": 3}, ["answers.care"]),
    ],
)
def test_every_question_must_be_answered_1_to_5_and_each_error_names_its_field(
    answers: dict[str, Any], fields: list[str]
) -> None:
    survey = given(a_survey())
    with pytest.raises(InvalidAnswersError) as error:
        survey.answer(answers, None, T1)
    assert sorted(error_fields(error)) == fields
    assert new_events(survey) == []
    assert survey.status is SurveyStatus.SENT


def test_a_comment_over_5000_characters_is_422() -> None:
    survey = given(a_survey())
    with pytest.raises(InvalidAnswersError) as error:
        survey.answer({"care": 3, "staff": 3}, "x" * 5001, T1)
    assert error_fields(error) == ["comment"]


def test_an_answered_survey_cannot_be_answered_again() -> None:
    survey = given(a_survey(), negative)
    with pytest.raises(LinkGoneError):
        survey.answer({"care": 5, "staff": 5}, None, T2)
    assert new_events(survey) == []
    assert survey.score == 1.5


# -- logging contact ----------------------------------------------------------------------


def test_contact_with_the_patient_of_a_negative_survey_records_who_when_notes_outcome() -> None:
    survey = given(a_survey(), negative)
    contact = survey.log_contact(PX_ADMIN, "Called; apologised.", "explained", T2)
    (event,) = new_events(survey)
    assert names([event]) == ["SurveyInstance.PatientContacted"]
    notes = PersonalText(PATIENT, "Called; apologised.")
    assert event.contact == contact == Contact(PX_ADMIN, T2, notes, "explained")
    assert survey.status is SurveyStatus.CONTACTED


@pytest.mark.parametrize("notes", ["", "   ", "\n\t"])
def test_blank_contact_notes_are_422(notes: str) -> None:
    survey = given(a_survey(), negative)
    with pytest.raises(InvalidInputError) as error:
        survey.log_contact(ADMIN, notes, "resolved", T2)
    assert error_fields(error) == ["contactNotes"]
    assert new_events(survey) == []


def test_an_unknown_outcome_is_422() -> None:
    survey = given(a_survey(), negative)
    with pytest.raises(InvalidInputError) as error:
        survey.log_contact(ADMIN, "Called", "happy", T2)
    assert error_fields(error) == ["outcome"]
    assert new_events(survey) == []


@pytest.mark.parametrize("outcome", ["resolved", "explained", "unresolved"])
def test_each_outcome_is_accepted(outcome: str) -> None:
    survey = given(a_survey(), negative)
    assert survey.log_contact(ADMIN, "Called", outcome, T2).outcome == outcome


@pytest.mark.parametrize("history", [(), (positive,)], ids=["unanswered", "not negative"])
def test_only_a_negative_survey_has_contact_to_log(history: tuple[Step, ...]) -> None:
    survey = given(a_survey(), *history)
    with pytest.raises(SurveyStateError):
        survey.log_contact(ADMIN, "Called", "resolved", T2)
    assert new_events(survey) == []


def test_logging_contact_again_appends_a_second_contact() -> None:
    survey = given(a_survey(), negative, contacted("First call", "unresolved"))
    survey.log_contact(PX_ADMIN, "Second call", "resolved", T2)
    assert names(new_events(survey)) == ["SurveyInstance.PatientContacted"]
    assert [(c.by, c.notes.text, c.outcome) for c in survey.contacts] == [
        (ADMIN, "First call", "unresolved"),
        (PX_ADMIN, "Second call", "resolved"),
    ]


def test_contact_after_a_check_was_sent_keeps_the_check_open() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent())
    survey.log_contact(ADMIN, "Called again", "explained", T2)
    assert survey.open_check == CHECK
    assert survey.status is SurveyStatus.FEEDBACK_SENT
    assert len(survey.contacts) == 2


def test_no_contact_can_be_logged_once_the_loop_is_closed() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent(), closed())
    with pytest.raises(SurveyStateError):
        survey.log_contact(ADMIN, "Called", "resolved", T3)
    assert new_events(survey) == []


# -- needs action -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "needs"),
    [
        ((negative,), True),
        ((positive,), False),
        ((negative, contacted()), True),
        ((negative, contacted(), check_sent()), False),
        ((negative, contacted(), check_sent(), check_answered(5)), True),
        ((negative, contacted(), check_sent(), check_expired()), True),
        ((negative, contacted(), check_sent(), escalated()), True),
        ((negative, contacted(), check_sent(), closed()), False),
        ((negative, contacted(), check_sent(), escalated(), closed()), False),
    ],
    ids=[
        "negative",
        "positive",
        "contacted",
        "check open",
        "check answered",
        "check expired",
        "escalated",
        "closed",
        "escalated then closed",
    ],
)
def test_a_negative_survey_needs_action_until_closed_except_while_a_check_is_open(
    history: tuple[Step, ...], needs: bool
) -> None:
    assert given(a_survey(), *history).needs_action is needs


# -- close and escalate -------------------------------------------------------------------


def test_closing_the_loop_does_not_require_the_patients_answer() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent())
    assert survey.close(CHECK, ADMIN, T3) is True
    (event,) = new_events(survey)
    assert names([event]) == ["SurveyInstance.Closed"]
    assert (event.feedback_id, event.closed_by) == (CHECK, ADMIN)
    assert survey.is_closed and survey.open_check is None


def test_closing_a_closed_loop_records_nothing() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent(), closed())
    assert survey.close(CHECK, ADMIN, T3) is False
    assert new_events(survey) == []


def test_escalating_records_the_reason_and_keeps_the_item_in_needs_action() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent(), check_answered(1))
    escalation = survey.escalate(CHECK, PX_ADMIN, "Wants to talk to the director", T3)
    (event,) = new_events(survey)
    assert names([event]) == ["SurveyInstance.Escalated"]
    assert event.escalation == escalation
    assert (escalation.by, escalation.reason, escalation.feedback_id) == (
        PX_ADMIN,
        PersonalText(PATIENT, "Wants to talk to the director"),
        CHECK,
    )
    assert survey.status is SurveyStatus.ESCALATED
    assert survey.needs_action and survey.escalation == escalation


def test_escalating_with_the_open_check_takes_it_off_the_patients_side() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent())
    survey.escalate(CHECK, ADMIN, "No answer; calling again", T3)
    assert survey.open_check is None


def test_a_blank_escalation_reason_is_422() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent())
    with pytest.raises(InvalidInputError) as error:
        survey.escalate(CHECK, ADMIN, "  ", T3)
    assert error_fields(error) == ["reason"]
    assert new_events(survey) == []


def test_a_closed_loop_cannot_be_escalated() -> None:
    survey = given(a_survey(), negative, contacted(), check_sent(), closed())
    with pytest.raises(SurveyStateError):
        survey.escalate(CHECK, ADMIN, "Too late", T3)
    assert new_events(survey) == []
