"""Every error leaves as application/problem+json (RFC 9457), mapped here and only here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.shared.errors import (
    ConflictError,
    DomainError,
    FeatureDisabledError,
    ForbiddenError,
    GoneError,
    InvalidInputError,
    NotFoundError,
)
from domain.shared.pool_checks import suspect

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

_STATUS_OF: list[tuple[type[DomainError], int, str]] = [
    (NotFoundError, 404, "not-found"),
    (FeatureDisabledError, 403, "feature-disabled"),
    (ForbiddenError, 403, "forbidden"),
    (ConflictError, 409, "conflict"),
    (InvalidInputError, 422, "invalid-input"),
    (GoneError, 410, "gone"),
]

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    431: "Request header fields too large",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemError(StarletteHTTPException):
    """An HTTP-level problem raised by the API layer itself (auth, read-model waits, the
    request gate). An HTTPException so that it also passes through FastAPI's reading of
    the body, which turns any other exception raised there into a bare 400; its own
    handler below still answers it, with every field."""

    def __init__(
        self,
        status: int,
        detail: str,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status, detail, headers)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug or _TITLES.get(status, "error").lower().replace(" ", "-")
        self.headers = headers
        self.extra = extra


def problem(
    status: int,
    detail: str,
    slug: str,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_document(status, detail, slug, title, errors, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def problem_document(
    status: int,
    detail: str,
    slug: str,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The RFC 9457 body itself, for the places that write a response without Starlette."""
    body: dict[str, Any] = {
        "type": f"urn:careloop:problem:{slug}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {
                "field": ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc),
                "in": loc[0] if loc else "body",
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
        )
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        for cls, status, slug in _STATUS_OF:
            if isinstance(exc, cls):
                errors = exc.errors if isinstance(exc, InvalidInputError) else None
                return problem(status, exc.detail, slug, exc.title, errors, **exc.extra)
        return problem(400, exc.detail, "domain-error", exc.title)

    @app.exception_handler(ProblemError)
    async def problem_error(_: Request, exc: ProblemError) -> JSONResponse:
        return problem(
            exc.status, exc.detail, exc.slug, exc.title, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            422, "The request did not validate.", "validation", errors=_field_errors(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail),
            _TITLES.get(exc.status_code, "error").lower().replace(" ", "-"),
            headers=getattr(exc, "headers", None),
        )

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("the database is unavailable: %s", type(exc).__name__)
        suspect()  # the pools check each connection before its next use
        return problem(
            503,
            "The database is unavailable; nothing was changed. Try again shortly.",
            "unavailable",
            headers={"Retry-After": "1"},
        )

    # Registered per class (not under `Exception`, whose handler Starlette runs and then
    # re-raises, which makes the server drop the keep-alive connection).
    for cls in _UNAVAILABLE:
        app.add_exception_handler(cls, unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            return await unavailable(request, exc)
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Something went wrong on our side.", "internal")


_UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
)


def is_unavailable(exc: BaseException) -> bool:
    """The database is down or unreachable (not a bug of ours): the command did not
    commit, so the caller may retry it as it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _UNAVAILABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
