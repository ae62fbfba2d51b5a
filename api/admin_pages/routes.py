"""The admin pages: server-rendered HTML over the same functions the JSON API's routes
call, with the same roles and the same tenant rule (another tenant's ids are 404).

Each page is the twin of an API endpoint and is audited as that endpoint's action (a
toggle through the page is `feature_flag_set`, as through `PUT /v1/tenants/.../feature-
flags/...`). Every form posts back with a CSRF token and, on success, redirects (303) to
its page with `minPosition`, so the page shows what the command wrote. A refusal is a page
that says why, with the API's status: 401 (a bearer token that does not hold; a session
cookie that does not hold goes back to the login form), 403, 404, 409, 422, 503.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.admin_pages.session import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Caller,
    NotSignedInError,
    actor_of,
    caller,
    clear_session,
    csrf_holds,
    csrf_token,
    login_csrf,
    login_csrf_holds,
    new_login_nonce,
    seconds_left,
    set_login_nonce,
    set_session,
)
from api.deps import RequestDep, RuntimeDep, read_model, require
from api.errors import ProblemError
from api.routers import admin as admin_api
from api.routers import audit as audit_api
from api.routers import deliveries as deliveries_api
from api.routers import tenants as tenants_api
from api.routers.public_pages import FormFields
from api.schemas.audit import OutcomeOut
from api.schemas.people import FlagChange
from domain.shared.context import Role
from domain.shared.errors import DomainError
from projections.deliveries.projection import DeliveryProjection
from projections.tenants.projection import TenantProjection

PLATFORM_ADMIN, HOSPITAL_ADMIN, AUDITOR = Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN, Role.AUDITOR
# The roles of each page's API twin (api/routers/...): the page admits exactly those.
FLAG_READERS = (PLATFORM_ADMIN, HOSPITAL_ADMIN)  # get_feature_flags
FLAG_SETTERS = (PLATFORM_ADMIN,)  # set_feature_flag
AUDIT_READERS = (HOSPITAL_ADMIN, AUDITOR, PLATFORM_ADMIN)  # list_audit_entries
OPERATORS = (PLATFORM_ADMIN, HOSPITAL_ADMIN)  # list_projections, list/redeliver deliveries
REBUILDERS = (PLATFORM_ADMIN,)  # POST /v1/admin/projections/{name}/rebuild
ADMINS = (PLATFORM_ADMIN, HOSPITAL_ADMIN, AUDITOR)  # anyone with at least one page

AUDIT_PAGE_SIZE = 50
DELIVERY_PAGE_SIZE = 50
DELIVERY_STATUSES = ("pending", "sent", "failed", "dead", "skipped")

TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates" / "admin"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def _headers(nonce: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; connect-src 'self'; "
            "style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex, nofollow",
    }


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    who: Caller | None = None,
    **context: Any,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "who": who,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(request.app.state.runtime, who.token) if who else None,
            "nonce": nonce,
            "pages": _pages(who),
            **context,
        },
        status_code=status_code,
        headers=_headers(nonce),
    )
    return response


def _pages(who: Caller | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    role = who.actor.role
    pages = [
        ("/admin/feature-flags", "Feature flags", FLAG_READERS),
        ("/admin/audit", "Audit trail", AUDIT_READERS),
        ("/admin/projections", "Read models", OPERATORS),
        ("/admin/deliveries", "Deliveries", OPERATORS),
    ]
    return [(href, label) for href, label, roles in pages if role in roles]


TITLES = {
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    422: "Invalid input",
    429: "Too many requests",
    501: "Not available",
    503: "Unavailable",
}


def error_page(
    request: Request,
    status: int,
    detail: str,
    who: Caller | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "error.html",
        status,
        who,
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
    )
    response.headers.update(headers or {})
    return response


async def _as_api_would(request: Request, exc: Exception) -> tuple[int, str]:
    """The status and detail the API answers this error with: the app's own handler
    (api/errors.py) decides, so a page can never disagree with its API twin."""
    for cls in type(exc).__mro__:
        handler = request.app.exception_handlers.get(cls)
        if handler is not None:
            answer = await handler(request, exc)
            body = json.loads(bytes(answer.body))
            return int(answer.status_code), str(body.get("detail") or body.get("title"))
    raise exc


class PageRoute(APIRoute):
    """An admin page's route: every refusal is an HTML page, never problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedInError as e:
                if e.by_cookie:
                    return to_login(request)
                return error_page(request, 401, e.detail, None, {"WWW-Authenticate": "Bearer"})
            except RequestValidationError:
                return error_page(request, 422, "The page was asked for with invalid values.")
            except (DomainError, StarletteHTTPException) as e:
                status, detail = await _as_api_would(request, e)
                return error_page(request, status, detail, getattr(request.state, "who", None))

        return page_handler


