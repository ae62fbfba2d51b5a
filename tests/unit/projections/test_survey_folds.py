"""The survey read models as pure folds, without a database: given the events of a survey
loop (made by the aggregates themselves), then the rows staff, the patient's public form
and the stats see."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest

from domain.notifications.application import PUSH
from domain.outbox.delivery import Delivery
from domain.privacy.personal import PersonalText
from domain.surveys.feedback import Feedback
from domain.surveys.link import LinkKeys, LinkPurpose, OneTimeLink
from domain.surveys.messages import LINK, SATISFACTION_QUESTION
from domain.surveys.survey import SurveyInstance
from domain.surveys.template import Question, SurveyTemplate, TemplateVersion
from projections.deadlines.evolve import sort_key
from projections.notifications.evolve import evolve as evolve_notification
from projections.platform.store import Doc
from projections.surveys.evolve import (
    ACTION_REQUIRED,
    KEY,
    check_form,
    check_settled,
    evolve_feedback,
    evolve_link,
    evolve_survey,
    evolve_template,
    listing_rows,
    needs_action_row,
    newest_first,
    public,
    stats_row,
    summarize,
    survey_card,
    survey_form,
    with_card,
    with_follow_up,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
EXPIRES = T0 + 30 * DAY
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PX_ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SURVEY = uuid.UUID("00000000-0000-4000-a000-00000000f001")
TEMPLATE = uuid.UUID("00000000-0000-4000-a000-00000000a001")
CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc001")
SECOND_CHECK = uuid.UUID("00000000-0000-4000-a000-0000000fc002")
KEYS = LinkKeys(b"k" * 32)

QUESTIONS = (
    Question("care", "How was your care?", {"ar": "كيف كانت رعايتك؟"}),
    Question("staff", "How helpful was the staff?"),
)
VERSION = TemplateVersion(TEMPLATE, 2, "Visit", 3.0, "en", QUESTIONS)


def mine(text: str) -> PersonalText:
    """Free text of the loop's patient, as the rows hold it: sealed with their key."""
    return PersonalText(PATIENT, text)


def at(days: float) -> datetime:
    return T0 + days * DAY


def pure(fold: Callable[..., Doc | None]) -> Callable[..., Doc | None]:
    """`fold`, checked not to change the rows it is given."""

    def checked(row: Doc | None, event: Any, *more: Any) -> Doc | None:
        before = copy.deepcopy((row, more))
        after = fold(row, event, *more)
        assert (row, more) == before, "a fold must not change the rows it was given"
        return after

    return checked


