"""Request and response bodies of the survey loop (spec: survey-feedback-integration):
templates, surveys, their follow-up, and the patient's public forms."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from api.schemas.people import CamelModel, CamelOut

# PostgreSQL cannot store U+0000 in JSONB, so a control character in any stored string
# would stop a read model at that event for good. Free text may keep tabs and newlines.
_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

# Blank names and texts, question ids and language codes are the domain's to judge (422
# naming the field); these keep out what no stored string may hold, and absurd sizes.
TemplateName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_CONTROLS)]
QuestionText = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=_TEXT)]
QuestionId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_CONTROLS)]
Language = Annotated[str, StringConstraints(min_length=2, max_length=35, pattern=_NO_CONTROLS)]
Threshold = Annotated[float, Field(strict=True, ge=1, le=5)]
Rating = Annotated[int, Field(strict=True, ge=1, le=5)]
Comment = Annotated[str, StringConstraints(max_length=5000, pattern=_TEXT)]
Notes = Annotated[str, StringConstraints(min_length=1, max_length=5000, pattern=_TEXT)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_TEXT)]

SurveyStatus = Literal["sent", "answered", "contacted", "feedback_sent", "closed", "escalated"]
Outcome = Literal["resolved", "explained", "unresolved"]
FeedbackStatus = Literal["open", "answered", "expired", "closed", "escalated"]


# -- templates -----------------------------------------------------------------------------


class QuestionIn(CamelModel):
    id: QuestionId
    text: QuestionText
    translations: dict[Language, QuestionText] = Field(default_factory=dict, max_length=50)


class NewTemplate(CamelModel):
    name: TemplateName
    negative_threshold: Threshold | None = None
    default_language: Language | None = None
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)


class TemplateRevision(CamelModel):
    """What changes in the next version; what is left out stays as it is."""

    name: TemplateName | None = None
    negative_threshold: Threshold | None = None
    default_language: Language | None = None
    questions: list[QuestionIn] | None = Field(default=None, min_length=1, max_length=50)


class TemplateSaved(CamelOut):
    id: uuid.UUID
    version: int
    position: int


class QuestionOut(CamelOut):
    id: str
    text: str
    translations: dict[str, str] = Field(default_factory=dict)


class TemplateOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    version: int
    negative_threshold: float
    default_language: str
    questions: list[QuestionOut]
    created_at: str
    updated_at: str


class FormQuestion(CamelOut):
    id: str
    text: str


# -- surveys -------------------------------------------------------------------------------


class NewSurvey(CamelModel):
    template_id: uuid.UUID
    patient_id: uuid.UUID


class SurveySent(CamelOut):
    survey_id: uuid.UUID
    token: str = Field(description="The one-time link's token; only its hash is stored.")
    expires_at: datetime
    position: int


class ContactOut(CamelOut):
    by: uuid.UUID
    at: str
    notes: str | None = Field(description="null (and `erased: true`) once the patient is erased")
    outcome: Outcome


class FollowUpFeedback(CamelOut):
    id: uuid.UUID
    status: FeedbackStatus
    sent_at: str | None
    rating: int | None
    answered_at: str | None


class EscalationOut(CamelOut):
    by: uuid.UUID
    at: str
    reason: str | None = Field(
        description="null (and `erased: true`) once the patient is erased: the reason is about them"
    )
    feedback_id: uuid.UUID | None = None


class Warning(CamelOut):
    level: Literal[
        "action_required",
        "escalated",
        "flagged_for_escalation",
        "check_expired",
        "awaiting_decision",
        "send_check",
    ]
    message: str


class ContactSummary(ContactOut):
    count: int = Field(description="How many contacts the survey has.")


class SurveyOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    template_name: str
    questions: list[FormQuestion] = Field(description="The questions of the version sent.")
    patient_id: uuid.UUID
    sent_by: uuid.UUID
    sent_at: str
    expires_at: str
    language: str
    status: SurveyStatus
    score: float | None = Field(description="The mean of the answers; null until answered.")
    is_negative: bool
    negative_threshold: float
    answered_at: str | None
    answers: dict[str, int] | None
    comment: str | None
    needs_action: bool
    warning: Warning | None = Field(description="What to do next, while action is due.")
    contacts: list[ContactOut]
    contact_summary: ContactSummary | None = Field(
        description="The latest contact (who, when, notes, outcome) and how many there are."
    )
    follow_up_feedbacks: list[FollowUpFeedback]
    open_feedback_id: uuid.UUID | None
    flagged_for_escalation: bool
    escalation: EscalationOut | None
    closed_at: str | None
    closed_by: uuid.UUID | None


class SurveyPage(CamelOut):
    items: list[SurveyOut]
    next_cursor: str | None = None


class SurveyStats(CamelOut):
    start: str | None = Field(alias="from")
    end: str | None = Field(alias="to")
    surveys_answered: int
    negative_surveys: int
    contacted: int
    contacted_share: float | None
    median_time_to_contact_seconds: float | None
    checks_sent: int
    checks_answered: int
    satisfaction_improvement_rate: float | None = Field(
        description="The share of negative surveys whose satisfaction check came back 4 or 5.",
    )


# -- follow-up -----------------------------------------------------------------------------


class NewContact(CamelModel):
    contact_notes: Notes
    outcome: Outcome


class ContactLogged(CamelOut):
    survey_id: uuid.UUID
    status: SurveyStatus
    contacts: int = Field(description="How many contacts the survey has now.")
    contact: ContactOut
    position: int


class CheckSent(CamelOut):
    feedback_id: uuid.UUID
    token: str = Field(description="The check's one-time link token; only its hash is stored.")
    expires_at: datetime
    created: bool = Field(description="False when the open check was returned again.")
    position: int


class RelatedSurvey(CamelOut):
    id: uuid.UUID
    name: str
    score: float | None
    is_negative: bool
    completed_at: str | None
    patient_contact: ContactOut | None = Field(description="The latest contact, if any.")
    contact_count: int
    link: str = Field(description="The survey's path in this API.")


class FeedbackOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID
    type: Literal["SATISFACTION_CHECK"]
    status: FeedbackStatus
    patient_id: uuid.UUID
    related_survey_id: uuid.UUID
    sent_by: uuid.UUID
    sent_at: str
    expires_at: str
    reminded_at: str | None
    expired_at: str | None
    answered_at: str | None
    rating: int | None
    comment: str | None
    flagged_for_escalation: bool
    closed_at: str | None
    closed_by: uuid.UUID | None
    escalation: EscalationOut | None
    language: str
    question: str
    related_survey: RelatedSurvey | None


class NewEscalation(CamelModel):
    reason: Reason


class LoopClosed(CamelOut):
    feedback_id: uuid.UUID
    survey_id: uuid.UUID
    status: SurveyStatus
    position: int


class LoopEscalated(CamelOut):
    feedback_id: uuid.UUID
    survey_id: uuid.UUID
    status: SurveyStatus
    escalation: EscalationOut
    position: int


# -- the patient's public forms ------------------------------------------------------------


class PublicSurveyForm(CamelOut):
    template_name: str
    language: str
    questions: list[FormQuestion]
    expires_at: str


class SurveyResponse(CamelModel):
    answers: dict[QuestionId, Rating] = Field(max_length=50)
    comment: Comment | None = None


class SurveyReceived(CamelOut):
    """What the patient learns of their answer: that it arrived (never the score)."""

    survey_id: uuid.UUID
    position: int


class PublicCheckForm(CamelOut):
    survey_name: str
    question: str
    language: str
    expires_at: str


class CheckResponse(CamelModel):
    rating: Rating
    comment: Comment | None = None


class CheckReceived(CamelOut):
    feedback_id: uuid.UUID
    position: int
