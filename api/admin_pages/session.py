"""Who is looking at an admin page, and whether a form post really came from our page.

The credential is the API's own bearer token, either in the Authorization header or in
the session cookie that `POST /admin/login` sets. The cookie holds the token itself: it is
already signed and already expires, so a second signature would add nothing, and it is
checked exactly as the API checks a bearer token (`api.deps.current_actor`: signature,
expiry, role, tenant, an erased patient). It is HttpOnly (no script reads it),
`SameSite=Strict` (no other site's page sends it), `Path=/admin`, `Secure` over HTTPS, and
lives as long as the token does.

Every form carries a CSRF token: an HMAC of the credential under the JWT secret (and a
label, so it is never the same as any other MAC of the secret). Only a page we rendered
for that credential knows it; it needs no storage, changes when the token does, and a
logout or a new token voids it. The login form, which has no credential yet, is tied the
same way to a random nonce in a short-lived cookie of its own (docs/decisions/0030).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from fastapi import Request
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import Response

from api.auth import ALGORITHM
from api.deps import actor_of_token
from api.errors import ProblemError
from bootstrap.runtime import Runtime
from domain.shared.context import Actor

SESSION_COOKIE = "careloop_admin"
LOGIN_COOKIE = "careloop_admin_login"
COOKIE_PATH = "/admin"
LOGIN_NONCE_SECONDS = 600
CSRF_FIELD = "csrf"
_CSRF_LABEL = b"careloop admin pages: csrf\x00"
_LOGIN_LABEL = b"careloop admin pages: login csrf\x00"


@dataclass(frozen=True)
class Caller:
    """An admin page's caller: the actor, the token that proved it, and how it came."""

    actor: Actor
    token: str
    by_cookie: bool


class NotSignedInError(Exception):
    """No credential, or one that does not hold (expired, forged, erased).

    `by_cookie`: it was the session cookie (the page sends the browser to the login form
    and drops the cookie); otherwise a bearer header (the page answers 401)."""

    def __init__(self, detail: str, by_cookie: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.by_cookie = by_cookie


def bearer_token(request: Request) -> str | None:
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return None


def actor_of(runtime: Runtime, token: str) -> Actor:
    """The token's actor, by the API's own rule (and noted for the audit entry); raises
    ProblemError 401 as the API would."""
    return actor_of_token(runtime, token)


def caller(request: Request, runtime: Runtime) -> Caller:
    """The bearer header if there is one (as for the API), else the session cookie."""
    header = bearer_token(request)
    token = header if header is not None else request.cookies.get(SESSION_COOKIE)
    by_cookie = header is None
    if not token:
        raise NotSignedInError("Please sign in.", by_cookie=True)
    try:
        actor = actor_of(runtime, token)
    except ProblemError as e:
        raise NotSignedInError(e.detail, by_cookie) from None
    return Caller(actor, token, by_cookie)


# -- the cookie -------------------------------------------------------------------------


def is_https(request: Request) -> bool:
    # Uvicorn already rewrites the scheme from X-Forwarded-Proto for the proxies it trusts
    # (FORWARDED_ALLOW_IPS, the loopback by default); nothing else is trusted here.
    return request.url.scheme == "https"


def seconds_left(runtime: Runtime, token: str) -> int:
    """How long a token that was just checked still holds: the cookie's Max-Age, so the
    cookie never outlives its token."""
    claims = jwt.decode(token, runtime.settings.jwt_secret, algorithms=[ALGORITHM])
    return max(0, int(claims["exp"]) - int(datetime.now(UTC).timestamp()))


def set_session(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )


# -- CSRF -------------------------------------------------------------------------------


def _mac(secret: str, label: bytes, value: str) -> str:
    return hmac.new(secret.encode(), label + value.encode(), hashlib.sha256).hexdigest()


def csrf_token(runtime: Runtime, credential: str) -> str:
    """The CSRF token of a form rendered for this credential (a bearer token)."""
    return _mac(runtime.settings.jwt_secret, _CSRF_LABEL, credential)


def csrf_holds(runtime: Runtime, credential: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(runtime, credential), str(sent))


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf(runtime: Runtime, nonce: str) -> str:
    return _mac(runtime.settings.jwt_secret, _LOGIN_LABEL, nonce)


def login_csrf_holds(runtime: Runtime, nonce: str | None, sent: str | None) -> bool:
    if not nonce or not sent:
        return False
    return hmac.compare_digest(login_csrf(runtime, nonce), str(sent))


def set_login_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )
