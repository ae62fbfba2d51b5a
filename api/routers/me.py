"""The caller's own resources: push tokens, push notifications, the language of forms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require
from api.openapi import errors
from api.schemas.me import (
    LanguageChange,
    LanguageSet,
    NewPushToken,
    NotificationOut,
    PushTokenRegistered,
)
from domain.shared.context import Actor, Role
from projections.notifications.projection import NotificationProjection
from projections.notifications.view import PAGE

router = APIRouter(prefix="/v1/me", tags=["me"])

# Everyone who can receive a push: users of a tenant. Platform admins have no device here.
TenantUser = Annotated[
    Actor, Depends(require(Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN))
]
PatientActor = Annotated[Actor, Depends(require(Role.PATIENT))]
NotificationsCurrent = Depends(read_model(NotificationProjection.name))


@router.put("/push-tokens", response_model=PushTokenRegistered)
def register_push_token(
    body: NewPushToken, actor: TenantUser, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Registers an Expo push token for the caller's device; registering it again is a
    no-op 200. 422 names `token` or `platform` when either is not acceptable."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.notifications.register_push_token(uow, body.token, body.platform),
    )


# The list stays a bare array (api.md); the cursor of the next page is a header, so
# clients that read the array alone keep working (docs/decisions/0033-indexed-reads.md).
NEXT_CURSOR = "Next-Cursor"


@router.get(
    "/notifications",
    response_model=list[NotificationOut],
    dependencies=[NotificationsCurrent],
    responses={
        200: {
            "headers": {
                NEXT_CURSOR: {
                    "description": "The `cursor` of the next (older) page; absent on the "
                    "last page.",
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
def list_notifications(
    actor: TenantUser,
    runtime: RuntimeDep,
    response: Response,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE,
) -> Any:
    """The caller's push notifications, newest first, with their delivery status; in the
    embedded default they are recorded, not sent (`status: recorded`). A page of `limit`
    (default 100); the `Next-Cursor` response header, passed back as `cursor`, gives the
    next older page."""
    tenant = str(actor.tenant_id)
    rows, next_cursor = runtime.views.notifications.page(str(actor.user_id), cursor, limit)
    if next_cursor is not None:
        response.headers[NEXT_CURSOR] = next_cursor
    return [row for row in rows if row["tenantId"] == tenant]


@router.put(
    "/language",
    response_model=LanguageSet,
    responses=errors((404, "The caller's patient account does not exist.")),
)
def set_language(
    body: LanguageChange, actor: PatientActor, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """The language the calling patient reads forms in (`en`, `ar`, ...): surveys sent from
    now on use it where their template has it, else the template's default. 422 names
    `language` when it is not a language code."""
    return execute(
        runtime, ctx, lambda uow: runtime.people.set_language(uow, actor.user_id, body.language)
    )
