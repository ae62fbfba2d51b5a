"""The survey loop's commands: templates, sending, the patient's answers, and the
follow-up of a negative survey. Every message leaves through the outbox, in the unit of
work of the command that decided it, with an id derived from what it is about."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.notifications.application import PUSH
from domain.notifications.email import EMAIL
from domain.outbox.delivery import Delivery
from domain.people.patient import Patient
from domain.people.staff import Staff, StaffType
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from domain.shared.unit_of_work import UnitOfWork
from domain.surveys.errors import SurveyStateError, UnknownLinkError
from domain.surveys.feedback import Feedback, delivery_id
from domain.surveys.link import LinkKeys, LinkPurpose, OneTimeLink, link_id, token_hash
from domain.surveys.messages import (
    LINK,
    Note,
    negative_survey_alert,
    satisfaction_check,
    satisfaction_reminder,
    survey_invitation,
)
from domain.surveys.policies import AlertStaff, FollowUpCommand, RemindPatient
from domain.surveys.survey import Contact, Escalation, SurveyInstance
from domain.surveys.template import DEFAULT_LANGUAGE, DEFAULT_THRESHOLD, Question, SurveyTemplate

PUBLIC_SURVEY_PATH = "/public/surveys/"
PUBLIC_FEEDBACK_PATH = "/public/feedback/"
ADMIN_TYPES = frozenset({StaffType.HOSPITAL_ADMIN, StaffType.PX_ADMIN})


class AdminDirectory(Protocol):
    def admins_of(self, tenant_id: uuid.UUID) -> list[uuid.UUID]:
        """The hospital and PX admins a read model lists for the tenant: candidates, each
        checked against its Staff aggregate."""
        ...


@dataclass(frozen=True)
class TemplateSaved:
    id: uuid.UUID
    version: int


@dataclass(frozen=True)
class SurveySent:
    survey_id: uuid.UUID
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class SurveyAnswered:
    survey_id: uuid.UUID
    score: float
    is_negative: bool


@dataclass(frozen=True)
class ContactLogged:
    survey_id: uuid.UUID
    status: str
    contacts: int
    contact: Contact


@dataclass(frozen=True)
class CheckSent:
    feedback_id: uuid.UUID
    token: str
    expires_at: datetime
    created: bool


@dataclass(frozen=True)
class CheckAnswered:
    feedback_id: uuid.UUID
    rating: int
    flagged_for_escalation: bool


@dataclass(frozen=True)
class LoopClosed:
    feedback_id: uuid.UUID
    survey_id: uuid.UUID
    status: str


@dataclass(frozen=True)
class LoopEscalated:
    feedback_id: uuid.UUID
    survey_id: uuid.UUID
    status: str
    escalation: Escalation


@dataclass(frozen=True)
class FollowUpOutcome:
    outcome: str
    notified: tuple[uuid.UUID, ...] = field(default=())


def _queue_note(
    uow: UnitOfWork,
    record_id: uuid.UUID,
    what: str,
    tenant_id: uuid.UUID,
    recipient_id: uuid.UUID,
    note: Note,
    data: Mapping[str, str],
    link: OneTimeLink | None = None,
    email: bool = True,
) -> None:
    """One message as an email (to the recipient's address) and a push (where they have
    a device), both in the caller's unit of work. A message with a link carries the
    link's nonce, never its token: the outbox writes the link in when it sends."""
    extra: dict[str, Any] = {}
    if link is not None:
        path = PUBLIC_SURVEY_PATH if link.purpose is LinkPurpose.SURVEY else PUBLIC_FEEDBACK_PATH
        extra = {"link": {"nonce": link.nonce, "path": path}}
    push_data = {**data, **({"url": LINK} if link is not None else {})}
    payloads: dict[str, dict[str, Any]] = {
        PUSH: {"title": note.title, "body": note.body, "data": push_data}
    }
    if email:
        payloads[EMAIL] = {"subject": note.subject, "text": note.text}
    for channel, body in payloads.items():
        uow.add(
            Delivery.queue(
                id=delivery_id(record_id, f"{what}:{channel}"),
                channel=channel,
                tenant_id=tenant_id,
                recipient_id=recipient_id,
                payload={**body, **extra},
                at=uow.now,
            )
        )


