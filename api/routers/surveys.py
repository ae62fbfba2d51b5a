"""The survey loop, staff side (spec: survey-feedback-integration): templates, sending a
survey, the views, and the follow-up of a negative survey. Only the tenant's hospital and
PX admins may call any of it; another tenant's ids are 404.

A send answers the link's token once; the Idempotency-Key record stores the response
without it (a token is never stored), and a replay makes it again from the link's nonce.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from api.commands import execute, note_outcome, opened, to_json
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.surveys import (
    CheckSent,
    ContactLogged,
    FeedbackOut,
    LoopClosed,
    LoopEscalated,
    NewContact,
    NewEscalation,
    NewSurvey,
    NewTemplate,
    QuestionIn,
    SurveyOut,
    SurveyPage,
    SurveySent,
    SurveyStats,
    SurveyStatus,
    TemplateOut,
    TemplateRevision,
    TemplateSaved,
)
from bootstrap.runtime import Runtime
from domain.shared.commands import Handler, Rendered
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.unit_of_work import UnitOfWork
from domain.surveys.link import NONCE_BYTES
from domain.surveys.template import Question
from projections.surveys.projection import SurveyProjection

router = APIRouter(tags=["surveys"])

SurveyStaff = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN, Role.PX_ADMIN))]
SurveysCurrent = Depends(read_model(SurveyProjection.name))
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=200)]
NO_STORE = {"Cache-Control": "no-store"}


def _questions(questions: list[QuestionIn]) -> list[Question]:
    return [Question(q.id, q.text, dict(q.translations)) for q in questions]


def _tenant(actor: Actor) -> str:
    return str(actor.tenant_id)


def _page(rows: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    """A page of rows, their nulls kept; `nextCursor` only when there is a next page."""
    return {"items": rows, **({"nextCursor": next_cursor} if next_cursor else {})}


def execute_with_token(
    runtime: Runtime,
    ctx: CommandContext,
    handler: Handler[Any],
    status_code: int,
    make_token: Callable[[UnitOfWork, Mapping[str, Any]], str],
) -> JSONResponse:
    """`api.commands.execute` for a result that carries a link token: the rendering an
    Idempotency-Key stores leaves the token out, and a replay puts it back, made again
    from the link (`make_token`, in a unit of work of the same caller), so the replayed
    response is the first one unchanged."""

    def render(result: Any) -> Rendered:
        body = to_json(result)
        body.pop("token", None)
        return Rendered(status_code, body)

    outcome = runtime.commands.run(ctx, handler, render=render)
    if outcome.replay is None:
        body = to_json(outcome.result)
        note_outcome(outcome, body)
        return JSONResponse(
            opened({**body, "position": outcome.position}),
            status_code=status_code,
            headers=NO_STORE,
        )
    stored = dict(outcome.replay.body)
    note_outcome(outcome, stored)
    again = runtime.commands.run(
        dataclasses.replace(ctx, idempotency_key=None), lambda uow: make_token(uow, stored)
    ).result
    first, *_ = stored  # the subject's id: the token follows it, as in the first response
    body = {first: stored[first], "token": again, **stored}
    return JSONResponse(
        opened({**body, "position": outcome.position}),
        status_code=outcome.replay.status_code,
        headers={**NO_STORE, "Idempotent-Replayed": "true"},
    )


# -- templates ----------------------------------------------------------------------------


@router.post(
    "/v1/survey-templates",
    status_code=201,
    response_model=TemplateSaved,
    responses=errors((422, "The template is not valid: `errors` names each field.")),
)
def create_survey_template(
    body: NewTemplate, _: SurveyStaff, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """A survey template of the caller's tenant (version 1). The negative threshold
    defaults to 3.0 on the 1-5 scale; the default language to `en`."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.surveys.create_template(
            uow,
            body.name,
            _questions(body.questions),
            body.negative_threshold,
            body.default_language,
        ),
        201,
    )


