from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, StringConstraints, model_serializer

from api.schemas.people import CamelModel, CamelOut


class Participant(CamelOut):
    id: uuid.UUID
    role: Literal["patient", "doctor"]
    first_name: str | None
    last_name: str | None


class ConversationOut(CamelOut):
    id: uuid.UUID
    kind: Literal["direct", "group"]
    patient_id: uuid.UUID
    participants: list[Participant]
    last_message_at: str | None


class MessageOut(CamelOut):
    id: uuid.UUID
    type: Literal["TEXT", "PATIENT_FEEDBACK_SUMMARY", "DOCTOR_FEEDBACK_NOTE"]
    sent_at: str
    sender_id: uuid.UUID
    text: str | None = Field(
        default=None,
        description="A chat message's text; null (and `erased: true`) once the "
        "conversation's patient is erased. Cards have none.",
    )
    card: dict[str, Any] | None = None
    revision: int

    @model_serializer(mode="wrap")
    def _erased_text_stays_null(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The route leaves out what is None (a card has no text, a text no card), but an
        erased text is shown as null, as every erased field is."""
        data: dict[str, Any] = handler(self)
        if self.erased and self.type == "TEXT":
            data.setdefault("text", None)
        return data


# Tabs and newlines are fine; other control characters (U+0000 above all, which
# PostgreSQL's JSONB cannot hold) are refused.
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class NewMessage(CamelModel):
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=_TEXT),
    ]


class MessagePosted(CamelOut):
    id: uuid.UUID
    conversation_id: uuid.UUID
    position: int
