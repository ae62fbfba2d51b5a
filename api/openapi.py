"""The OpenAPI document, made honest (docs/decisions/0018-openapi-errors.md).

FastAPI describes what a route returns when it succeeds and, for any route with a
parameter, a 422 in its own `HTTPValidationError` shape. CareLoop answers every error as
an RFC 9457 problem (`api.errors`), so this module finishes the document:

- each operation declares every error status it can answer, as `application/problem+json`
  with the one shared `Problem` schema. Most are implied by what the route depends on and
  are derived here, so they cannot drift from the code: a bearer token (401), a role
  check (403), a command (409 on a concurrent change, 422 on a reused Idempotency-Key,
  413 as it reads the body), the runtime (503 while the database cannot be reached), a
  `?minPosition=` wait (503 when the read model is behind, 429 past the caller's cap of
  waits), any parameter or body (422), a body (400 when it is not JSON, 413 when it is
  too large), any request (431). What only the handler knows (looking up an id: 404; a
  conflict with the state: 409) the route declares with `responses=errors(...)`;
- operation ids are the route functions' names in camelCase (`createTenant`), the names
  a generated client gives its methods;
- the description names every path the app serves that the document leaves out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api import deps
from api.errors import PROBLEM
from api.schemas.problem import Problem

PROBLEM_REF = "#/components/schemas/Problem"

# What each status means in CareLoop, whatever the operation.
MEANING: dict[int, str] = {
    400: "The body is not JSON (malformed, not UTF-8): `detail` says where, by line and column.",
    401: "No bearer token, or one that is invalid or expired (with `WWW-Authenticate`).",
    403: "The caller's role may not do this, or a feature flag it needs is off for the "
    "tenant (checked before any id is looked up).",
    404: "No such resource: an unknown id, an id of another tenant, or one the caller has "
    "no access to. Indistinguishable by design.",
    409: "The command conflicts with the current state, or lost to concurrent changes (try again).",
    410: "The resource existed and is gone for good (expired or used).",
    413: "The request body is over the size limit (1 MiB by default); refused before it is read.",
    422: "Invalid input: `errors` names each field. Also an Idempotency-Key reused with "
    "another request, or a `minPosition` beyond the head of the log.",
    429: "Too many `minPosition` waits at once for this caller: retry after `Retry-After` "
    "seconds, when one of them has answered.",
    431: "The request's headers are too large.",
    503: "Unavailable for now, nothing changed: the database cannot be reached, or the read "
    "model has not reached `minPosition` in time. Retry after `Retry-After` seconds.",
}


def operation_id(route: APIRoute) -> str:
    """`create_tenant` -> `createTenant`: the route function's name, in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


# Headers every problem of that status carries.
HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: the scheme to authenticate with.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or MEANING.get(status, "An error."),
        "content": {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def errors(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the problems only a route's handler knows it can answer, e.g.
    `errors(404)` or `errors((409, "The workout is finalized."))`. Those its dependencies
    imply are added to the document without being named here."""
    declared: dict[int | str, dict[str, Any]] = {}
    for entry in statuses:
        status, description = entry if isinstance(entry, tuple) else (entry, None)
        declared[status] = problem_response(status, description)
    return declared


# --- the statuses a route's dependencies imply ---------------------------------------

# `require(...)` and `read_model(...)` build a closure per route; all closures of one
# factory share its code object, which is how they are recognized here.
_ROLE_CHECK = deps.require().__code__
_READ_MODEL_WAIT = deps.read_model("").__code__


def _implied_by(call: Callable[..., Any] | None) -> set[int]:
    if call is deps.get_runtime:
        return {503}  # the database cannot be reached (api.errors)
    if call is deps.current_actor:
        return {401}
    if call is deps.request_facts:
        # ConflictError once the command lost to concurrent writers too often; 422 for an
        # Idempotency-Key reused with a different request; 413 because it reads the body
        # (its fingerprint), whether or not the route takes one.
        return {409, 413, 422}
    code = getattr(call, "__code__", object())
    if code is _ROLE_CHECK:
        return {403}
    if code is _READ_MODEL_WAIT:
        return {422, 429, 503}  # beyond the head; too many waits of one caller; behind
    return set()


def implied_errors(route: Any) -> set[int]:
    """The error statuses a route can answer because of what it depends on."""
    statuses = {431}
    pending = [route.dependant]
    has_input = route.body_field is not None
    while pending:
        dependant = pending.pop()
        statuses |= _implied_by(dependant.call)
        has_input = has_input or any(
            (
                dependant.path_params,
                dependant.query_params,
                dependant.header_params,
                dependant.cookie_params,
            )
        )
        pending.extend(dependant.dependencies)
    if has_input:
        statuses.add(422)
    if route.body_field is not None:
        statuses |= {400, 413}
    return statuses


# --- finishing the document ------------------------------------------------------------


def _documented_routes(app: FastAPI) -> Iterable[Any]:
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def _left_out(app: FastAPI) -> list[str]:
    """Paths the app serves that are not API operations: the documentation pages, their
    assets and this document (plain Starlette routes and mounts), and any API route
    excluded from the schema."""
    return sorted(
        {
            context.path
            for context in iter_route_contexts(app.routes)
            if context.path
            and not (isinstance(context.original_route, APIRoute) and context.include_in_schema)
        }
    )


def _is_problem(response: dict[str, Any]) -> bool:
    if "model" in response:
        return False
    return PROBLEM in response.get("content", {PROBLEM: None})


def complete(schema: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Finish FastAPI's document in place (idempotent): errors as problems, the Problem
    schema, the list of paths left out."""
    components = schema.setdefault("components", {})
    problem_schema = Problem.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}", mode="serialization"
    )
    defined = components.setdefault("schemas", {})
    defined.update(problem_schema.pop("$defs", {}))
    defined["Problem"] = problem_schema

    for route in _documented_routes(app):
        declared = {int(s): r for s, r in route.responses.items() if str(s).isdigit()}
        problems = {s for s, r in declared.items() if s >= 400 and _is_problem(r)}
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            responses = operation["responses"]
            for status in implied_errors(route) | problems:
                if status in declared and status not in problems:
                    continue  # the route documents this status with a body of its own
                own = declared.get(status, {})
                responses[str(status)] = problem_response(status, own.get("description"))
            operation["responses"] = dict(sorted(responses.items()))

    # FastAPI's own validation error shapes are never sent.
    text = json.dumps(schema["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}" not in text:
            defined.pop(name, None)
    components["schemas"] = dict(sorted(defined.items()))
    for scheme in components.get("securitySchemes", {}).values():
        if scheme.get("scheme") == "bearer":
            scheme["bearerFormat"] = "JWT"

    left_out = _left_out(app)
    description = (
        f"{app.description}\n\n"
        "Every error is an RFC 9457 problem (`application/problem+json`, schema `Problem`), "
        "and every operation lists each status it can answer."
    )
    if left_out:
        description += (
            "\n\nServed but not described here, because they are not JSON API operations "
            "(the documentation pages, their assets, this document): "
            + ", ".join(f"`{path}`" for path in left_out)
            + "."
        )
    schema["info"]["description"] = description
    return schema


def install(app: FastAPI) -> None:
    """Serve the finished document: FastAPI builds (and caches) its own, this finishes
    each one it builds."""
    build = app.openapi
    lock = threading.Lock()
    finished: list[int] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        with lock:
            if finished[-1:] != [id(schema)]:
                complete(schema, app)
                finished[:] = [id(schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