class Surveys:
    def __init__(
        self,
        keys: LinkKeys,
        admins: AdminDirectory,
        token_expiry_days: float = 30,
        reminder_days: float = 3,
    ) -> None:
        self.keys = keys
        self.admins = admins
        self.token_expiry = timedelta(days=token_expiry_days)
        self.reminder = timedelta(days=reminder_days)

    # -- templates ----------------------------------------------------------------------

    def create_template(
        self,
        uow: UnitOfWork,
        name: str,
        questions: Sequence[Question],
        negative_threshold: float | None = None,
        default_language: str | None = None,
    ) -> TemplateSaved:
        """A new template (version 1) of the caller's tenant; 422 names what is invalid."""
        tenant = _tenant_of(uow.actor)
        template = SurveyTemplate.create(
            uow.new_id(),
            tenant,
            uow.actor.user_id,
            name,
            questions,
            uow.now,
            DEFAULT_THRESHOLD if negative_threshold is None else negative_threshold,
            default_language or DEFAULT_LANGUAGE,
        )
        uow.add(template)
        return TemplateSaved(template.id, template.current.version)

    def revise_template(
        self,
        uow: UnitOfWork,
        template_id: uuid.UUID,
        name: str | None = None,
        questions: Sequence[Question] | None = None,
        negative_threshold: float | None = None,
        default_language: str | None = None,
    ) -> TemplateSaved:
        """The template's next version; surveys sent before keep theirs."""
        template = uow.get(SurveyTemplate, template_id, "survey template")
        content = template.revise(
            uow.actor.user_id, uow.now, name, negative_threshold, questions, default_language
        )
        return TemplateSaved(template.id, content.version)

    # -- sending ------------------------------------------------------------------------

    def send(
        self, uow: UnitOfWork, template_id: uuid.UUID, patient_id: uuid.UUID, nonce: bytes
    ) -> SurveySent:
        """Sends the template's current version to an active patient of the tenant: a
        one-time link valid `token_expiry_days`, by email and push. `nonce` is 128 random
        bits the caller made."""
        template = uow.get(SurveyTemplate, template_id, "survey template")
        patient = uow.get(Patient, patient_id, "patient")
        if not patient.active:
            raise NotFoundError(f"No patient with id {patient_id}.")
        assert patient.tenant_id is not None
        survey_id = uow.new_id()
        expires_at = uow.now + self.token_expiry
        link, token = OneTimeLink.issue(
            self.keys,
            nonce,
            patient.tenant_id,
            patient.id,
            LinkPurpose.SURVEY,
            survey_id,
            expires_at,
            uow.now,
        )
        content = template.current
        survey = SurveyInstance.send(
            survey_id,
            patient.tenant_id,
            patient.id,
            uow.actor.user_id,
            content,
            content.language_for(patient.language),
            link.id,
            expires_at,
            uow.now,
        )
        uow.add(link)
        uow.add(survey)
        _queue_note(
            uow,
            survey.id,
            "invite",
            patient.tenant_id,
            patient.id,
            survey_invitation(patient.name, content.name),
            {"type": "SURVEY", "surveyId": str(survey.id)},
            link,
        )
        return SurveySent(survey.id, token, expires_at)

    def survey_token(self, uow: UnitOfWork, survey_id: uuid.UUID) -> str:
        """The survey link's token, made again from its nonce (for a replayed send)."""
        survey = uow.get(SurveyInstance, survey_id, "survey")
        return uow.get(OneTimeLink, survey.link_id, "link").token(self.keys)

    def check_token(self, uow: UnitOfWork, feedback_id: uuid.UUID) -> str:
        """The satisfaction check link's token, made again (for a replayed send)."""
        check = uow.get(Feedback, feedback_id, "feedback")
        return uow.get(OneTimeLink, check.link_id, "link").token(self.keys)

    # -- the patient's side -------------------------------------------------------------

    def link_holder(self, uow: UnitOfWork, token: str, purpose: LinkPurpose) -> Actor:
        """Who answers through this token: its patient, in its tenant (404 for a token no
        link has). Run as the system: the token is the only credential."""
        link = self._link(uow, token, purpose)
        assert link.tenant_id is not None
        return Actor(user_id=link.patient_id, role=Role.PATIENT, tenant_id=link.tenant_id)

    def _link(self, uow: UnitOfWork, token: str, purpose: LinkPurpose) -> OneTimeLink:
        link = uow.find(OneTimeLink, link_id(token_hash(token)))
        if link is None or not link.matches(token) or link.purpose is not purpose:
            raise UnknownLinkError("No such link.")
        return link

    def answer(
        self, uow: UnitOfWork, token: str, answers: Mapping[str, Any], comment: str | None
    ) -> SurveyAnswered:
        """The patient's answers: 404 unknown token, 410 used or expired, 422 unless every
        question is answered 1-5. Negative is decided now, with the threshold of the
        version sent, and never again."""
        link = self._link(uow, token, LinkPurpose.SURVEY)
        link.check(token, LinkPurpose.SURVEY, uow.now)
        survey = uow.get(SurveyInstance, link.subject_id, "survey")
        survey.answer(answers, comment, uow.now)
        uow.add(link)
        link.use(token, LinkPurpose.SURVEY, uow.now)
        assert survey.score is not None
        return SurveyAnswered(survey.id, survey.score, survey.is_negative)

    def answer_check(
        self, uow: UnitOfWork, token: str, rating: object, comment: str | None
    ) -> CheckAnswered:
        """The patient's satisfaction rating (1-5); 1-2 flags the loop for escalation."""
        link = self._link(uow, token, LinkPurpose.SATISFACTION_CHECK)
        link.check(token, LinkPurpose.SATISFACTION_CHECK, uow.now)
        check = uow.get(Feedback, link.subject_id, "feedback")
        flagged = check.answer(rating, comment, uow.now)
        assert check.rating is not None
        survey = uow.get(SurveyInstance, check.related_survey_id, "survey")
        survey.satisfaction_answered(check.id, check.rating, uow.now)
        uow.add(link)
        link.use(token, LinkPurpose.SATISFACTION_CHECK, uow.now)
        return CheckAnswered(check.id, check.rating, flagged)

    # -- staff follow up ----------------------------------------------------------------

    def log_contact(
        self, uow: UnitOfWork, survey_id: uuid.UUID, notes: str, outcome: str
    ) -> ContactLogged:
        """Appends a contact by the caller, now (audit: survey_patient_contacted)."""
        survey = uow.get(SurveyInstance, survey_id, "survey")
        contact = survey.log_contact(uow.actor.user_id, notes, outcome, uow.now)
        return ContactLogged(survey.id, survey.status.value, len(survey.contacts), contact)

    def send_check(self, uow: UnitOfWork, survey_id: uuid.UUID, nonce: bytes) -> CheckSent:
        """Creates a SATISFACTION_CHECK feedback linked to the survey, with its own link,
        and tells the patient by email and push (audit: satisfaction_feedback_sent). 409
        until contact is logged; while a check is open, returns that one and creates
        nothing."""
        survey = uow.get(SurveyInstance, survey_id, "survey")
        open_check = survey.check_to_send()
        if open_check is not None:
            check = uow.get(Feedback, open_check, "feedback")
            if check.is_open:
                link = uow.get(OneTimeLink, check.link_id, "link")
                return CheckSent(check.id, link.token(self.keys), check.expires_at, created=False)
            # It expired, and the follow-up has not yet told the survey: tell it now, so
            # the new check does not hand out the expired one's dead link.
            survey.satisfaction_expired(check.id, uow.now)
        assert survey.tenant_id is not None
        patient = uow.get(Patient, survey.patient_id, "patient")
        feedback_id = uow.new_id()
        expires_at = uow.now + self.token_expiry
        link, token = OneTimeLink.issue(
            self.keys,
            nonce,
            survey.tenant_id,
            survey.patient_id,
            LinkPurpose.SATISFACTION_CHECK,
            feedback_id,
            expires_at,
            uow.now,
        )
        check = Feedback.satisfaction_check(
            feedback_id,
            survey.tenant_id,
            survey.patient_id,
            survey.id,
            uow.actor.user_id,
            link.id,
            expires_at,
            uow.now + self.reminder,
            uow.now,
        )
        survey.satisfaction_sent(check.id, uow.actor.user_id, uow.now)
        uow.add(link)
        uow.add(check)
        _queue_note(
            uow,
            check.id,
            "check",
            survey.tenant_id,
            survey.patient_id,
            satisfaction_check(patient.name),
            {"type": "SATISFACTION_CHECK", "feedbackId": str(check.id)},
            link,
        )
        return CheckSent(check.id, token, expires_at, created=True)

    def _loop(self, uow: UnitOfWork, feedback_id: uuid.UUID) -> tuple[Feedback, SurveyInstance]:
        check = uow.get(Feedback, feedback_id, "feedback")
        survey = uow.get(SurveyInstance, check.related_survey_id, "survey")
        return check, survey

    def close(self, uow: UnitOfWork, feedback_id: uuid.UUID) -> LoopClosed:
        """Closes the survey and the feedback together, answered or not; closing a closed
        loop changes nothing."""
        check, survey = self._loop(uow, feedback_id)
        if survey.is_closed and check.status.value == "closed":
            return LoopClosed(check.id, survey.id, survey.status.value)
        if survey.is_closed:
            raise SurveyStateError("The survey's loop was closed with another feedback.")
        waiting = survey.open_check
        check.close(uow.actor.user_id, uow.now)
        survey.close(check.id, uow.actor.user_id, uow.now)
        if waiting is not None and waiting != check.id:
            # Closed through an earlier feedback while a newer check waits for the patient:
            # closing the loop closes that check too (no reminder, no answer after it).
            uow.get(Feedback, waiting, "feedback").close(uow.actor.user_id, uow.now)
        return LoopClosed(check.id, survey.id, survey.status.value)

    def escalate(self, uow: UnitOfWork, feedback_id: uuid.UUID, reason: str) -> LoopEscalated:
        """Records the reason and marks both records escalated; the survey stays in "needs
        action" with its escalation. 409 once closed."""
        check, survey = self._loop(uow, feedback_id)
        escalation = survey.escalate(check.id, uow.actor.user_id, reason, uow.now)
        check.escalate(uow.actor.user_id, reason, uow.now)
        return LoopEscalated(check.id, survey.id, survey.status.value, escalation)

    # -- the follow-up process manager's commands ---------------------------------------

    def handle(self, uow: UnitOfWork, command: FollowUpCommand) -> FollowUpOutcome:
        if isinstance(command, AlertStaff):
            return self.alert_staff(uow, command.survey_id)
        if isinstance(command, RemindPatient):
            return self.remind(uow, command.feedback_id)
        return self.return_to_needs_action(uow, command.feedback_id)

    def alert_staff(self, uow: UnitOfWork, survey_id: uuid.UUID) -> FollowUpOutcome:
        """An in-app notification (and a push where they have devices) to every active
        hospital and PX admin of the tenant."""
        survey = uow.get(SurveyInstance, survey_id, "survey")
        assert survey.tenant_id is not None and survey.score is not None
        if survey.is_closed:
            return FollowUpOutcome("closed")  # closed before the alert went out
        patient = uow.get(Patient, survey.patient_id, "patient")
        if patient.erased:
            return FollowUpOutcome("patient_erased")  # nobody to follow up, nothing to quote
        note = negative_survey_alert(patient.name, survey.template.name, survey.score)
        alerted = []
        for admin_id in self.admins.admins_of(survey.tenant_id):
            admin = uow.find(Staff, admin_id)
            if admin is None or not admin.active or admin.staff_type not in ADMIN_TYPES:
                continue
            if uow.find(Delivery, delivery_id(survey.id, f"alert:{admin_id}:push")) is not None:
                continue
            _queue_note(
                uow,
                survey.id,
                f"alert:{admin_id}",
                survey.tenant_id,
                admin_id,
                note,
                {"type": "NEGATIVE_SURVEY", "surveyId": str(survey.id)},
                email=False,
            )
            alerted.append(admin_id)
        return FollowUpOutcome("alerted", tuple(alerted))

    def remind(self, uow: UnitOfWork, feedback_id: uuid.UUID) -> FollowUpOutcome:
        """The one reminder of an unanswered check, by email and push."""
        check = uow.get(Feedback, feedback_id, "feedback")
        if not check.is_open or uow.now >= check.expires_at:
            return FollowUpOutcome("not_open")  # never a reminder with a dead link
        if uow.find(Delivery, delivery_id(check.id, "reminder:push")) is not None:
            return FollowUpOutcome("already_reminded")
        assert check.tenant_id is not None
        patient = uow.get(Patient, check.patient_id, "patient")
        if patient.erased:
            return FollowUpOutcome("patient_erased")  # no address, nothing to remind
        link = uow.get(OneTimeLink, check.link_id, "link")
        _queue_note(
            uow,
            check.id,
            "reminder",
            check.tenant_id,
            check.patient_id,
            satisfaction_reminder(patient.name),
            {"type": "SATISFACTION_CHECK", "feedbackId": str(check.id)},
            link,
        )
        return FollowUpOutcome("reminded", (check.patient_id,))

    def return_to_needs_action(self, uow: UnitOfWork, feedback_id: uuid.UUID) -> FollowUpOutcome:
        check, survey = self._loop(uow, feedback_id)
        survey.satisfaction_expired(check.id, uow.now)
        return FollowUpOutcome("needs_action" if survey.needs_action else "unchanged")


def _tenant_of(actor: Actor) -> uuid.UUID:
    if actor.tenant_id is None:
        raise NotFoundError("Survey templates belong to a tenant.")
    return actor.tenant_id
