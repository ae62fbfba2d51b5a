"""What a request's code tells the audit trail on the way: who turned out to be acting,
which tenant and subject it touched, where it wrote. The middleware opens a note per
request (a context variable: route functions run in worker threads on a copy of the
context, which holds this same note) and writes the entry from it once the response is
ready."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from domain.shared.context import Actor


@dataclass
class AuditNote:
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    actor: Actor | None = None
    tenant: str | None = None  # the tenant whose data the request touched
    subject_type: str | None = None
    subject_id: str | None = None
    position: int | None = None  # the log position the request wrote, if it wrote
    correlation_id: str | None = None
    # The ids a command's result named (`id`, `workoutId`, ...): a created subject's id.
    ids: dict[str, str] = field(default_factory=dict)


_NOTE: ContextVar[AuditNote | None] = ContextVar("careloop_audit_note", default=None)


def open_note() -> tuple[AuditNote, object]:
    note = AuditNote()
    return note, _NOTE.set(note)


def close_note(token: object) -> None:
    _NOTE.reset(token)  # type: ignore[arg-type]


def current() -> AuditNote | None:
    return _NOTE.get()


def note_actor(actor: Actor) -> None:
    note = _NOTE.get()
    if note is not None:
        note.actor = actor


def note_tenant(tenant_id: object) -> None:
    """The tenant of what the request touched (what a platform admin's entry is filed
    under); the first one noted wins."""
    note = _NOTE.get()
    if note is not None and note.tenant is None and tenant_id is not None:
        note.tenant = str(tenant_id)


def note_subject(subject_type: str, subject_id: object) -> None:
    note = _NOTE.get()
    if note is not None and subject_id is not None:
        note.subject_type = subject_type
        note.subject_id = str(subject_id)


def note_write(position: int) -> None:
    note = _NOTE.get()
    if note is not None:
        note.position = position


def result_ids(body: Mapping[str, Any]) -> dict[str, str]:
    """The ids a command's result names (`id`, `workoutId`, ...), nothing else of it."""
    return {k: v for k, v in body.items() if (k == "id" or k.endswith("Id")) and isinstance(v, str)}


def note_ids(body: Mapping[str, Any]) -> None:
    """Keep the ids of a command's result (never anything else of it)."""
    note = _NOTE.get()
    if note is not None:
        note.ids.update(result_ids(body))
