from __future__ import annotations

from domain.shared.errors import ConflictError, ForbiddenError, InvalidInputError


class InvalidPlanError(InvalidInputError):
    title = "Invalid treatment plan"


class PlanStateError(ConflictError):
    title = "Treatment plan state conflict"


class EnrollmentStateError(ConflictError):
    title = "Enrollment state conflict"


class AccessDeniedError(ForbiddenError):
    """The patient's service plan does not grant this (telerehab or library access)."""

    title = "No access"