@router.put(
    "/v1/survey-templates/{templateId}",
    response_model=TemplateSaved,
    responses=errors(
        (404, "No such template in the caller's tenant."),
        (422, "The revised template is not valid: `errors` names each field."),
    ),
)
def revise_survey_template(
    templateId: uuid.UUID,
    body: TemplateRevision,
    _: SurveyStaff,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """The template's next version, from the current one and what the body gives; surveys
    sent before keep the version they were sent with."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.surveys.revise_template(
            uow,
            templateId,
            body.name,
            None if body.questions is None else _questions(body.questions),
            body.negative_threshold,
            body.default_language,
        ),
    )


@router.get(
    "/v1/survey-templates",
    response_model=list[TemplateOut],
    dependencies=[SurveysCurrent],
)
def list_survey_templates(actor: SurveyStaff, runtime: RuntimeDep) -> Any:
    """The tenant's survey templates, each at its current version."""
    return runtime.views.surveys.templates(_tenant(actor))


@router.get(
    "/v1/survey-templates/{templateId}",
    response_model=TemplateOut,
    dependencies=[SurveysCurrent],
    responses=errors(404),
)
def get_survey_template(templateId: uuid.UUID, actor: SurveyStaff, runtime: RuntimeDep) -> Any:
    """One template at its current version."""
    return visible(
        actor, runtime.views.surveys.template(str(templateId)), "survey template", templateId
    )


# -- surveys ------------------------------------------------------------------------------


@router.post(
    "/v1/surveys",
    status_code=201,
    response_model=SurveySent,
    responses=errors((404, "No such template, or no such active patient, in the tenant.")),
)
def send_survey(body: NewSurvey, _: SurveyStaff, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """Sends the template's current version to a patient: a one-time link (valid
    `CARELOOP_SURVEY_TOKEN_EXPIRY_DAYS`, 30 by default) by email, and by push where the
    patient has a device. The token is answered here and in the message, never stored."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return execute_with_token(
        runtime,
        ctx,
        lambda uow: runtime.surveys.send(uow, body.template_id, body.patient_id, nonce),
        201,
        lambda uow, stored: runtime.surveys.survey_token(uow, uuid.UUID(stored["surveyId"])),
    )


@router.get(
    "/v1/surveys",
    response_model=SurveyPage,
    response_model_exclude_unset=True,
    dependencies=[SurveysCurrent],
)
def list_surveys(
    actor: SurveyStaff,
    runtime: RuntimeDep,
    negative: Annotated[bool | None, Query()] = None,
    status: Annotated[SurveyStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Any:
    """The tenant's surveys, newest first, optionally only negative (or not) ones, or
    those in one status; `nextCursor` pages on."""
    rows, next_cursor = runtime.views.surveys.surveys(
        _tenant(actor), negative, status, cursor, limit
    )
    return _page(rows, next_cursor)


@router.get(
    "/v1/surveys/needs-action",
    response_model=SurveyPage,
    response_model_exclude_unset=True,
    dependencies=[SurveysCurrent],
)
def surveys_needing_action(
    actor: SurveyStaff, runtime: RuntimeDep, cursor: Cursor = None, limit: Limit = 50
) -> Any:
    """Every negative survey whose loop is still open and not waiting for the patient's
    satisfaction answer (escalated ones included, with their escalation), oldest first."""
    rows, next_cursor = runtime.views.surveys.needs_action(_tenant(actor), cursor, limit)
    return _page(rows, next_cursor)


@router.get(
    "/v1/surveys/stats",
    response_model=SurveyStats,
    dependencies=[SurveysCurrent],
)
def survey_stats(
    actor: SurveyStaff,
    runtime: RuntimeDep,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> Any:
    """The tenant's loop in figures over surveys answered in [from, to): negative
    surveys, the share contacted, the median time to contact, checks sent and answered,
    and the satisfaction improvement rate (negative surveys whose check came back 4 or 5)."""
    return runtime.views.surveys.stats(_tenant(actor), start, end)


@router.get(
    "/v1/surveys/{surveyId}",
    response_model=SurveyOut,
    dependencies=[SurveysCurrent],
    responses=errors(404),
)
def get_survey(surveyId: uuid.UUID, actor: SurveyStaff, runtime: RuntimeDep) -> Any:
    """One survey: score, negativity, status, the warning state, every contact and its
    summary, and the follow-up feedbacks."""
    return visible(actor, runtime.views.surveys.survey(str(surveyId)), "survey", surveyId)


# -- the follow-up (paths as the spec names them) -----------------------------------------


@router.post(
    "/surveys/instances/{surveyId}/log-contact/",
    response_model=ContactLogged,
    responses=errors(
        (404, "No such survey in the tenant."),
        (409, "The survey is not negative, or its loop is closed."),
        (422, "Blank notes, or an unknown outcome."),
    ),
)
def log_contact(
    surveyId: uuid.UUID,
    body: NewContact,
    _: SurveyStaff,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """Records a contact with the patient about a negative survey, by the caller, now;
    every contact stays in the history (audit: `survey_patient_contacted`)."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.surveys.log_contact(uow, surveyId, body.contact_notes, body.outcome),
    )


@router.post(
    "/surveys/instances/{surveyId}/send-satisfaction/",
    status_code=202,
    response_model=CheckSent,
    responses=errors(
        (404, "No such survey in the tenant."),
        (409, "No contact is logged yet, the survey is not negative, or its loop is closed."),
    ),
)
def send_satisfaction_check(
    surveyId: uuid.UUID, _: SurveyStaff, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Sends the patient a SATISFACTION_CHECK feedback with its own one-time link, by
    email and push (audit: `satisfaction_feedback_sent`). While a check is open, answers
    that one again and creates nothing."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return execute_with_token(
        runtime,
        ctx,
        lambda uow: runtime.surveys.send_check(uow, surveyId, nonce),
        202,
        lambda uow, stored: runtime.surveys.check_token(uow, uuid.UUID(stored["feedbackId"])),
    )


@router.get(
    "/v1/feedback/{feedbackId}",
    response_model=FeedbackOut,
    dependencies=[SurveysCurrent],
    responses=errors(404),
)
def get_feedback(feedbackId: uuid.UUID, actor: SurveyStaff, runtime: RuntimeDep) -> Any:
    """A satisfaction check with its related survey card: the survey's name, score,
    completion date, the patient contact, and a link to the survey."""
    return visible(actor, runtime.views.surveys.feedback(str(feedbackId)), "feedback", feedbackId)


@router.post(
    "/v1/feedback/{feedbackId}/close",
    response_model=LoopClosed,
    responses=errors(
        (404, "No such feedback in the tenant."),
        (409, "The survey's loop was closed with another feedback."),
    ),
)
def close_feedback(
    feedbackId: uuid.UUID, _: SurveyStaff, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Closes the loop: the survey and the feedback together, whether or not the patient
    answered. Closing a closed loop changes nothing."""
    return execute(runtime, ctx, lambda uow: runtime.surveys.close(uow, feedbackId))


@router.post(
    "/v1/feedback/{feedbackId}/escalate",
    response_model=LoopEscalated,
    responses=errors(
        (404, "No such feedback in the tenant."),
        (409, "The loop is closed."),
        (422, "A blank reason."),
    ),
)
def escalate_feedback(
    feedbackId: uuid.UUID,
    body: NewEscalation,
    _: SurveyStaff,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """Records the reason and marks the survey and the feedback escalated; the survey
    stays in "needs action" with its escalation."""
    return execute(runtime, ctx, lambda uow: runtime.surveys.escalate(uow, feedbackId, body.reason))
