"""A survey sent to one patient, and the follow-up of its answer when it is negative.

The survey keeps the template version it was sent with; whether it is negative is
decided once, when the answers arrive, with that version's threshold, and stored on the
event. A negative survey's loop: staff log contact with the patient (one or more
contacts), send a satisfaction check (at most one open at a time), and close or escalate.

The free text is the patient's personal text (docs/privacy.md): their comment, staff's
contact notes about them and the reason an escalation gives are validated as plain text,
then sealed with the patient's key (`PersonalText`, `text` None once they are erased).
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from domain.privacy.personal import PersonalText, personal
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.errors import InvalidInputError
from domain.shared.payloads import payload
from domain.surveys.errors import InvalidAnswersError, LinkGoneError, SurveyStateError
from domain.surveys.template import SCALE_MAX, SCALE_MIN, TemplateVersion

NOTES_MAX = 5000
COMMENT_MAX = 5000
REASON_MAX = 2000
# A satisfaction answer at or below this flags the loop for escalation (staff decide).
ESCALATION_RATING = 2


class SurveyStatus(StrEnum):
    SENT = "sent"
    ANSWERED = "answered"
    CONTACTED = "contacted"
    FEEDBACK_SENT = "feedback_sent"
    CLOSED = "closed"
    ESCALATED = "escalated"


class ContactOutcome(StrEnum):
    RESOLVED = "resolved"
    EXPLAINED = "explained"
    UNRESOLVED = "unresolved"


@payload("survey_contact")
@dataclass(frozen=True)
class Contact:
    """Staff contact with the patient about a negative survey."""

    by: uuid.UUID
    at: datetime
    notes: PersonalText
    outcome: str


@payload("survey_escalation")
@dataclass(frozen=True)
class Escalation:
    by: uuid.UUID
    at: datetime
    reason: PersonalText
    feedback_id: uuid.UUID


def required_text(field: str, value: str, limit: int) -> str:
    if not value.strip():
        raise InvalidInputError(
            f"`{field}` is required.", errors=[{"field": field, "message": "must not be blank"}]
        )
    if len(value) > limit:
        raise InvalidInputError(
            f"`{field}` is too long.", errors=[{"field": field, "message": f"at most {limit}"}]
        )
    return value


class SurveyInstance(CareLoopAggregate):
    class Sent(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        sent_by: uuid.UUID
        template: TemplateVersion
        language: str
        link_id: uuid.UUID
        expires_at: datetime

    class Answered(CareLoopAggregate.Event):
        patient_id: uuid.UUID
        answers: dict[str, int]
        comment: PersonalText | None
        score: float
        is_negative: bool
        negative_threshold: float

    class PatientContacted(CareLoopAggregate.Event):
        """Audit action `survey_patient_contacted`."""

        contact: Contact

    class SatisfactionFeedbackSent(CareLoopAggregate.Event):
        """Audit action `satisfaction_feedback_sent`."""

        feedback_id: uuid.UUID
        sent_by: uuid.UUID

    class SatisfactionAnswered(CareLoopAggregate.Event):
        feedback_id: uuid.UUID
        rating: int
        flagged_for_escalation: bool

    class SatisfactionExpired(CareLoopAggregate.Event):
        """The open check expired unanswered: the survey needs action again."""

        feedback_id: uuid.UUID

    class Closed(CareLoopAggregate.Event):
        feedback_id: uuid.UUID
        closed_by: uuid.UUID

    class Escalated(CareLoopAggregate.Event):
        escalation: Escalation

    @event(Sent)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        sent_by: uuid.UUID,
        template: TemplateVersion,
        language: str,
        link_id: uuid.UUID,
        expires_at: datetime,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.template = template
        self.language = language
        self.link_id = link_id
        self.expires_at = expires_at
        self.status = SurveyStatus.SENT
        self.score: float | None = None
        self.is_negative = False
        self.answered_at: datetime | None = None
        self.contacts: list[Contact] = []
        self.follow_up_feedbacks: list[uuid.UUID] = []
        self.open_check: uuid.UUID | None = None
        self.escalation: Escalation | None = None
        self.flagged_for_escalation = False

    @classmethod
    def send(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        sent_by: uuid.UUID,
        template: TemplateVersion,
        language: str,
        link_id: uuid.UUID,
        expires_at: datetime,
        at: datetime,
    ) -> SurveyInstance:
        return cls(
            id=id,
            tenant_id=tenant_id,
            patient_id=patient_id,
            sent_by=sent_by,
            template=template,
            language=language,
            link_id=link_id,
            expires_at=expires_at,
            timestamp=at,
        )

    # -- queries ------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.status is SurveyStatus.CLOSED

    @property
    def needs_action(self) -> bool:
        """Negative, not closed, and not waiting for the patient's satisfaction answer."""
        return self.is_negative and not self.is_closed and self.open_check is None

    # -- the patient answers ------------------------------------------------------------

    def answer(self, answers: Mapping[str, Any], comment: str | None, at: datetime) -> None:
        """Every question of the version sent answered with an integer 1-5 (422 names
        each missing, unknown or out-of-range answer); the score is their mean."""
        if self.status is not SurveyStatus.SENT:
            raise LinkGoneError("This survey was answered already.", reason="used")
        expected = [q.id for q in self.template.questions]
        errors = [
            {"field": f"answers.{qid}", "message": "required"}
            for qid in expected
            if qid not in answers
        ]
        errors += [
            {"field": f"answers.{qid}", "message": "not a question of this survey"}
            for qid in answers
            if qid not in expected
        ]
        for qid, value in answers.items():
            ok = isinstance(value, int) and not isinstance(value, bool)
            if qid in expected and not (ok and SCALE_MIN <= value <= SCALE_MAX):
                errors.append(
                    {"field": f"answers.{qid}", "message": f"an integer {SCALE_MIN}-{SCALE_MAX}"}
                )
        if comment is not None and len(comment) > COMMENT_MAX:
            errors.append({"field": "comment", "message": f"at most {COMMENT_MAX} characters"})
        if errors:
            raise InvalidAnswersError("The answers are not complete or not valid.", errors=errors)
        ordered = {qid: int(answers[qid]) for qid in expected}
        score = statistics.fmean(ordered.values())
        self._answered(
            patient_id=self.patient_id,
            answers=ordered,
            comment=personal(self.patient_id, comment if comment and comment.strip() else None),
            score=score,
            is_negative=self.template.is_negative(score),
            negative_threshold=self.template.negative_threshold,
            timestamp=at,
        )

    @event(Answered)
    def _answered(
        self,
        patient_id: uuid.UUID,
        answers: dict[str, int],
        comment: PersonalText | None,
        score: float,
        is_negative: bool,
        negative_threshold: float,
        timestamp: datetime,
    ) -> None:
        self.status = SurveyStatus.ANSWERED
        self.score = score
        self.is_negative = is_negative
        self.answered_at = timestamp

    # -- staff follow up ----------------------------------------------------------------

    def _require_open_negative(self, action: str) -> None:
        if not self.is_negative:
            raise SurveyStateError(f"Only a negative survey has {action}.")
        if self.is_closed:
            raise SurveyStateError(f"This survey's loop is closed: it has no {action} now.")

    def log_contact(self, by: uuid.UUID, notes: str, outcome: str, at: datetime) -> Contact:
        """Appends a contact (every contact stays in the history); 422 for blank notes or
        an unknown outcome, 409 unless the survey is negative and its loop open."""
        required_text("contactNotes", notes, NOTES_MAX)
        try:
            kind = ContactOutcome(outcome)
        except ValueError:
            raise InvalidInputError(
                "Unknown outcome.",
                errors=[{"field": "outcome", "message": "resolved, explained or unresolved"}],
            ) from None
        self._require_open_negative("contact to log")
        contact = Contact(
            by=by, at=at, notes=PersonalText(self.patient_id, notes), outcome=kind.value
        )
        self._contacted(contact=contact, timestamp=at)
        return contact

    @event(PatientContacted)
    def _contacted(self, contact: Contact, timestamp: datetime) -> None:
        self.contacts.append(contact)
        if self.status is SurveyStatus.ANSWERED:
            self.status = SurveyStatus.CONTACTED

    def check_to_send(self) -> uuid.UUID | None:
        """The open check a new send returns again, or None when a new one may be sent;
        409 before any contact, or once the loop is closed."""
        self._require_open_negative("a satisfaction check to send")
        if not self.contacts:
            raise SurveyStateError("Log contact with the patient before sending a check.")
        return self.open_check

    def satisfaction_sent(self, feedback_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None:
        if self.check_to_send() is not None:
            raise SurveyStateError("A satisfaction check is open already.")
        self._feedback_sent(feedback_id=feedback_id, sent_by=by, timestamp=at)

    @event(SatisfactionFeedbackSent)
    def _feedback_sent(
        self, feedback_id: uuid.UUID, sent_by: uuid.UUID, timestamp: datetime
    ) -> None:
        self.follow_up_feedbacks.append(feedback_id)
        self.open_check = feedback_id
        self.flagged_for_escalation = False
        self.status = SurveyStatus.FEEDBACK_SENT

    def satisfaction_answered(self, feedback_id: uuid.UUID, rating: int, at: datetime) -> None:
        if self.open_check != feedback_id:
            return
        self._satisfaction_answered(
            feedback_id=feedback_id,
            rating=rating,
            flagged_for_escalation=rating <= ESCALATION_RATING,
            timestamp=at,
        )

    @event(SatisfactionAnswered)
    def _satisfaction_answered(
        self, feedback_id: uuid.UUID, rating: int, flagged_for_escalation: bool, timestamp: datetime
    ) -> None:
        self.open_check = None
        self.flagged_for_escalation = flagged_for_escalation

    def satisfaction_expired(self, feedback_id: uuid.UUID, at: datetime) -> None:
        """The open check expired unanswered: the survey needs action again (a no-op for
        any other check, or a closed loop)."""
        if self.open_check != feedback_id or self.is_closed:
            return
        self._satisfaction_expired(feedback_id=feedback_id, timestamp=at)

    @event(SatisfactionExpired)
    def _satisfaction_expired(self, feedback_id: uuid.UUID, timestamp: datetime) -> None:
        self.open_check = None
        if self.status is SurveyStatus.FEEDBACK_SENT:
            self.status = SurveyStatus.CONTACTED

    def close(self, feedback_id: uuid.UUID, by: uuid.UUID, at: datetime) -> bool:
        """Closes the loop (whether or not the patient answered); False if closed already."""
        if self.is_closed:
            return False
        self._closed(feedback_id=feedback_id, closed_by=by, timestamp=at)
        return True

    @event(Closed)
    def _closed(self, feedback_id: uuid.UUID, closed_by: uuid.UUID, timestamp: datetime) -> None:
        self.status = SurveyStatus.CLOSED
        self.open_check = None

    def escalate(
        self, feedback_id: uuid.UUID, by: uuid.UUID, reason: str, at: datetime
    ) -> Escalation:
        required_text("reason", reason, REASON_MAX)
        if self.is_closed:
            raise SurveyStateError("This survey's loop is closed; it cannot be escalated.")
        escalation = Escalation(
            by=by, at=at, reason=PersonalText(self.patient_id, reason), feedback_id=feedback_id
        )
        self._escalated(escalation=escalation, timestamp=at)
        return escalation

    @event(Escalated)
    def _escalated(self, escalation: Escalation, timestamp: datetime) -> None:
        self.escalation = escalation
        self.status = SurveyStatus.ESCALATED
        if self.open_check == escalation.feedback_id:
            self.open_check = None
