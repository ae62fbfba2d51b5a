"""The dependencies every route declares: the runtime, the caller, the command context,
read-your-writes waits. Tenant isolation on the read side is `visible()`, on the write side
the unit of work's `get()`: one rule (`Actor.can_see_tenant`) behind both."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from anyio import to_thread
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.audit.actions import ACTIONS
from api.audit.note import current, note_actor, note_tenant
from api.auth import InvalidTokenError, tokens_for
from api.errors import ProblemError
from api.waits import PositionWaits, TooManyWaitsError
from bootstrap.runtime import Runtime
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.errors import NotFoundError

_bearer = HTTPBearer(auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# The dependencies below that read nothing are `async def`: FastAPI runs a plain `def`
# dependency in a worker thread, and a thread hop per dependency per request cost more
# CPU than the dependency itself (decision 0036).


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


def _token_holder(runtime: Runtime, token: str) -> Actor:
    """The token's caller, verified once per token (api.auth.TokenCache); 401 otherwise."""
    try:
        return tokens_for(runtime.settings.jwt_secret).verify(token)
    except InvalidTokenError as e:
        raise _unauthorized(str(e)) from None


def _not_erased(actor: Actor, erased: bool) -> Actor:
    """The actor, noted for the audit entry; 401 for a patient found erased (callers
    look the erasure up for patients only)."""
    if erased:
        raise _unauthorized("This patient was erased.")
    note_actor(actor)
    return actor


def actor_of_token(runtime: Runtime, token: str) -> Actor:
    """`current_actor` for code in a worker thread (the admin pages' cookie)."""
    actor = _token_holder(runtime, token)
    return _not_erased(actor, actor.role is Role.PATIENT and runtime.keys.is_erased(actor.user_id))


async def current_actor(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("A bearer token is required.")
    actor = _token_holder(runtime, credentials.credentials)
    erased = False
    if actor.role is Role.PATIENT:
        known = runtime.keys.erased_in_memory(actor.user_id)
        erased = (
            known
            if known is not None
            else await to_thread.run_sync(runtime.keys.is_erased, actor.user_id)
        )
    return _not_erased(actor, erased)


ActorDep = Annotated[Actor, Depends(current_actor)]


def require(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency that admits only these roles (403 for any other)."""
    allowed = frozenset(roles)

    async def check(actor: ActorDep) -> Actor:
        if actor.role not in allowed:
            raise ProblemError(
                403,
                f"The role '{actor.role.value}' may not do this.",
                "forbidden",
            )
        return actor

    return check


def visible(actor: Actor, doc: dict[str, Any] | None, what: str, key: object) -> dict[str, Any]:
    """A read-model row the actor may see, or 404: another tenant's row does not exist."""
    if doc is None or not actor.can_see_tenant(_uuid_or_none(doc.get("tenantId"))):
        raise NotFoundError(f"No {what} with id {key}.")
    note_tenant(doc.get("tenantId"))
    return doc


def tenant_scope(runtime: Runtime, actor: Actor, tenant_id: uuid.UUID) -> str:
    """A tenant id from a path, if that tenant exists and the actor may see it; else 404."""
    if not actor.can_see_tenant(tenant_id) or runtime.views.tenants.get(str(tenant_id)) is None:
        raise NotFoundError(f"No tenant with id {tenant_id}.")
    note_tenant(tenant_id)
    return str(tenant_id)


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RequestFacts:
    """What a command records of the request that made it, whoever its actor turns out to
    be: a bearer token's holder, or (for a public survey link) the link's patient, known
    only once the link is looked up."""

    correlation_id: str
    causation_id: str
    idempotency_key: str | None
    fingerprint: str
    action: str | None = None  # the route's audit action, and its success status
    action_status: int | None = None

    def context(self, actor: Actor) -> CommandContext:
        return CommandContext(
            actor=actor,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            idempotency_key=self.idempotency_key,
            request_fingerprint=self.fingerprint,
            action=self.action,
            action_status=self.action_status,
        )


async def request_facts(
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
    correlation_id: Annotated[
        str | None, Header(alias="X-Correlation-ID", min_length=1, max_length=200)
    ] = None,
) -> RequestFacts:
    body = await request.body()
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.url.path.encode(), body])
    ).hexdigest()
    note = current()
    request_id = note.request_id if note is not None else str(uuid.uuid4())
    route = request.scope.get("route")
    action = ACTIONS.get(getattr(route, "name", ""))
    return RequestFacts(
        correlation_id=correlation_id or request_id,
        causation_id=f"request:{request_id}",
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        action=action.name if action is not None else None,
        action_status=getattr(route, "status_code", None) or 200,
    )


RequestDep = Annotated[RequestFacts, Depends(request_facts)]


async def command_context(actor: ActorDep, request: RequestDep) -> CommandContext:
    return request.context(actor)


CommandDep = Annotated[CommandContext, Depends(command_context)]


def read_model(name: str) -> Callable[..., Awaitable[None]]:
    """`?minPosition=N`: wait until read model `name` has processed position N, on the
    event loop (api/waits.py), holding no thread while it waits."""

    async def wait(
        request: Request,
        runtime: RuntimeDep,
        actor: ActorDep,
        min_position: Annotated[int | None, Query(alias="minPosition", ge=0)] = None,
    ) -> None:
        if min_position is None:
            return
        if min_position > await to_thread.run_sync(runtime.log.head):
            # Every position a client was given is at or below the head: waiting for one
            # beyond it could only end in a 503.
            raise ProblemError(
                422,
                f"Position {min_position} is beyond the head of the log.",
                "min-position-beyond-head",
                errors=[{"field": "minPosition", "in": "query", "message": "beyond the head"}],
            )
        waits: PositionWaits = request.app.state.waits
        timeout = runtime.settings.min_position_timeout_seconds
        try:
            reached = await waits.wait(
                str(actor.user_id),
                name,
                lambda: runtime.current(name, min_position),
                min_position,
                timeout,
            )
        except TooManyWaitsError:
            raise ProblemError(
                429,
                f"Too many `minPosition` waits at once for this caller "
                f"(at most {waits.per_caller}); retry when one has answered.",
                "too-many-waits",
                headers={"Retry-After": "1"},
            ) from None
        if not reached:
            raise ProblemError(
                503,
                f"The read model '{name}' has not reached position {min_position} yet.",
                "read-model-behind",
                headers={"Retry-After": "1"},
            )

    return wait
