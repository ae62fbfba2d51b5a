"""The gate in front of every request body (docs/decisions/0015).

A pure ASGI middleware. It answers 431 for a request head over the limit before the app
runs at all. Everything else happens the first time the app asks for the body, which is
after routing (so the route is known) and before FastAPI parses anything; at that moment,
in this order, each before a byte of the body is read:

1. a route that needs a caller must carry a valid bearer token, or 401;
2. a declared `Content-Length` over the limit is 413;
3. the body is read while counting, 413 as soon as it passes the limit (chunked too);
4. a route that takes a JSON body must get strict JSON (`api.strict_json`), or 400/422.

A route that never asks for the body never has it read. Heads too large even to parse are
answered 431 by `api.server`, before they reach any ASGI code.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import strict_json
from api.auth import InvalidTokenError, tokens_for
from api.deps import current_actor
from api.errors import ProblemError, problem
from bootstrap.settings import Settings

# Headers of an answer given before the body was read: the connection cannot be reused,
# since the unread rest of the body would arrive where the next request should.
_CLOSE = {"Connection": "close"}


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        jwt_secret=settings.jwt_secret,
    )


class RequestLimitsMiddleware:
    """Auth before the body, a bounded body, strict JSON: see the module docstring."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_header_bytes: int, jwt_secret: str
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.tokens = tokens_for(jwt_secret)
        self._routes: dict[int, tuple[bool, bool]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if head > self.max_header_bytes:
            response = problem(
                431,
                f"The request line and headers are larger than {self.max_header_bytes} bytes.",
                "request-header-fields-too-large",
                headers=_CLOSE,
            )
            await response(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-length", "0").strip() == "0" and not headers.get(
            "transfer-encoding"
        ):
            await self.app(scope, receive, send)  # no body: nothing to gate
            return
        await self.app(scope, self._gated(scope, receive), send)

    def _gated(self, scope: Scope, receive: Receive) -> Receive:
        done = False

        async def gated_receive() -> Message:
            nonlocal done
            if done:
                return await receive()  # after the body: the server's disconnect, when it comes
            done = True
            body = await self._read_body(scope, receive)
            return {"type": "http.request", "body": body, "more_body": False}

        return gated_receive

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        headers = Headers(scope=scope)
        needs_a_caller, takes_json = self._route_facts(scope.get("route"))
        if needs_a_caller:
            self._check_caller(headers)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break  # the client left; the app sees what came and nobody gets the answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if takes_json and body and _is_json(headers):
            try:
                strict_json.loads(body)
            except strict_json.JsonBodyError as e:
                raise _json_problem(e) from None
        return body

    def _route_facts(self, route: Any) -> tuple[bool, bool]:
        """(needs an authenticated caller, parses a JSON body) for the route FastAPI chose."""
        if not isinstance(route, APIRoute):
            return False, False
        facts = self._routes.get(id(route))
        if facts is None:
            facts = (_needs_a_caller(route.dependant), route.body_field is not None)
            self._routes[id(route)] = facts
        return facts

    def _check_caller(self, headers: Headers) -> None:
        # The checks and words of `api.deps.current_actor`, which still runs afterwards.
        scheme, credentials = get_authorization_scheme_param(headers.get("authorization"))
        if scheme.lower() != "bearer" or not credentials:
            raise _unauthorized("A bearer token is required.")
        try:
            self.tokens.verify(credentials)
        except InvalidTokenError as e:
            raise _unauthorized(str(e)) from None

    def _too_large(self) -> ProblemError:
        return ProblemError(
            413,
            f"The request body is larger than {self.max_body_bytes} bytes.",
            "content-too-large",
            headers=_CLOSE,
            limit=self.max_body_bytes,
        )


def _needs_a_caller(dependant: Dependant) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call is current_actor:
            return True
        stack.extend(current.dependencies)
    return False


def _is_json(headers: Headers) -> bool:
    # FastAPI's own rule (with its default strict_content_type): application/json or
    # application/*+json; a body without a content type is not parsed at all.
    content_type = headers.get("content-type")
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, detail, "unauthorized", headers={"WWW-Authenticate": "Bearer", **_CLOSE}
    )


def _json_problem(e: strict_json.JsonBodyError) -> ProblemError:
    extra: dict[str, Any] = dict(e.extra)
    if isinstance(e, strict_json.DuplicateKeyError):
        extra["errors"] = [
            {"field": e.key, "in": "body", "message": e.detail, "type": "duplicate_key"}
        ]
    return ProblemError(e.status, e.detail, e.slug, title=e.title, **extra)
