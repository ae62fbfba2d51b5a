"""Queries of the Session Viewer read model."""

from __future__ import annotations

from projections.platform.store import Doc, ReadStore
from projections.workouts.projection import SESSIONS, WorkoutSessionProjection


class WorkoutView:
    name = WorkoutSessionProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def session(self, workout_id: str) -> Doc | None:
        """Any tenant's workout: the caller checks visibility and access."""
        return self.store.get(SESSIONS, workout_id)
