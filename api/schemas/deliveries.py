"""Response bodies of the outbox's admin endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.people import CamelOut

DeliveryStatusOut = Literal["pending", "sent", "failed", "dead", "skipped"]


class AttemptOut(CamelOut):
    at: str = Field(description="When the step happened (ISO 8601).")
    outcome: Literal["started", "sent", "failed", "skipped"]
    detail: str | None = Field(
        default=None, description="The receipt, the error, or why it was skipped."
    )


class DeliveryOut(CamelOut):
    id: str
    channel: str = Field(description="`push` today; `webhook` and `email` come next.")
    status: DeliveryStatusOut = Field(
        description="pending (queued or being sent), sent, failed (a retry is scheduled), "
        "dead (no attempt left), skipped (nowhere to send it, e.g. no device)."
    )
    recipient_id: str | None = None
    created_at: str
    attempts: list[AttemptOut]
    next_attempt_at: str | None = Field(
        default=None, description="When the next step is due (an attempt, a lease's end)."
    )


class DeliveryPage(CamelOut):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last."
    )


class Redelivered(CamelOut):
    id: str
    status: DeliveryStatusOut
    position: int
