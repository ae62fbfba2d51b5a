from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from domain.people.staff import Staff
from domain.workouts.feedback import HIGH_EXERTION, HIGH_PAIN, FlagRule
from domain.workouts.workout import Workout
from projections.platform.projection import Batch, Measure, Parameter, Projection
from projections.workouts.evolve import evolve_doctor, evolve_workout

SESSIONS = "workout_session"
DOCTORS = "workout_doctor"

WORKOUT_EVENTS = (
    Workout.Started,
    Workout.ExerciseRecorded,
    Workout.Finalized,
    Workout.NoteSaved,
    Workout.NoteDeleted,
)


class WorkoutSessionProjection(Projection):
    """The Session Viewer: each workout with its exercises and therapist notes, and the
    names of the tenant's doctors that those notes show."""

    name = "workout_session"
    tables = (SESSIONS, DOCTORS)
    handles = (Staff.Registered, *WORKOUT_EVENTS)
    parameters: ClassVar[Mapping[str, Parameter]] = {
        "high_pain": Parameter(HIGH_PAIN, "pain score from which an exercise is flagged"),
        "high_exertion": Parameter(HIGH_EXERTION, "exertion from which an exercise is flagged"),
    }
    measures: ClassVar[Mapping[str, Measure]] = {
        "flagged_workouts": Measure(
            SESSIONS,
            "finalized workouts with a flagged exercise: a summary card each, where the "
            "clinic has feedback notifications on and the patient a care team",
            lambda doc: int(bool(doc.get("flagged"))),
            when="finalizedAt",
        ),
        "flagged_exercises": Measure(
            SESSIONS,
            "flagged exercises of finalized workouts: the rows of those summary cards",
            lambda doc: (
                sum(1 for e in doc["exercises"] if e.get("flagged"))
                if doc.get("finalizedAt")
                else 0
            ),
            when="finalizedAt",
        ),
    }

    @cached_property
    def rule(self) -> FlagRule:
        return FlagRule(self.params["high_pain"], self.params["high_exertion"])

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        batch.prefetch(
            SESSIONS,
            (
                str(e.originator_id)
                for e in events
                if isinstance(e, WORKOUT_EVENTS) and not isinstance(e, Workout.Started)
            ),
        )
        batch.prefetch(
            DOCTORS, (str(e.doctor_id) for e in events if isinstance(e, Workout.NoteSaved))
        )

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        if isinstance(event, Staff.Registered):
            doctor = evolve_doctor(None, event)
            if doctor is not None:
                batch.put(DOCTORS, key, doctor["tenantId"], doctor)
            return
        name = None
        if isinstance(event, Workout.NoteSaved):
            doctor = batch.get(DOCTORS, str(event.doctor_id))
            name = doctor["name"] if doctor else None
        row = evolve_workout(batch.get(SESSIONS, key), event, name, self.rule)
        if row is not None:
            batch.put(SESSIONS, key, row["tenantId"], row)
