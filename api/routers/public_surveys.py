"""The patient's side of the survey loop, without logging in: the token in the path is
the only credential (spec: survey-feedback-integration).

A form is read from the surveys read model by the link's id, which is derived from the
token's hash; the stored hash is compared in constant time. An answer is a command of
the link's patient: the link holder is resolved first (as the system: nobody is logged
in), then the command runs as that patient, with the request's correlation id,
Idempotency-Key and fingerprint like any other command. Nothing answered here reveals the
score or whether the survey was negative.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from api.audit.note import note_actor, note_subject
from api.commands import execute
from api.deps import RequestDep, RequestFacts, RuntimeDep
from api.openapi import errors
from api.schemas.surveys import (
    CheckReceived,
    CheckResponse,
    PublicCheckForm,
    PublicSurveyForm,
    SurveyReceived,
    SurveyResponse,
)
from bootstrap.runtime import Runtime
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.surveys.errors import LinkGoneError, UnknownLinkError
from domain.surveys.link import LinkPurpose, OneTimeLink, link_id, token_hash

router = APIRouter(prefix="/v1/public", tags=["public surveys"])

# The token is in the URL: no cache may keep the page, no link may pass the URL on.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
TokenPath = Annotated[str, Path(min_length=1, max_length=200)]

USED, EXPIRED, CLOSED = "used", "expired", "closed"

_NOT_FOUND = (404, "No link has this token.")
_GONE = (
    410,
    "The link was used already, it expired, or (a satisfaction check) its follow-up is "
    "closed: `reason` is `used`, `expired` or `closed`.",
)


@dataclass(frozen=True)
class SurveyReceipt:
    survey_id: uuid.UUID


@dataclass(frozen=True)
class CheckReceipt:
    feedback_id: uuid.UUID


def find_form(runtime: Runtime, token: str, purpose: LinkPurpose) -> dict[str, Any]:
    """The public form of the token's link (404 for a token no link of `purpose` has),
    whether or not it can still be answered."""
    hashed = token_hash(token)
    form = runtime.views.surveys.public_form(str(link_id(hashed)))
    if (
        form is None
        or form["kind"] != purpose.value
        or form["language"] is None  # the form's content is not folded in yet
        or not hmac.compare_digest(str(form["tokenHash"]), hashed)
    ):
        raise UnknownLinkError("No such link.")
    # The token is the credential: whoever holds it acts as the link's patient.
    tenant = uuid.UUID(str(form["tenantId"]))
    note_actor(
        Actor(user_id=uuid.UUID(str(form["patientId"])), role=Role.PATIENT, tenant_id=tenant)
    )
    note_subject("survey" if purpose is LinkPurpose.SURVEY else "feedback", form["subjectId"])
    return form


def gone_reason(runtime: Runtime, form: dict[str, Any]) -> str | None:
    """Why the form can no longer be answered (`used`, `expired`, `closed`), or None."""
    if form["usedAt"] is not None or _used_in_the_log(runtime, uuid.UUID(form["id"])):
        return USED
    if runtime.clock.now() >= datetime.fromisoformat(form["expiresAt"]):
        return EXPIRED
    if not form["open"]:
        # A satisfaction check that expired unanswered, or that staff closed or escalated.
        check = runtime.views.surveys.feedback(str(form["subjectId"]))
        return EXPIRED if check is not None and check["status"] == "expired" else CLOSED
    return None


def _used_in_the_log(runtime: Runtime, link: uuid.UUID) -> bool:
    # The read model may not have seen an answer given a moment ago; the link itself has.
    # Reloading the page right after answering must not show the form again.
    found = runtime.log.find(link)
    return isinstance(found, OneTimeLink) and found.used_at is not None


_GONE_DETAIL = {
    USED: "This link was used already.",
    EXPIRED: "This link has expired.",
    CLOSED: "This follow-up is closed.",
}


def open_form(runtime: Runtime, token: str, purpose: LinkPurpose) -> dict[str, Any]:
    """The form while it can be answered; 404 for an unknown token, 410 once gone."""
    form = find_form(runtime, token, purpose)
    reason = gone_reason(runtime, form)
    if reason is not None:
        raise LinkGoneError(_GONE_DETAIL[reason], reason=reason)
    return form


def as_link_holder(
    runtime: Runtime, token: str, purpose: LinkPurpose, request: RequestFacts
) -> CommandContext:
    """The command context of the link's patient (404 for a token no link has): resolved
    as the system, since nobody is logged in and the token is the credential."""
    system = CommandContext(
        actor=SYSTEM_ACTOR,
        correlation_id=request.correlation_id,
        causation_id=request.causation_id,
    )
    holder = runtime.commands.run(
        system, lambda uow: runtime.surveys.link_holder(uow, token, purpose)
    ).result
    assert holder is not None
    note_actor(holder)
    return request.context(holder)


@router.get(
    "/surveys/{token}",
    response_model=PublicSurveyForm,
    responses=errors(_NOT_FOUND, _GONE),
)
def get_public_survey(token: TokenPath, runtime: RuntimeDep, response: Response) -> Any:
    """The survey form: its name, the questions in the patient's language (falling back
    to the template's default), and when the link expires."""
    form = open_form(runtime, token, LinkPurpose.SURVEY)
    response.headers.update(PRIVATE)
    return {
        "templateName": form["templateName"],
        "language": form["language"],
        "questions": form["questions"],
        "expiresAt": form["expiresAt"],
    }


@router.post(
    "/surveys/{token}/responses",
    status_code=201,
    response_model=SurveyReceived,
    responses=errors(
        _NOT_FOUND,
        _GONE,
        (422, "Not every question answered with an integer 1-5: `errors` names each."),
    ),
)
def answer_public_survey(
    token: TokenPath, body: SurveyResponse, runtime: RuntimeDep, request: RequestDep
) -> Any:
    """The patient's answers, one integer 1-5 per question, and an optional comment. The
    answer says only that it arrived."""
    ctx = as_link_holder(runtime, token, LinkPurpose.SURVEY, request)
    answers = dict(body.answers)
    response = execute(
        runtime,
        ctx,
        lambda uow: SurveyReceipt(
            runtime.surveys.answer(uow, token, answers, body.comment).survey_id
        ),
        201,
    )
    response.headers.update(PRIVATE)
    return response


@router.get(
    "/feedback/{token}",
    response_model=PublicCheckForm,
    responses=errors(_NOT_FOUND, _GONE),
)
def get_public_feedback(token: TokenPath, runtime: RuntimeDep, response: Response) -> Any:
    """The satisfaction check's form: the survey it follows up, its one question in the
    patient's language, and when the link expires."""
    form = open_form(runtime, token, LinkPurpose.SATISFACTION_CHECK)
    response.headers.update(PRIVATE)
    return {
        "surveyName": form["surveyName"],
        "question": form["question"],
        "language": form["language"],
        "expiresAt": form["expiresAt"],
    }


@router.post(
    "/feedback/{token}/responses",
    status_code=201,
    response_model=CheckReceived,
    responses=errors(_NOT_FOUND, _GONE, (422, "The rating is not an integer 1-5.")),
)
def answer_public_feedback(
    token: TokenPath, body: CheckResponse, runtime: RuntimeDep, request: RequestDep
) -> Any:
    """The patient's satisfaction rating (1-5) and an optional comment."""
    ctx = as_link_holder(runtime, token, LinkPurpose.SATISFACTION_CHECK, request)
    response = execute(
        runtime,
        ctx,
        lambda uow: CheckReceipt(
            runtime.surveys.answer_check(uow, token, body.rating, body.comment).feedback_id
        ),
        201,
    )
    response.headers.update(PRIVATE)
    return response