def to_login(request: Request) -> RedirectResponse:
    """Back to the login form, then to where the browser was going."""
    going = request.url.path if request.method == "GET" else "/admin"
    if request.method == "GET" and request.url.query:
        going += "?" + request.url.query
    response = RedirectResponse(f"/admin/login?next={quote(going, safe='')}", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        clear_session(response, request)
    return response


router = APIRouter(include_in_schema=False, route_class=PageRoute)


# -- who may look ---------------------------------------------------------------------------


def signed_in(request: Request, runtime: RuntimeDep) -> Caller:
    who = caller(request, runtime)
    request.state.who = who  # for the refusal pages' navigation
    return who


SignedIn = Annotated[Caller, Depends(signed_in)]


def role(*roles: Role) -> Callable[[Caller], Coroutine[Any, Any, Caller]]:
    check = require(*roles)  # the API's own 403

    async def admitted(who: SignedIn) -> Caller:
        await check(who.actor)
        return who

    return admitted


class CsrfError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "The form's security token is missing or does not match this session. "
            "Reload the page and submit the form again.",
            "csrf",
        )


def posted(*roles: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A form post: signed in, its CSRF token matches the credential, then the roles."""
    check = require(*roles)

    async def admitted(request: Request, fields: FormFields, runtime: RuntimeDep) -> Caller:
        who = signed_in(request, runtime)
        if not csrf_holds(runtime, who.token, fields.get(CSRF_FIELD)):
            raise CsrfError()
        await check(who.actor)
        return who

    return admitted


def wait_for(name: str) -> Callable[..., Coroutine[Any, Any, None]]:
    """`?minPosition=N`: the API's own read-your-writes wait, for a page's caller."""
    wait = read_model(name)

    async def current(
        request: Request,
        runtime: RuntimeDep,
        who: SignedIn,
        min_position: Annotated[int | None, Query(alias="minPosition", ge=0)] = None,
    ) -> None:
        await wait(request, runtime, who.actor, min_position)

    return current


def _position(answer: Response) -> int | None:
    body = json.loads(bytes(answer.body)) if isinstance(answer, JSONResponse) else {}
    position = body.get("position")
    return int(position) if isinstance(position, int) else None


def back_to(path: str, **query: object) -> RedirectResponse:
    kept = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return RedirectResponse(f"{path}?{urlencode(kept)}" if kept else path, status_code=303)


# -- sign in and out --------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path of these pages: never another site (`//evil`, `https://...`)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin"


def login_form(
    request: Request, next_path: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    runtime = request.app.state.runtime
    nonce = new_login_nonce()
    response = render(
        request,
        "login.html",
        status,
        title="Sign in",
        login_csrf=login_csrf(runtime, nonce),
        next_path=_safe_next(next_path),
        error=error,
    )
    set_login_nonce(response, request, nonce)
    return response


@router.get("/admin/login", response_class=HTMLResponse)
def admin_login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> HTMLResponse:
    """The form where an admin pastes their token."""
    return login_form(request, next_path or "/admin")


@router.post("/admin/login")
def admin_login(request: Request, fields: FormFields, runtime: RuntimeDep) -> Response:
    """Checks the pasted token as the API would and keeps it in the session cookie."""
    next_path = _safe_next(fields.get("next"))
    if not login_csrf_holds(runtime, request.cookies.get(LOGIN_COOKIE), fields.get(CSRF_FIELD)):
        return error_page(
            request,
            403,
            "The sign-in form's security token is missing or has expired. "
            "Open the sign-in form again.",
        )
    token = fields.get("token", "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        return login_form(request, next_path, "Paste a token.", 422)
    try:
        actor = actor_of(runtime, token)
    except ProblemError as e:
        return login_form(request, next_path, e.detail, 401)
    if actor.role not in ADMINS:
        who = Caller(actor, token, by_cookie=False)
        return error_page(
            request,
            403,
            f"The role '{actor.role.value}' has no admin pages. Sign in with an admin's token.",
            who,
        )
    response = RedirectResponse(next_path, status_code=303)
    set_session(response, request, token, seconds_left(runtime, token))
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


@router.post("/admin/logout")
def admin_logout(request: Request, who: Annotated[Caller, Depends(posted(*Role))]) -> Response:
    """Drops the session cookie."""
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session(response, request)
    return response


@router.get("/admin", response_class=HTMLResponse)
def admin_index(request: Request, who: Annotated[Caller, Depends(role(*ADMINS))]) -> Response:
    """The pages this caller may open."""
    return render(request, "index.html", who=who, title="CareLoop admin")


# -- feature flags ---------------------------------------------------------------------------

TenantParam = Annotated[uuid.UUID | None, Query(alias="tenantId")]


@router.get(
    "/admin/feature-flags",
    response_class=HTMLResponse,
    dependencies=[Depends(wait_for(TenantProjection.name))],
)
def feature_flags_page(
    request: Request,
    who: Annotated[Caller, Depends(role(*FLAG_READERS))],
    runtime: RuntimeDep,
    tenant_id: TenantParam = None,
    changed: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """A tenant's flags, with a toggle each for a platform admin."""
    actor = who.actor
    if tenant_id is None and actor.tenant_id is not None:
        tenant_id = actor.tenant_id
    if tenant_id is None:  # a platform admin picks a tenant first
        tenants = tenants_api.list_tenants(actor, runtime)
        return render(request, "pick_tenant.html", who=who, title="Feature flags", tenants=tenants)
    flags = tenants_api.get_feature_flags(tenant_id, actor, runtime)["flags"]
    tenant = runtime.views.tenants.get(str(tenant_id)) or {}
    return render(
        request,
        "feature_flags.html",
        who=who,
        title="Feature flags",
        tenant_id=str(tenant_id),
        tenant_name=tenant.get("name", str(tenant_id)),
        flags=sorted(flags.items()),
        can_set=actor.role in FLAG_SETTERS,
        changed=changed,
    )


@router.post("/admin/feature-flags/{tenantId}/{flag}")
def set_feature_flag_page(
    tenantId: uuid.UUID,
    flag: str,
    fields: FormFields,
    who: Annotated[Caller, Depends(posted(*FLAG_SETTERS))],
    runtime: RuntimeDep,
    facts: RequestDep,
) -> Response:
    """Turns one flag on or off, as `PUT /v1/tenants/{id}/feature-flags/{flag}` does."""
    enabled = fields.get("enabled")
    if enabled not in ("true", "false"):
        raise ProblemError(422, "`enabled` must be true or false.", "invalid-input")
    answer = tenants_api.set_feature_flag(
        tenantId, flag, FlagChange(enabled=enabled == "true"), who.actor, runtime,
        facts.context(who.actor),
    )  # fmt: skip
    return back_to(
        "/admin/feature-flags",
        tenantId=tenantId,
        minPosition=_position(answer),
        changed=flag,
    )


# -- the audit trail -------------------------------------------------------------------------


def _utc(value: str | None, name: str, problems: dict[str, str]) -> datetime | None:
    """A `datetime-local` field, read as UTC (the form says so), or one with an offset."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems[name] = "Use a date and time such as 2026-01-31T08:00."
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    who: Annotated[Caller, Depends(role(*AUDIT_READERS))],
    runtime: RuntimeDep,
    tenant_id: TenantParam = None,
    actor_id: Annotated[str | None, Query(alias="actorId", max_length=100)] = None,
    subject_id: Annotated[str | None, Query(alias="subjectId", max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=20, pattern="^[1-9][0-9]*$")] = None,
) -> Response:
    """The trail newest first, filtered and paged as `GET /v1/audit`, and the chain's
    verification as `GET /v1/audit/verify`."""
    actor = who.actor
    problems: dict[str, str] = {}
    chosen = None
    if outcome:
        try:
            chosen = OutcomeOut(outcome)
        except ValueError:
            problems["outcome"] = "Choose one of the listed outcomes."
    start, end = _utc(since, "from", problems), _utc(until, "to", problems)
    filters = {
        "tenantId": str(tenant_id) if tenant_id else "",
        "actorId": actor_id or "",
        "subjectId": subject_id or "",
        "action": action or "",
        "outcome": outcome or "",
        "from": since or "",
        "to": until or "",
    }
    tenants = tenants_api.list_tenants(actor, runtime) if actor.is_platform_admin else []
    context: dict[str, Any] = {
        "title": "Audit trail",
        "filters": filters,
        "outcomes": [o.value for o in OutcomeOut],
        "tenants": tenants,
        "problems": problems,
    }
    if problems:
        return render(request, "audit.html", 422, who, items=None, verification=None, **context)
    found = audit_api.list_audit_entries(
        actor,
        runtime,
        tenant_id=tenant_id,
        actor_id=actor_id or None,
        subject_id=subject_id or None,
        action=action or None,
        outcome=chosen,
        since=start,
        until=end,
        cursor=cursor,
        limit=AUDIT_PAGE_SIZE,
    )
    verification = audit_api.verify_audit_chain(actor, runtime, tenant_id=tenant_id)
    kept = {k: v for k, v in filters.items() if v}
    older = (
        "/admin/audit?" + urlencode({**kept, "cursor": found["nextCursor"]})
        if found["nextCursor"]
        else None
    )
    newest = ("/admin/audit?" + urlencode(kept)) if cursor else None
    return render(
        request,
        "audit.html",
        who=who,
        items=found["items"],
        verification=verification,
        older=older,
        newest=newest,
        **context,
    )


# -- read models ----------------------------------------------------------------------------


def _rows(runtime: Any) -> tuple[list[dict[str, Any]], bool]:
    rows = admin_api.projection_rows(runtime)
    return rows, any(row.get("status") == "rebuilding" for row in rows)


@router.get("/admin/projections", response_class=HTMLResponse)
def projections_page(
    request: Request,
    who: Annotated[Caller, Depends(role(*OPERATORS))],
    runtime: RuntimeDep,
    started: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Each read model's position, lag and status; a rebuild button and its progress."""
    rows, rebuilding = _rows(runtime)
    return render(
        request,
        "projections.html",
        who=who,
        title="Read models",
        rows=rows,
        rebuilding=rebuilding,
        can_rebuild=who.actor.role in REBUILDERS,
        started=started,
    )


@router.get("/admin/projections/status")
def projections_status_page(
    request: Request, who: Annotated[Caller, Depends(role(*OPERATORS))], runtime: RuntimeDep
) -> Response:
    """The table's rows again, for the page's progress poll: `{rebuilding, rows}` with
    `rows` the rendered HTML of the table body."""
    rows, rebuilding = _rows(runtime)
    html = TEMPLATES.get_template("_projection_rows.html").render(
        rows=rows,
        can_rebuild=who.actor.role in REBUILDERS,
        csrf=csrf_token(runtime, who.token),
        csrf_field=CSRF_FIELD,
    )
    return JSONResponse(
        {"rebuilding": rebuilding, "rows": html}, headers={"Cache-Control": "no-store"}
    )


@router.post("/admin/projections/{name}/rebuild")
def rebuild_projection_page(
    name: str, who: Annotated[Caller, Depends(posted(*REBUILDERS))], runtime: RuntimeDep
) -> Response:
    """Starts a blue/green rebuild, as `POST /v1/admin/projections/{name}/rebuild`."""
    start = getattr(admin_api, "start_rebuild", None)
    if start is None:
        raise ProblemError(501, "Rebuilds are not available in this version.", "not-implemented")
    start(runtime, name)
    return back_to("/admin/projections", started=name)


# -- the outbox -----------------------------------------------------------------------------


@router.get(
    "/admin/deliveries",
    response_class=HTMLResponse,
    dependencies=[Depends(wait_for(DeliveryProjection.name))],
)
def deliveries_page(
    request: Request,
    who: Annotated[Caller, Depends(role(*OPERATORS))],
    runtime: RuntimeDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    redelivered: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The outbox by status (dead ones first to the eye), with every attempt."""
    if status and status not in DELIVERY_STATUSES:
        raise ProblemError(422, f"No delivery status '{status}'.", "invalid-input")
    found = deliveries_api.list_deliveries(
        who.actor,
        runtime,
        status=status or None,  # type: ignore[arg-type]  # checked just above
        channel=channel or None,
        cursor=cursor or None,
        limit=DELIVERY_PAGE_SIZE,
    )
    kept = {k: v for k, v in {"status": status, "channel": channel}.items() if v}
    older = (
        "/admin/deliveries?" + urlencode({**kept, "cursor": found["nextCursor"]})
        if found.get("nextCursor")
        else None
    )
    return render(
        request,
        "deliveries.html",
        who=who,
        title="Deliveries",
        items=found["items"],
        statuses=DELIVERY_STATUSES,
        status=status or "",
        channel=channel or "",
        older=older,
        first=("/admin/deliveries?" + urlencode(kept)) if cursor else None,
        redelivered=redelivered,
    )


@router.post("/admin/deliveries/{deliveryId}/redeliver")
def redeliver_page(
    deliveryId: uuid.UUID,
    fields: FormFields,
    who: Annotated[Caller, Depends(posted(*OPERATORS))],
    runtime: RuntimeDep,
    facts: RequestDep,
) -> Response:
    """Tries a dead delivery again, as `POST /v1/admin/deliveries/{id}/redeliver`."""
    answer = deliveries_api.redeliver(deliveryId, who.actor, runtime, facts.context(who.actor))
    status = fields.get("status", "")
    return back_to(
        "/admin/deliveries",
        status=status if status in DELIVERY_STATUSES else None,
        minPosition=_position(answer),
        redelivered=deliveryId,
    )