@dataclass
class Loop:
    """One survey's aggregates, and its rows folded the way the projection folds them: a
    check's event folds into the check's row, then into the survey's follow-up entry."""

    language: str = "en"
    survey: SurveyInstance = field(init=False)
    checks: dict[uuid.UUID, Feedback] = field(default_factory=dict)
    row: Doc | None = None
    feedback: dict[str, Doc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.survey = SurveyInstance.send(
            SURVEY, TENANT, PATIENT, ADMIN, VERSION, self.language, uuid.uuid4(), EXPIRES, T0
        )
        self.fold()

    def fold(self) -> Loop:
        events = [*self.survey.collect_events()]
        for check in self.checks.values():
            events += check.collect_events()
        for event in sorted(events, key=lambda e: e.timestamp):
            if isinstance(event, Feedback.Event):
                key = str(event.originator_id)
                row = pure(evolve_feedback)(self.feedback.get(key), event, self.row)
                assert row is not None and self.row is not None
                self.feedback[key] = row
                self.row = with_follow_up(self.row, row)
            else:
                self.row = pure(evolve_survey)(self.row, event)
        return self

    @property
    def doc(self) -> Doc:
        assert self.row is not None
        return self.row

    def answer(self, *scores: int, days: float = 1, comment: str | None = None) -> Loop:
        self.survey.answer(dict(zip(("care", "staff"), scores, strict=True)), comment, at(days))
        return self.fold()

    def contact(self, days: float = 2, notes: str = "Called.", outcome: str = "resolved") -> Loop:
        self.survey.log_contact(ADMIN, notes, outcome, at(days))
        return self.fold()

    def send_check(self, check_id: uuid.UUID = CHECK, days: float = 3) -> Loop:
        expires, remind_at = at(days + 30), at(days + 3)
        self.checks[check_id] = Feedback.satisfaction_check(
            check_id, TENANT, PATIENT, SURVEY, PX_ADMIN, uuid.uuid4(), expires, remind_at, at(days)
        )
        self.survey.satisfaction_sent(check_id, PX_ADMIN, at(days))
        return self.fold()

    def rate(self, rating: int, check_id: uuid.UUID = CHECK, days: float = 4) -> Loop:
        self.checks[check_id].answer(rating, "Better now.", at(days))
        self.survey.satisfaction_answered(check_id, rating, at(days))
        return self.fold()

    def expire(self, check_id: uuid.UUID = CHECK) -> Loop:
        check = self.checks[check_id]
        for _ in range(2):  # the reminder, then the expiry
            assert check.deadline is not None
            check.elapse(check.deadline, check.deadline)
        self.fold()
        self.survey.satisfaction_expired(check_id, check.expires_at + timedelta(minutes=1))
        return self.fold()

    def close(self, check_id: uuid.UUID = CHECK, days: float = 5) -> Loop:
        self.checks[check_id].close(ADMIN, at(days))
        self.survey.close(check_id, ADMIN, at(days))
        return self.fold()

    def escalate(self, check_id: uuid.UUID = CHECK, days: float = 5) -> Loop:
        self.checks[check_id].escalate(ADMIN, "Wants the manager.", at(days))
        self.survey.escalate(check_id, ADMIN, "Wants the manager.", at(days))
        return self.fold()


def level(doc: Doc) -> str | None:
    """The warning's level, or None without a warning."""
    return None if doc["warning"] is None else doc["warning"]["level"]


# -- templates ------------------------------------------------------------------------------


def test_a_created_template_is_a_row_with_its_questions_and_translations() -> None:
    template = SurveyTemplate.create(TEMPLATE, TENANT, ADMIN, "Visit", QUESTIONS, T0, 2.5, "en")
    row = reduce(pure(evolve_template), template.collect_events(), None)
    assert row == {
        "id": str(TEMPLATE),
        "tenantId": str(TENANT),
        "name": "Visit",
        "version": 1,
        "negativeThreshold": 2.5,
        "defaultLanguage": "en",
        "questions": [
            {
                "id": "care",
                "text": "How was your care?",
                "translations": {"ar": "كيف كانت رعايتك؟"},
            },
            {"id": "staff", "text": "How helpful was the staff?", "translations": {}},
        ],
        "createdAt": T0.isoformat(),
        "updatedAt": T0.isoformat(),
    }


def test_a_revised_template_shows_its_latest_version_and_keeps_its_creation_time() -> None:
    template = SurveyTemplate.create(TEMPLATE, TENANT, ADMIN, "Visit", QUESTIONS, T0)
    template.revise(ADMIN, at(1), name="Clinic visit", negative_threshold=3.5)
    row = reduce(pure(evolve_template), template.collect_events(), None)
    assert row is not None
    assert (row["name"], row["version"], row["negativeThreshold"]) == ("Clinic visit", 2, 3.5)
    assert (row["createdAt"], row["updatedAt"]) == (T0.isoformat(), at(1).isoformat())


# -- a survey through its loop ---------------------------------------------------------------


def test_a_sent_survey_shows_the_version_it_was_sent_with_and_no_answer() -> None:
    doc = Loop().doc
    assert public(doc) == {
        "id": str(SURVEY),
        "tenantId": str(TENANT),
        "templateId": str(TEMPLATE),
        "templateVersion": 2,
        "templateName": "Visit",
        "questions": [
            {"id": "care", "text": "How was your care?"},
            {"id": "staff", "text": "How helpful was the staff?"},
        ],
        "patientId": str(PATIENT),
        "sentBy": str(ADMIN),
        "sentAt": T0.isoformat(),
        "expiresAt": EXPIRES.isoformat(),
        "language": "en",
        "status": "sent",
        "score": None,
        "isNegative": False,
        "negativeThreshold": 3.0,
        "answeredAt": None,
        "answers": None,
        "comment": None,
        "contacts": [],
        "followUpFeedbacks": [],
        "openFeedbackId": None,
        "flaggedForEscalation": False,
        "escalation": None,
        "closedAt": None,
        "closedBy": None,
        "needsAction": False,
        "contactSummary": None,
        "warning": None,
    }


def test_a_negative_answer_needs_action_and_warns_to_contact_the_patient() -> None:
    doc = Loop().answer(1, 2, comment="Long wait.").doc
    assert (doc["status"], doc["score"], doc["isNegative"]) == ("answered", 1.5, True)
    assert (doc["answers"], doc["comment"]) == ({"care": 1, "staff": 2}, mine("Long wait."))
    assert doc["answeredAt"] == at(1).isoformat()
    assert doc["needsAction"] is True
    assert doc["warning"] == {"level": "action_required", "message": ACTION_REQUIRED}


def test_a_positive_answer_needs_no_action_and_warns_of_nothing() -> None:
    doc = Loop().answer(4, 5).doc
    assert (doc["status"], doc["isNegative"], doc["needsAction"], doc["warning"]) == (
        "answered",
        False,
        False,
        None,
    )


def test_a_logged_contact_is_summarised_and_the_warning_moves_on_to_the_check() -> None:
    doc = Loop().answer(1, 2).contact(notes="Called; apologised.", outcome="explained").doc
    contact = {
        "by": str(ADMIN),
        "at": at(2).isoformat(),
        "notes": mine("Called; apologised."),
        "outcome": "explained",
    }
    assert doc["status"] == "contacted"
    assert doc["contacts"] == [contact]
    assert doc["contactSummary"] == {**contact, "count": 1}
    assert doc["needsAction"] is True
    assert level(doc) == "send_check"
    assert doc["warning"]["message"] != ACTION_REQUIRED


def test_a_second_contact_keeps_the_first_in_the_history_and_summarises_the_latest() -> None:
    doc = Loop().answer(1, 2).contact(2, "First call.").contact(3, "Second call.").doc
    assert [c["notes"].text for c in doc["contacts"]] == ["First call.", "Second call."]
    assert doc["contactSummary"]["notes"] == mine("Second call.")
    assert doc["contactSummary"]["count"] == 2


def test_a_sent_check_waits_for_the_patient_out_of_needs_action() -> None:
    loop = Loop().answer(1, 2).contact().send_check()
    doc = loop.doc
    assert (doc["status"], doc["openFeedbackId"], doc["needsAction"], doc["warning"]) == (
        "feedback_sent",
        str(CHECK),
        False,
        None,
    )
    entry = {"id": str(CHECK), "status": "open", "sentAt": at(3).isoformat()}
    assert doc["followUpFeedbacks"] == [{**entry, "rating": None, "answeredAt": None}]
    assert needs_action_row(doc) is None


def test_an_expired_check_returns_the_survey_to_needs_action_with_its_own_warning() -> None:
    doc = Loop().answer(1, 2).contact().send_check().expire().doc
    assert (doc["status"], doc["openFeedbackId"], doc["needsAction"]) == ("contacted", None, True)
    assert doc["followUpFeedbacks"][0]["status"] == "expired"
    assert level(doc) == "check_expired"


def test_a_rating_of_one_or_two_flags_the_survey_for_escalation() -> None:
    doc = Loop().answer(1, 2).contact().send_check().rate(2).doc
    assert (doc["flaggedForEscalation"], doc["needsAction"]) == (True, True)
    entry = {"id": str(CHECK), "status": "answered", "sentAt": at(3).isoformat()}
    assert doc["followUpFeedbacks"] == [{**entry, "rating": 2, "answeredAt": at(4).isoformat()}]
    assert level(doc) == "flagged_for_escalation"
    assert "flagged for escalation" in doc["warning"]["message"].lower()


def test_a_satisfied_rating_awaits_the_staffs_decision() -> None:
    loop = Loop().answer(1, 2).contact().send_check().rate(5)
    assert (loop.doc["flaggedForEscalation"], loop.doc["needsAction"]) == (False, True)
    assert level(loop.doc) == "awaiting_decision"
    assert "5/5" in loop.doc["warning"]["message"]


def test_a_new_check_after_a_flagged_answer_is_a_second_follow_up_and_clears_the_flag() -> None:
    loop = Loop().answer(1, 2).contact().send_check().rate(1, days=4)
    loop.send_check(SECOND_CHECK, days=6)
    doc = loop.doc
    assert [e["id"] for e in doc["followUpFeedbacks"]] == [str(CHECK), str(SECOND_CHECK)]
    assert (doc["openFeedbackId"], doc["flaggedForEscalation"]) == (str(SECOND_CHECK), False)


def test_closing_ends_the_loop_and_the_survey_leaves_needs_action() -> None:
    doc = Loop().answer(1, 2).contact().send_check().close().doc
    assert (doc["status"], doc["needsAction"], doc["warning"]) == ("closed", False, None)
    assert (doc["closedAt"], doc["closedBy"]) == (at(5).isoformat(), str(ADMIN))
    assert doc["followUpFeedbacks"][0]["status"] == "closed"
    assert needs_action_row(doc) is None


def test_an_escalated_survey_stays_in_needs_action_with_its_escalation() -> None:
    doc = Loop().answer(1, 2).contact().send_check().rate(1).escalate().doc
    assert (doc["status"], doc["needsAction"]) == ("escalated", True)
    assert doc["escalation"] == {
        "by": str(ADMIN),
        "at": at(5).isoformat(),
        "reason": mine("Wants the manager."),
        "feedbackId": str(CHECK),
    }
    assert level(doc) == "escalated"
    assert needs_action_row(doc) is not None


def test_an_event_without_its_sent_event_makes_no_survey_row() -> None:
    loop = Loop()
    loop.survey.answer({"care": 1, "staff": 1}, None, at(1))
    assert evolve_survey(None, loop.survey.collect_events()[0]) is None


# -- the rows of the sorted tables -----------------------------------------------------------


def test_newest_first_keys_sort_later_times_first() -> None:
    times = [at(0), at(0.5), at(1), at(400), datetime(2031, 7, 1, tzinfo=UTC)]
    keys = [newest_first(t) for t in times]
    assert sorted(keys) == list(reversed(keys))
    assert len({len(k) for k in keys}) == 1


def test_a_survey_is_listed_by_status_by_negativity_and_by_both_newest_first() -> None:
    doc = Loop().answer(1, 2).contact().doc
    rows = listing_rows(doc)
    newest = newest_first(T0)
    assert {k: r[KEY] for k, r in rows.items()} == {
        f"{SURVEY}|s": f"{TENANT}|s|contacted|{newest}|{SURVEY}",
        f"{SURVEY}|n": f"{TENANT}|n|y|{newest}|{SURVEY}",
        f"{SURVEY}|ns": f"{TENANT}|ns|y|contacted|{newest}|{SURVEY}",
    }
    assert all(public(r) == public(doc) for r in rows.values())


def test_an_unanswered_survey_is_listed_as_not_negative() -> None:
    rows = listing_rows(Loop().doc)
    assert rows[f"{SURVEY}|n"][KEY].startswith(f"{TENANT}|n|n|")


def test_the_needs_action_row_is_keyed_by_answer_time_oldest_first() -> None:
    doc = Loop().answer(1, 2, days=1.5).doc
    row = needs_action_row(doc)
    assert row is not None
    assert row[KEY] == f"{TENANT}|{sort_key(at(1.5))}|{SURVEY}"


def test_an_unanswered_survey_has_no_stats_row() -> None:
    assert stats_row(Loop().doc) is None


def test_the_stats_row_counts_contacts_checks_and_keeps_the_latest_rating() -> None:
    loop = Loop().answer(1, 2).contact(2).contact(3).send_check(days=3).rate(2, days=4)
    loop.send_check(SECOND_CHECK, days=6).rate(5, SECOND_CHECK, days=7)
    assert stats_row(loop.doc) == {
        "id": str(SURVEY),
        "tenantId": str(TENANT),
        "answeredAt": at(1).isoformat(),
        "isNegative": True,
        "contactCount": 2,
        "firstContactAt": at(2).isoformat(),
        "checksSent": 2,
        "checksAnswered": 2,
        "latestRating": 5,
        KEY: f"{TENANT}|{sort_key(at(1))}|{SURVEY}",
    }


def stats_of(loop: Loop) -> Doc:
    row = stats_row(loop.doc)
    assert row is not None
    return row


def test_stats_figures_over_a_small_known_set() -> None:
    rows = [
        stats_of(Loop().answer(5, 5)),  # positive
        stats_of(Loop().answer(1, 1)),  # negative, never contacted
        stats_of(Loop().answer(1, 2, days=1).contact(days=1.5).send_check(days=2).rate(4)),
        stats_of(Loop().answer(2, 2, days=1).contact(days=3.5).send_check(days=4).rate(2)),
        stats_of(Loop().answer(1, 2, days=1).contact(days=2).send_check(days=3)),
    ]
    assert summarize(rows, at(0), at(10)) == {
        "from": at(0).isoformat(),
        "to": at(10).isoformat(),
        "surveysAnswered": 5,
        "negativeSurveys": 4,
        "contacted": 3,
        "contactedShare": 0.75,
        "medianTimeToContactSeconds": 86_400.0,  # waits of 0.5, 1 and 2.5 days
        "checksSent": 3,
        "checksAnswered": 2,
        "satisfactionImprovementRate": 0.25,
    }


def test_stats_without_negative_surveys_have_no_shares() -> None:
    stats = summarize([stats_of(Loop().answer(4, 4))], None, None)
    assert (stats["from"], stats["to"], stats["surveysAnswered"]) == (None, None, 1)
    assert stats["contactedShare"] is None
    assert stats["satisfactionImprovementRate"] is None
    assert stats["medianTimeToContactSeconds"] is None


# -- satisfaction checks ---------------------------------------------------------------------


def test_a_sent_check_shows_the_question_in_the_surveys_language_and_its_survey_card() -> None:
    loop = Loop(language="ar").answer(1, 2).contact(notes="Called.").send_check()
    row = loop.feedback[str(CHECK)]
    assert row["type"] == "SATISFACTION_CHECK"
    assert (row["status"], row["language"], row["question"]) == (
        "open",
        "ar",
        SATISFACTION_QUESTION["ar"],
    )
    assert (row["relatedSurveyId"], row["sentBy"], row["sentAt"]) == (
        str(SURVEY),
        str(PX_ADMIN),
        at(3).isoformat(),
    )
    assert row["relatedSurvey"] == {
        "id": str(SURVEY),
        "name": "Visit",
        "score": 1.5,
        "isNegative": True,
        "completedAt": at(1).isoformat(),
        "patientContact": {
            "by": str(ADMIN),
            "at": at(2).isoformat(),
            "notes": mine("Called."),
            "outcome": "resolved",
        },
        "contactCount": 1,
        "link": f"/v1/surveys/{SURVEY}",
    }


def test_a_check_in_a_language_without_the_question_asks_in_english() -> None:
    loop = Loop(language="fr").answer(1, 2).contact().send_check()
    assert loop.feedback[str(CHECK)]["question"] == SATISFACTION_QUESTION["en"]


def test_a_later_contact_updates_the_card_of_the_surveys_check() -> None:
    loop = Loop().answer(1, 2).contact(notes="First.").send_check().expire()
    loop.contact(days=40, notes="Second.")
    feedback = with_card(loop.feedback[str(CHECK)], loop.doc)
    assert feedback["relatedSurvey"]["patientContact"]["notes"] == mine("Second.")
    assert feedback["relatedSurvey"]["contactCount"] == 2
    assert survey_card(loop.doc) == feedback["relatedSurvey"]


def test_a_check_records_its_reminder_then_its_expiry() -> None:
    loop = Loop().answer(1, 2).contact().send_check().expire()
    row = loop.feedback[str(CHECK)]
    assert (row["status"], row["remindedAt"]) == ("expired", at(6).isoformat())
    assert row["expiredAt"] == at(33).isoformat()


def test_an_answered_check_shows_the_rating_comment_and_flag() -> None:
    row = Loop().answer(1, 2).contact().send_check().rate(1).feedback[str(CHECK)]
    assert (row["status"], row["rating"], row["comment"], row["flaggedForEscalation"]) == (
        "answered",
        1,
        mine("Better now."),
        True,
    )
    assert row["answeredAt"] == at(4).isoformat()


def test_a_closed_check_shows_who_closed_it_and_when() -> None:
    row = Loop().answer(1, 2).contact().send_check().close().feedback[str(CHECK)]
    assert (row["status"], row["closedAt"], row["closedBy"]) == (
        "closed",
        at(5).isoformat(),
        str(ADMIN),
    )


def test_an_escalated_check_shows_its_escalation() -> None:
    row = Loop().answer(1, 2).contact().send_check().escalate().feedback[str(CHECK)]
    assert row["status"] == "escalated"
    assert row["escalation"] == {
        "by": str(ADMIN),
        "at": at(5).isoformat(),
        "reason": mine("Wants the manager."),
    }


# -- one-time links: the public forms --------------------------------------------------------


def issued(purpose: LinkPurpose, subject: uuid.UUID) -> tuple[OneTimeLink, str]:
    return OneTimeLink.issue(KEYS, b"n" * 16, TENANT, PATIENT, purpose, subject, EXPIRES, T0)


def test_an_issued_link_is_a_form_row_keyed_by_link_id_with_its_hash() -> None:
    link, _ = issued(LinkPurpose.SURVEY, SURVEY)
    row = reduce(pure(evolve_link), link.collect_events(), None)
    assert row == {
        "id": str(link.id),
        "tokenHash": link.token_hash,
        "tenantId": str(TENANT),
        "kind": "survey",
        "subjectId": str(SURVEY),
        "patientId": str(PATIENT),
        "expiresAt": EXPIRES.isoformat(),
        "usedAt": None,
        "open": True,
        "templateName": None,
        "language": None,
        "questions": None,
        "surveyName": None,
        "question": None,
    }


def test_a_survey_form_in_arabic_falls_back_per_question_to_the_default_text() -> None:
    link, _ = issued(LinkPurpose.SURVEY, SURVEY)
    row = evolve_link(None, link.collect_events()[0])
    sent = SurveyInstance.send(SURVEY, TENANT, PATIENT, ADMIN, VERSION, "ar", link.id, EXPIRES, T0)
    assert row is not None
    form = survey_form(row, sent.collect_events()[0])
    assert (form["templateName"], form["language"]) == ("Visit", "ar")
    assert form["questions"] == [
        {"id": "care", "text": "كيف كانت رعايتك؟"},
        {"id": "staff", "text": "How helpful was the staff?"},
    ]


def test_a_used_link_shows_when_and_takes_no_more_answers() -> None:
    link, token = issued(LinkPurpose.SURVEY, SURVEY)
    link.use(token, LinkPurpose.SURVEY, at(1))
    row = reduce(pure(evolve_link), link.collect_events(), None)
    assert row is not None
    assert (row["usedAt"], row["open"]) == (at(1).isoformat(), False)


def test_a_check_form_asks_the_satisfaction_question_about_the_named_survey() -> None:
    link, _ = issued(LinkPurpose.SATISFACTION_CHECK, CHECK)
    row = evolve_link(None, link.collect_events()[0])
    assert row is not None
    survey = Loop(language="ar").answer(1, 2).doc
    form = check_form(row, survey)
    assert (form["kind"], form["surveyName"], form["language"], form["question"]) == (
        "satisfaction_check",
        "Visit",
        "ar",
        SATISFACTION_QUESTION["ar"],
    )


@pytest.mark.parametrize(
    ("settle", "still_open"),
    [
        (lambda loop: loop, True),
        (lambda loop: loop.expire(), False),
        (lambda loop: loop.close(), False),
        (lambda loop: loop.escalate(), False),
    ],
)
def test_a_check_link_stays_open_only_while_its_check_is(
    settle: Callable[[Loop], Loop], still_open: bool
) -> None:
    link, _ = issued(LinkPurpose.SATISFACTION_CHECK, CHECK)
    row = evolve_link(None, link.collect_events()[0])
    assert row is not None
    loop = settle(Loop().answer(1, 2).contact().send_check())
    assert check_settled(row, loop.feedback[str(CHECK)])["open"] is still_open


# -- notifications -------------------------------------------------------------------------


def test_a_push_carrying_a_link_shows_no_url_placeholder_in_the_notifications() -> None:
    data = {"type": "SURVEY", "surveyId": str(SURVEY), "url": LINK}
    payload = {"title": "A short survey", "body": "Tap to answer.", "data": data}
    delivery = Delivery.queue(uuid.uuid4(), PUSH, TENANT, PATIENT, payload, T0)
    row = evolve_notification(None, delivery.collect_events()[0])
    assert row is not None
    assert row["data"] == {"type": "SURVEY", "surveyId": str(SURVEY)}
