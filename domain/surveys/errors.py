from __future__ import annotations

from domain.shared.errors import ConflictError, GoneError, InvalidInputError, NotFoundError


class InvalidTemplateError(InvalidInputError):
    title = "Invalid survey template"


class InvalidAnswersError(InvalidInputError):
    title = "Invalid answers"


class UnknownLinkError(NotFoundError):
    """No link has this token (or it was never issued)."""

    title = "Unknown link"


class LinkGoneError(GoneError):
    """The link was used already, or it expired."""

    title = "Link no longer valid"


class SurveyStateError(ConflictError):
    """The follow-up step does not fit the survey's state (not negative, no contact yet,
    already closed)."""

    title = "Survey state conflict"
