"""Request and response bodies of the caller's own resources (`/v1/me/...`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import StringConstraints

from api.schemas.people import CamelModel, CamelOut, omitted_if_none


class NewPushToken(CamelModel):
    # The Expo format itself is checked by the domain, which names the field when not.
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    platform: Literal["ios", "android", "web"]


class PushTokenRegistered(CamelOut):
    token: str
    platform: Literal["ios", "android", "web"]
    position: int


class LanguageChange(CamelModel):
    # A code such as `en` or `ar`; the domain names the field when it is not one.
    language: Annotated[str, StringConstraints(min_length=2, max_length=35)]


class LanguageSet(CamelOut):
    patient_id: uuid.UUID
    language: str
    position: int


class NotificationData(CamelOut):
    type: str
    workout_id: uuid.UUID | None = omitted_if_none()
    conversation_id: uuid.UUID | None = omitted_if_none()
    message_id: uuid.UUID | None = omitted_if_none()
    # The survey loop: a patient's survey or satisfaction check, an admin's alert.
    survey_id: uuid.UUID | None = omitted_if_none()
    feedback_id: uuid.UUID | None = omitted_if_none()


class NotificationOut(CamelOut):
    """A text quoting an erased patient's name is null (`erased: true`)."""

    id: uuid.UUID
    title: str | None
    body: str | None
    data: NotificationData
    created_at: str
    delivered_at: str | None = omitted_if_none()
    status: Literal["queued", "delivered", "retrying", "failed", "recorded", "no_device"]
