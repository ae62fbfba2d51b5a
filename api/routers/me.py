"""The caller's own resources: push tokens, push notifications, the language of forms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

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


@router.get(
    "/notifications",
    response_model=list[NotificationOut],
    dependencies=[NotificationsCurrent],
)
def list_notifications(actor: TenantUser, runtime: RuntimeDep) -> Any:
    """The caller's push notifications, newest first, with their delivery status; in the
    embedded default they are recorded, not sent (`status: recorded`)."""
    tenant = str(actor.tenant_id)
    return [
        row
        for row in runtime.views.notifications.of_recipient(str(actor.user_id))
        if row["tenantId"] == tenant
    ]


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
