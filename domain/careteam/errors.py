from __future__ import annotations

from domain.shared.errors import InvalidInputError, NotFoundError


class NotConnectedError(NotFoundError):
    """No such connection: the doctor is not (or no longer) on the patient's care team."""


class NotAssignableError(InvalidInputError):
    """The target exists in the tenant but cannot be assigned (not an active, approved DOCTOR)."""
