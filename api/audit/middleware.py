"""One audit entry per request that carries a valid credential, durable before the
response leaves (docs/decisions/0026).

A pure ASGI middleware, outermost but for Starlette's error handler:

1. it opens the request's note and reads the bearer token's caller into it (a public
   link's patient is noted by the route, once the link resolves);
2. a command (POST, PUT, PATCH, DELETE) first proves the audit store takes writes (a
   probe in the next group commit): if it does not, the answer is 503 and the command
   never runs, so nothing is changed without its record;
3. it holds the response's start, builds the entry from the route's action, the note and
   the status, hands it to the group-commit writer and waits until it is stored; only then
   does the response go out.

If the entry cannot be stored after all, the response is replaced by a 503, except for a
command that already wrote events: its entry is derivable from them (their metadata hold
the caller, the action and the request id) and the audit follower derives it, so the
client is told the truth about its command. A 401 has no identity and gets no entry; it
counts in `careloop_unauthenticated_requests_total`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit.actions import ACTIONS, Action, created_subject
from api.audit.note import AuditNote, close_note, open_note
from api.auth import TokenCache, tokens_for
from api.errors import problem
from domain.audit.entry import PLATFORM, Draft, outcome_of
from domain.audit.writer import GroupCommitWriter
from domain.shared.context import Actor

log = logging.getLogger(__name__)

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AuditMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        writer: GroupCommitWriter,
        jwt_secret: str,
        tenant_at: Callable[[int], str | None],
        on_unauthenticated: Callable[[], None],
        audit_reads: bool = True,
    ) -> None:
        self.app = app
        self.writer = writer
        self.jwt_secret = jwt_secret
        self.tokens: TokenCache = tokens_for(jwt_secret)
        self.tenant_at = tenant_at  # the tenant of the event at a log position
        self.on_unauthenticated = on_unauthenticated
        self.audit_reads = audit_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note, token = open_note()
        try:
            note.actor = self._caller(scope)
            headers = Headers(scope=scope)
            note.correlation_id = headers.get("x-correlation-id") or note.request_id
            if scope["method"] in COMMAND_METHODS and not await self._store_takes_writes():
                await _audit_unavailable()(scope, receive, send)
                return
            await self._audited(scope, receive, send, note)
        finally:
            close_note(token)

    async def _audited(self, scope: Scope, receive: Receive, send: Send, note: AuditNote) -> None:
        held: dict[str, Any] = {"replaced": False}

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status == 401:
                    self.on_unauthenticated()
                if not await self._record(scope, note, status):
                    held["replaced"] = True
                    await _audit_unavailable()(scope, receive, send)
                    return
            elif held["replaced"]:
                return  # the app's body of a response that was replaced by the 503
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            await self._record(scope, note, 500)
            raise

    def _caller(self, scope: Scope) -> Actor | None:
        scheme, credentials = get_authorization_scheme_param(
            Headers(scope=scope).get("authorization")
        )
        if scheme.lower() != "bearer" or not credentials:
            return None
        return self.tokens.caller(credentials)

    async def _store_takes_writes(self) -> bool:
        try:
            await asyncio.wrap_future(self.writer.probe())
        except Exception:
            log.exception("the audit store refused a write: commands are refused")
            return False
        return True

    async def _record(self, scope: Scope, note: AuditNote, status: int) -> bool:
        """Store the request's entry; False when it must be and could not be."""
        route = scope.get("route")
        action = ACTIONS.get(getattr(route, "name", ""))
        if action is None or note.actor is None or status == 401:
            return True  # no route of the app's data, or nobody identified: no entry
        if not self.audit_reads and scope["method"] not in COMMAND_METHODS:
            return True
        draft = await self._draft(scope, note, action, status)
        try:
            await asyncio.wrap_future(self.writer.submit(draft))
        except Exception:
            if note.position is not None and status < 400:
                log.exception("audit entry of a written command left to the audit follower")
                return True
            log.exception("the audit store refused an entry: the response is withheld")
            return False
        return True

    async def _draft(self, scope: Scope, note: AuditNote, action: Action, status: int) -> Draft:
        actor = note.actor
        assert actor is not None
        tenant = await self._tenant(scope, note, actor)
        subject_type, subject_id = _subject(scope, note, action, actor, tenant)
        return Draft(
            tenant=tenant,
            actor_id=str(actor.user_id),
            role=actor.role.value,
            action=action.name,
            subject_type=subject_type,
            subject_id=subject_id,
            outcome=outcome_of(status),
            status=status,
            correlation_id=note.correlation_id,
            request_id=note.request_id,
            position=note.position,
        )

    async def _tenant(self, scope: Scope, note: AuditNote, actor: Actor) -> str:
        if actor.tenant_id is not None:
            return str(actor.tenant_id)
        # A platform admin: the tenant of what the request touched, if it names one.
        params = scope.get("path_params") or {}
        named = note.tenant or params.get("tenantId") or _query_tenant(scope)
        if named is None and note.position is not None:
            named = await asyncio.to_thread(self.tenant_at, note.position)
        return _uuid_text(named) or PLATFORM


def _subject(
    scope: Scope, note: AuditNote, action: Action, actor: Actor, tenant: str
) -> tuple[str, str | None]:
    params = scope.get("path_params") or {}
    if action.subject_param is not None and action.subject_param in params:
        return action.subject_type, str(params[action.subject_param])
    if note.subject_id is not None:
        return note.subject_type or action.subject_type, note.subject_id
    created = created_subject(action, note.ids)
    if created is not None:
        return action.subject_type, created
    if action.subject_type == "user":
        return "user", str(actor.user_id)
    if action.subject_type == "tenant":
        return "tenant", tenant or None
    return action.subject_type, None


def _query_tenant(scope: Scope) -> str | None:
    values = parse_qs((scope.get("query_string") or b"").decode("latin-1")).get("tenantId")
    return values[0] if values else None


def _uuid_text(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None


def _audit_unavailable() -> Any:
    return problem(
        503,
        "The audit trail cannot record this request right now, so it was not carried out.",
        "audit-unavailable",
        headers={"Retry-After": "1"},
    )
