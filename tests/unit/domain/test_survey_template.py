"""Survey templates: given / when / then, without a database. A template is versioned: a
survey keeps the version it was sent with, so a revision never changes what an answered
survey meant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.surveys.errors import InvalidTemplateError
from domain.surveys.survey import SurveyInstance
from domain.surveys.template import DEFAULT_THRESHOLD, Question, SurveyTemplate
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)
TEMPLATE = uuid.UUID("00000000-0000-4000-a000-00000000a001")
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SURVEY = uuid.UUID("00000000-0000-4000-a000-00000000f001")
LINK = uuid.UUID("00000000-0000-4000-a000-00000000b001")

CARE = Question("care", "How was your care?", {"ar": "كيف كانت رعايتك؟"})
STAFF = Question("staff", "How helpful was the staff?", {"ar": "ما مدى مساعدة الموظفين؟"})
WAIT = Question("wait", "How long did you wait?")


def a_template(**overrides: Any) -> SurveyTemplate:
    kwargs: dict[str, Any] = {
        "id": TEMPLATE,
        "tenant_id": TENANT,
        "created_by": ADMIN,
        "name": "Visit",
        "questions": [CARE, STAFF],
        "at": T0,
        **overrides,
    }
    return SurveyTemplate.create(**kwargs)


def fields_of(error: pytest.ExceptionInfo[InvalidTemplateError]) -> list[str]:
    return [e["field"] for e in error.value.errors]


def sent_with(template: SurveyTemplate) -> SurveyInstance:
    content = template.current
    return given(
        SurveyInstance.send(
            SURVEY, TENANT, PATIENT, ADMIN, content, "en", LINK, T0 + timedelta(days=30), T0
        )
    )


# -- defaults -----------------------------------------------------------------------------


def test_a_new_template_is_version_1_with_threshold_3_in_english() -> None:
    template = a_template()
    assert names(new_events(template)) == ["SurveyTemplate.Created"]
    assert template.current.version == 1
    assert template.current.negative_threshold == DEFAULT_THRESHOLD == 3.0
    assert template.current.default_language == "en"
    assert template.current.questions == (CARE, STAFF)


def test_the_threshold_is_set_per_template() -> None:
    template = a_template(negative_threshold=4)
    assert template.current.negative_threshold == 4.0
    assert isinstance(template.current.negative_threshold, float)


def test_a_score_below_the_threshold_is_negative_and_one_at_it_is_not() -> None:
    content = a_template().current
    assert content.is_negative(2.5)
    assert content.is_negative(2.99)
    assert not content.is_negative(3.0)
    assert not content.is_negative(4.5)


def test_a_template_replays_to_the_same_version() -> None:
    template = given(a_template(negative_threshold=2.5))
    assert template.current == a_template(negative_threshold=2.5).current
    assert new_events(template) == []


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"negative_threshold": 0.5}, "negativeThreshold"),
        ({"negative_threshold": 5.5}, "negativeThreshold"),
        ({"default_language": "English"}, "defaultLanguage"),
        ({"questions": []}, "questions"),
        ({"questions": [CARE] * 51}, "questions"),
        ({"questions": [Question("has space", "Text")]}, "questions[0].id"),
        ({"questions": [CARE, Question("care", "Again?")]}, "questions[1].id"),
        ({"questions": [Question("care", "  ")]}, "questions[0].text"),
        ({"questions": [Question("care", "x" * 1001)]}, "questions[0].text"),
        ({"questions": [Question("care", "Text", {"Arabic": "نص"})]}, "questions[0].translations"),
        ({"questions": [Question("care", "Text", {"ar": " "})]}, "questions[0].translations.ar"),
    ],
)
def test_an_invalid_template_is_rejected_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidTemplateError) as error:
        a_template(**overrides)
    assert field in fields_of(error)


def test_every_invalid_field_is_named_at_once() -> None:
    with pytest.raises(InvalidTemplateError) as error:
        a_template(name="", negative_threshold=9, questions=[Question("a b", "")])
    assert fields_of(error) == ["name", "negativeThreshold", "questions[0].id", "questions[0].text"]


def test_an_invalid_revision_records_nothing_and_keeps_the_current_version() -> None:
    template = given(a_template())
    with pytest.raises(InvalidTemplateError) as error:
        template.revise(ADMIN, T1, negative_threshold=0)
    assert fields_of(error) == ["negativeThreshold"]
    assert new_events(template) == []
    assert template.current.version == 1


# -- versioning ---------------------------------------------------------------------------


def test_a_revision_makes_the_next_version_from_the_current_one_and_what_is_given() -> None:
    template = given(a_template())
    content = template.revise(ADMIN, T1, negative_threshold=4, questions=[CARE, STAFF, WAIT])
    assert names(new_events(template)) == ["SurveyTemplate.Revised"]
    assert content == template.current
    assert content.version == 2
    assert content.negative_threshold == 4.0
    assert content.questions == (CARE, STAFF, WAIT)
    assert content.name == "Visit"
    assert content.default_language == "en"


def test_each_revision_counts_up_and_replays() -> None:
    template = given(
        a_template(),
        lambda t: t.revise(ADMIN, T1, name="Visit (short)"),
        lambda t: t.revise(ADMIN, T2, negative_threshold=2),
    )
    assert template.current.version == 3
    assert template.current.name == "Visit (short)"
    assert template.current.negative_threshold == 2.0


def test_a_survey_sent_before_a_revision_keeps_the_version_it_was_sent_with() -> None:
    template = given(a_template())
    survey = sent_with(template)
    template.revise(ADMIN, T1, negative_threshold=4.5, questions=[WAIT])
    assert survey.template.version == 1
    assert survey.template.negative_threshold == 3.0
    assert [q.id for q in survey.template.questions] == ["care", "staff"]


def test_a_threshold_raised_after_sending_does_not_make_the_answer_negative() -> None:
    template = given(a_template())
    survey = sent_with(template)
    template.revise(ADMIN, T1, negative_threshold=4.5)
    survey.answer({"care": 3, "staff": 4}, None, T2)
    (answered,) = new_events(survey)
    assert answered.score == 3.5
    assert answered.is_negative is False
    assert answered.negative_threshold == 3.0


def test_a_survey_sent_after_a_revision_is_judged_with_the_new_threshold() -> None:
    template = given(a_template(), lambda t: t.revise(ADMIN, T1, negative_threshold=4.5))
    survey = sent_with(template)
    survey.answer({"care": 3, "staff": 4}, None, T2)
    (answered,) = new_events(survey)
    assert answered.is_negative is True
    assert answered.negative_threshold == 4.5


# -- languages ----------------------------------------------------------------------------


def test_the_patient_sees_their_language_where_every_question_has_it() -> None:
    content = a_template().current
    assert content.language_for("ar") == "ar"
    assert content.form("ar") == [
        ("care", "كيف كانت رعايتك؟"),
        ("staff", "ما مدى مساعدة الموظفين؟"),
    ]


def test_a_language_the_template_lacks_falls_back_to_the_default() -> None:
    content = a_template().current
    assert content.language_for("fr") == "en"
    assert content.language_for(None) == "en"
    assert content.form(content.language_for("fr")) == [
        ("care", "How was your care?"),
        ("staff", "How helpful was the staff?"),
    ]


def test_a_language_only_some_questions_have_falls_back_to_the_default_for_the_form() -> None:
    content = a_template(questions=[CARE, WAIT]).current
    assert content.language_for("ar") == "en"
    # Asked for directly, each question without a text falls back on its own.
    assert content.form("ar") == [("care", "كيف كانت رعايتك؟"), ("wait", "How long did you wait?")]


def test_a_template_in_arabic_by_default_serves_arabic_to_a_patient_without_a_language() -> None:
    arabic = Question("care", "كيف كانت رعايتك؟", {"en": "How was your care?"})
    content = a_template(default_language="ar", questions=[arabic]).current
    assert content.language_for(None) == "ar"
    assert content.language_for("en") == "en"
    assert content.language_for("fr") == "ar"
