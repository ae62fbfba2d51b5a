"""HS256 JWTs: claims `sub`, `tenant` (absent for platform admins), `role`, `exp`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from domain.shared.context import Actor, Role

ALGORITHM = "HS256"
TOKEN_ROLES = frozenset(r for r in Role if r is not Role.SYSTEM)


class InvalidTokenError(Exception):
    pass


def mint_token(
    secret: str,
    user_id: uuid.UUID,
    role: Role,
    tenant_id: uuid.UUID | None,
    ttl_seconds: int,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "role": role.value,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    if tenant_id is not None:
        claims["tenant"] = str(tenant_id)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Actor:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
        role = Role(claims["role"])
        if role not in TOKEN_ROLES:
            raise ValueError("role")
        user_id = uuid.UUID(str(claims["sub"]))
        tenant = claims.get("tenant")
        tenant_id = uuid.UUID(str(tenant)) if tenant is not None else None
    except jwt.ExpiredSignatureError as e:
        raise InvalidTokenError("The token has expired.") from e
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as e:
        raise InvalidTokenError("The token is not valid.") from e
    if (tenant_id is None) != (role is Role.PLATFORM_ADMIN):
        raise InvalidTokenError("Only platform admins have no tenant.")
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id)
