from __future__ import annotations

from domain.shared.errors import ForbiddenError, InvalidInputError, NotFoundError


class UnknownFlagError(NotFoundError):
    pass


class StaffNotActiveError(ForbiddenError):
    """An unapproved or inactive staff member may not act."""


class InvalidTimezoneError(InvalidInputError):
    pass
