"""A feedback record linked to a survey: the SATISFACTION_CHECK sent after staff
contacted the patient about a negative survey.

Its timer is a durable deadline of kind `satisfaction_check`: first the reminder (one,
`reminder_days` after sending), then the expiry (with its link). Answering, closing or
escalating clears it, so no reminder follows an answer.

The patient's comment and the reason staff give for escalating are the patient's
personal text, sealed with their key (domain/surveys/survey.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import event

from domain.privacy.personal import PersonalText, personal
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.deadlines import Deadline, SetsDeadline
from domain.surveys.errors import InvalidAnswersError, LinkGoneError, SurveyStateError
from domain.surveys.survey import COMMENT_MAX, ESCALATION_RATING, REASON_MAX, required_text
from domain.surveys.template import SCALE_MAX, SCALE_MIN

SATISFACTION_CHECK = "satisfaction_check"

_NAMESPACE = uuid.UUID("9e2d4b61-7c3a-4f58-b1e0-2a6c8d9f4e17")


class FeedbackType(StrEnum):
    SATISFACTION_CHECK = "SATISFACTION_CHECK"


class FeedbackStatus(StrEnum):
    OPEN = "open"  # sent, waiting for the patient
    ANSWERED = "answered"
    EXPIRED = "expired"
    CLOSED = "closed"
    ESCALATED = "escalated"


def delivery_id(record_id: uuid.UUID, what: str) -> uuid.UUID:
    """The id of one message a record sends (`invite:email`, `reminder:push`, ...):
    derived, so a retried decision can only send it once."""
    return uuid.uuid5(_NAMESPACE, f"{record_id}:{what}")


class _Timer(SetsDeadline):
    deadline_kind = SATISFACTION_CHECK

    def next_deadline(self) -> Deadline | None:
        due: datetime = self.deadline  # type: ignore[attr-defined]
        return Deadline(
            SATISFACTION_CHECK,
            self.originator_id,  # type: ignore[attr-defined]
            due,
            getattr(self, "tenant_id", None),
        )


class _Settles(SetsDeadline):
    deadline_kind = SATISFACTION_CHECK


class Feedback(CareLoopAggregate):
    class Sent(CareLoopAggregate.Created, _Timer):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        feedback_type: str
        related_survey_id: uuid.UUID
        sent_by: uuid.UUID
        link_id: uuid.UUID
        expires_at: datetime
        deadline: datetime  # the reminder's time, or the expiry when no reminder fits

    class ReminderDue(CareLoopAggregate.Event, _Timer):
        """The patient has not answered: one reminder goes out; the next deadline is the
        expiry."""

        deadline: datetime

    class Expired(CareLoopAggregate.Event, _Settles):
        pass

    class Answered(CareLoopAggregate.Event, _Settles):
        rating: int
        comment: PersonalText | None
        flagged_for_escalation: bool

    class Closed(CareLoopAggregate.Event, _Settles):
        closed_by: uuid.UUID

    class Escalated(CareLoopAggregate.Event, _Settles):
        escalated_by: uuid.UUID
        reason: PersonalText

    @event(Sent)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        feedback_type: str,
        related_survey_id: uuid.UUID,
        sent_by: uuid.UUID,
        link_id: uuid.UUID,
        expires_at: datetime,
        deadline: datetime,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.feedback_type = FeedbackType(feedback_type)
        self.related_survey_id = related_survey_id
        self.link_id = link_id
        self.expires_at = expires_at
        self.deadline: datetime | None = deadline
        self.reminded = False
        self.status = FeedbackStatus.OPEN
        self.rating: int | None = None

    @classmethod
    def satisfaction_check(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        survey_id: uuid.UUID,
        sent_by: uuid.UUID,
        link_id: uuid.UUID,
        expires_at: datetime,
        remind_at: datetime,
        at: datetime,
    ) -> Feedback:
        return cls(
            id=id,
            tenant_id=tenant_id,
            patient_id=patient_id,
            feedback_type=FeedbackType.SATISFACTION_CHECK.value,
            related_survey_id=survey_id,
            sent_by=sent_by,
            link_id=link_id,
            expires_at=expires_at,
            # A reminder due no earlier than the expiry would never be sent.
            deadline=min(remind_at, expires_at),
            timestamp=at,
        )

    @property
    def is_open(self) -> bool:
        return self.status is FeedbackStatus.OPEN

    @property
    def is_settled(self) -> bool:
        return self.status in (FeedbackStatus.CLOSED, FeedbackStatus.ESCALATED)

    # -- the timer ----------------------------------------------------------------------

    def elapse(self, scheduled_for: datetime, at: datetime) -> None:
        """The reminder, then the expiry: each only when this wake-up's deadline is still
        the check's, it has passed, and the patient has not answered."""
        if not self.is_open or self.deadline != scheduled_for or at < scheduled_for:
            return
        if not self.reminded and at < self.expires_at:
            self._reminder_due(deadline=self.expires_at, timestamp=at)
        else:
            self._expired(timestamp=at)

    @event(ReminderDue)
    def _reminder_due(self, deadline: datetime, timestamp: datetime) -> None:
        self.reminded = True
        self.deadline = deadline

    @event(Expired)
    def _expired(self, timestamp: datetime) -> None:
        self.status = FeedbackStatus.EXPIRED
        self.deadline = None

    # -- the patient answers ------------------------------------------------------------

    def answer(self, rating: object, comment: str | None, at: datetime) -> bool:
        """Records the rating (an integer 1-5, else 422); 410 unless the check is open.
        Returns whether it flags the loop for escalation."""
        if not self.is_open:
            raise LinkGoneError("This satisfaction check is no longer open.", reason="used")
        ok = isinstance(rating, int) and not isinstance(rating, bool)
        errors = []
        if not (ok and SCALE_MIN <= rating <= SCALE_MAX):  # type: ignore[operator]
            errors.append({"field": "rating", "message": f"an integer {SCALE_MIN}-{SCALE_MAX}"})
        if comment is not None and len(comment) > COMMENT_MAX:
            errors.append({"field": "comment", "message": f"at most {COMMENT_MAX} characters"})
        if errors:
            raise InvalidAnswersError("The answer is not valid.", errors=errors)
        assert isinstance(rating, int)
        flagged = rating <= ESCALATION_RATING
        self._answered(
            rating=rating,
            comment=personal(self.patient_id, comment if comment and comment.strip() else None),
            flagged_for_escalation=flagged,
            timestamp=at,
        )
        return flagged

    @event(Answered)
    def _answered(
        self,
        rating: int,
        comment: PersonalText | None,
        flagged_for_escalation: bool,
        timestamp: datetime,
    ) -> None:
        self.status = FeedbackStatus.ANSWERED
        self.rating = rating
        self.deadline = None

    # -- staff decide -------------------------------------------------------------------

    def close(self, by: uuid.UUID, at: datetime) -> bool:
        """Closes the record (answered or not); False when it was closed already."""
        if self.status is FeedbackStatus.CLOSED:
            return False
        self._closed(closed_by=by, timestamp=at)
        return True

    @event(Closed)
    def _closed(self, closed_by: uuid.UUID, timestamp: datetime) -> None:
        self.status = FeedbackStatus.CLOSED
        self.deadline = None

    def escalate(self, by: uuid.UUID, reason: str, at: datetime) -> None:
        required_text("reason", reason, REASON_MAX)
        if self.status is FeedbackStatus.CLOSED:
            raise SurveyStateError("This feedback is closed; it cannot be escalated.")
        self._escalated(escalated_by=by, reason=PersonalText(self.patient_id, reason), timestamp=at)

    @event(Escalated)
    def _escalated(
        self, escalated_by: uuid.UUID, reason: PersonalText, timestamp: datetime
    ) -> None:
        self.status = FeedbackStatus.ESCALATED
        self.deadline = None
