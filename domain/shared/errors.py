"""The error hierarchy every context extends; the API maps these to status codes in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. `detail` is safe to show to the caller."""

    title = "Domain error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(DomainError):
    """Unknown id, an id in another tenant, or one the caller may not see."""

    title = "Not found"


class ForbiddenError(DomainError):
    """Authenticated, but not allowed (role, inactive account, feature flag off)."""

    title = "Forbidden"


class FeatureDisabledError(ForbiddenError):
    title = "Feature disabled"

    def __init__(self, flag: str) -> None:
        super().__init__(f"The feature flag '{flag}' is not enabled for this tenant.", flag=flag)
        self.flag = flag


class ConflictError(DomainError):
    """The command conflicts with the current state."""

    title = "Conflict"


class InvalidInputError(DomainError):
    """Input that is well-formed but not acceptable; `errors` names the fields."""

    title = "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class IdempotencyKeyReusedError(InvalidInputError):
    title = "Idempotency key reused"


class GoneError(DomainError):
    title = "Gone"
