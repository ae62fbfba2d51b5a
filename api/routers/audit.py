"""The audit trail, for a clinic's compliance officer and admins: entries filtered and
paged newest first, and the verification of the tenant's hash chain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import RuntimeDep, require, tenant_scope
from api.errors import ProblemError
from api.openapi import errors
from api.schemas.audit import AuditPage, AuditVerification, OutcomeOut
from bootstrap.runtime import Runtime
from domain.audit.entry import PLATFORM
from domain.audit.store import AuditFilter
from domain.shared.context import Actor, Role

router = APIRouter(prefix="/v1/audit", tags=["history"])

AuditReader = Annotated[
    Actor, Depends(require(Role.HOSPITAL_ADMIN, Role.AUDITOR, Role.PLATFORM_ADMIN))
]
TenantQuery = Annotated[
    uuid.UUID | None,
    Query(
        alias="tenantId",
        description="Platform admins: the tenant whose trail to read; without it, the "
        "platform's own chain (requests naming no tenant). Others: their own tenant only.",
    ),
]


def chain_of(runtime: Runtime, actor: Actor, tenant_id: uuid.UUID | None) -> str:
    """The chain the caller reads: their own tenant's; a platform admin's choice."""
    if not actor.is_platform_admin:
        if tenant_id is not None and tenant_id != actor.tenant_id:
            tenant_scope(runtime, actor, tenant_id)  # 404, as for an id that never existed
        return str(actor.tenant_id)
    if tenant_id is None:
        return PLATFORM
    return tenant_scope(runtime, actor, tenant_id)


_NO_TENANT = (404, "`tenantId` names no tenant the caller may read.")


@router.get("", response_model=AuditPage, responses=errors(_NO_TENANT))
def list_audit_entries(
    actor: AuditReader,
    runtime: RuntimeDep,
    tenant_id: TenantQuery = None,
    actor_id: Annotated[str | None, Query(alias="actorId", max_length=100)] = None,
    subject_id: Annotated[str | None, Query(alias="subjectId", max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    outcome: OutcomeOut | None = None,
    since: Annotated[
        datetime | None, Query(alias="from", description="recordedAt at or after")
    ] = None,
    until: Annotated[datetime | None, Query(alias="to", description="recordedAt before")] = None,
    cursor: Annotated[str | None, Query(max_length=20, pattern="^[1-9][0-9]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The tenant's audit entries, newest first, filtered on any of actor, subject,
    action, outcome and a time range (`from` inclusive, `to` exclusive); `nextCursor`
    pages on. Every filter is served by an index."""
    for name, value in (("from", since), ("to", until)):
        if value is not None and value.tzinfo is None:
            raise ProblemError(
                422,
                f"`{name}` needs a time zone offset.",
                "validation-failed",
                errors=[{"field": name, "in": "query", "message": "no time zone offset"}],
            )
    chain = chain_of(runtime, actor, tenant_id)
    found = runtime.audit.query(
        chain,
        AuditFilter(
            actor_id=actor_id,
            subject_id=subject_id,
            action=action,
            outcome=outcome.value if outcome is not None else None,
            since=since,
            until=until,
            before_seq=int(cursor) if cursor is not None else None,
        ),
        limit + 1,
    )
    page = found[:limit]
    return {
        "items": [entry.to_json() for entry in page],
        "nextCursor": str(page[-1].seq) if len(found) > limit else None,
    }


@router.get("/verify", response_model=AuditVerification, responses=errors(_NO_TENANT))
def verify_audit_chain(
    actor: AuditReader, runtime: RuntimeDep, tenant_id: TenantQuery = None
) -> Any:
    """Recomputes the tenant's keyed hash chain from its first entry: `verified` is false
    from the first entry changed, removed, inserted or reordered (`firstBrokenSeq`).
    It reads every entry (some 50,000 a second): for a long chain, the CLI
    (`careloop audit verify`) is the better tool."""
    chain = chain_of(runtime, actor, tenant_id)
    # The entries as stored: a column that no longer reads as an entry is a break too.
    result = runtime.integrity.entries.verify(chain)
    return {
        "verified": result.verified,
        "entries": result.entries,
        "headHash": result.head_hash,
        "firstBrokenSeq": result.first_broken_seq,
    }
