"""Conversations between a patient and their care team."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.conversations import ConversationOut, MessageOut, MessagePosted, NewMessage
from bootstrap.runtime import Runtime
from domain.messaging.conversation import ConversationKind
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from projections.conversations.projection import ConversationProjection

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

ConversationsCurrent = Depends(read_model(ConversationProjection.name))
# Every role but the auditor, who reads the event history and nothing else: no one
# converses with an auditor, and messages are patient data.
Caller = Annotated[
    Actor,
    Depends(
        require(Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN)
    ),
]


def _participating(runtime: Runtime, actor: Actor, conversation_id: uuid.UUID) -> dict[str, Any]:
    row = runtime.views.conversations.conversation(str(conversation_id))
    row = visible(actor, row, "conversation", conversation_id)
    if str(actor.user_id) not in row["participants"]:
        raise NotFoundError(f"No conversation with id {conversation_id}.")
    return row


def _with_names(runtime: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    directory = runtime.views.directory
    people = []
    for pid in row["participants"]:
        person = directory.patient(pid) if pid == row["patientId"] else directory.staff_member(pid)
        participant = {
            "id": pid,
            "role": "patient" if pid == row["patientId"] else "doctor",
            "firstName": person["firstName"] if person else None,
            "lastName": person["lastName"] if person else None,
        }
        if person and person.get("erased"):
            participant["erased"] = True  # an erased patient's name is null
        people.append(participant)
    return {**row, "participants": people}


@router.get("", response_model=list[ConversationOut], dependencies=[ConversationsCurrent])
def list_conversations(actor: Caller, runtime: RuntimeDep) -> Any:
    """The caller's conversations, most recently active first."""
    if actor.tenant_id is None:
        return []
    rows = runtime.views.conversations.of_participant(str(actor.tenant_id), str(actor.user_id))
    return [_with_names(runtime, row) for row in rows]


@router.get(
    "/{conversationId}/messages",
    response_model=list[MessageOut],
    response_model_exclude_none=True,
    dependencies=[ConversationsCurrent],
    responses=errors(
        (404, "No such conversation, the caller is not a participant, or no such `after`.")
    ),
)
def list_messages(
    conversationId: uuid.UUID,
    actor: Caller,
    runtime: RuntimeDep,
    after: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Messages, oldest first; a replaced card shows its latest content and revision."""
    _participating(runtime, actor, conversationId)
    rows = runtime.views.conversations.messages(
        str(conversationId), str(after) if after else None, limit
    )
    if rows is None:
        raise NotFoundError(f"No message with id {after} in this conversation.")
    return rows


@router.post(
    "/{conversationId}/messages",
    status_code=201,
    response_model=MessagePosted,
    responses=errors((404, "No such conversation, or the caller is not a participant.")),
)
def post_message(
    conversationId: uuid.UUID,
    body: NewMessage,
    actor: Caller,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """A free-form chat message by a current participant."""
    row = visible(
        actor,
        runtime.views.conversations.conversation(str(conversationId)),
        "conversation",
        conversationId,
    )
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.conversations.post_text(
            uow,
            conversationId,
            ConversationKind(row["kind"]),
            uuid.UUID(row["patientId"]),
            [uuid.UUID(d) for d in row["doctorIds"]],
            body.text,
        ),
        201,
    )
