from __future__ import annotations

from domain.shared.errors import ConflictError, InvalidInputError, NotFoundError


class WorkoutFinalizedError(ConflictError):
    """The workout is finalized: its exercises can no longer be recorded."""


class WorkoutNotFinalizedError(ConflictError):
    """Therapist notes are for finalized workouts only."""


class UnknownExerciseError(NotFoundError):
    pass


class NoteNotFoundError(NotFoundError):
    pass


class InvalidWorkoutError(InvalidInputError):
    pass
