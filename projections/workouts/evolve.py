"""Pure folds of the Session Viewer read model: one row per workout, one per doctor.

A workout row holds, per exercise, what was prescribed next to what was done, the pain and
exertion targets next to the recorded scores, the patient's notes, and one note per
therapist. A therapist note carries the doctor's name, looked up by the projection in its
own doctor table when the note is folded: a doctor always exists before their first note.

The patient's notes and the therapists' notes are the patient's personal text: copied
from the event as it is (`PersonalText`), so the row holds the event's ciphertext and an
erased patient's notes fold as erased values (shown null with `erased: true`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.people.staff import Staff, StaffType
from domain.workouts.feedback import SPEC_RULE, FlagRule, is_flagged
from domain.workouts.workout import Workout
from projections.platform.store import Doc

TARGETS = ("painTarget", "exertionTarget")


def evolve_doctor(row: Doc | None, event: Any) -> Doc | None:
    """The name of a doctor; other staff never leave notes, so they have no row."""
    if isinstance(event, Staff.Registered):
        if event.staff_type != StaffType.DOCTOR.value:
            return None
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "name": f"{event.first_name} {event.last_name}",
        }
    return row


def _exercise(planned: dict[str, Any]) -> Doc:
    prescribed = dict(planned.get("prescribed") or {})
    return {
        "exerciseId": planned["exerciseId"],
        "name": planned["name"],
        "prescribed": {k: v for k, v in prescribed.items() if k not in TARGETS},
        "actual": {},
        "painTarget": prescribed.get("painTarget"),
        "pain": None,
        "exertionTarget": prescribed.get("exertionTarget"),
        "exertion": None,
        "patientNotes": None,
        "therapistNotes": [],
    }


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _with_exercise(row: Doc, exercise_id: str, change: Callable[[Doc], Doc]) -> Doc:
    """The row with one exercise's fields updated by `change(exercise)`."""
    exercises = [
        {**e, **change(e)} if e["exerciseId"] == exercise_id else e for e in row["exercises"]
    ]
    return {**row, "exercises": exercises}


def evolve_workout(
    row: Doc | None, event: Any, doctor_name: str | None = None, rule: FlagRule = SPEC_RULE
) -> Doc | None:
    """`doctor_name` is the name of the doctor of a NoteSaved event, when known. `rule`
    decides which exercises are flagged: a finalized workout with a flagged exercise is
    one the feedback loop posts a summary card for (where the clinic has feedback
    notifications on and the patient a care team)."""
    if isinstance(event, Workout.Started):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "patientId": str(event.patient_id),
            "enrollmentId": _str_or_none(event.enrollment_id),
            "sessionId": _str_or_none(event.session_id),
            "startedAt": event.timestamp.isoformat(),
            "finalizedAt": None,
            "exercises": [_exercise(e) for e in event.exercises],
        }
    if row is None:
        return None
    if isinstance(event, Workout.ExerciseRecorded):
        return _with_exercise(
            row,
            event.exercise_id,
            lambda _: {
                "actual": dict(event.actual),
                "pain": event.pain,
                "exertion": event.exertion,
                "patientNotes": event.patient_notes,
                "flagged": is_flagged(
                    {
                        "pain": event.pain,
                        "exertion": event.exertion,
                        "patientNotes": event.patient_notes,
                    },
                    rule,
                ),
            },
        )
    if isinstance(event, Workout.Finalized):
        flagged = any(e.get("flagged") for e in row["exercises"])
        return {**row, "finalizedAt": event.timestamp.isoformat(), "flagged": flagged}
    if isinstance(event, Workout.NoteSaved):
        doctor = str(event.doctor_id)

        def saved(exercise: Doc) -> Doc:
            notes = exercise["therapistNotes"]
            previous = next((n for n in notes if n["doctorId"] == doctor), None)
            note = {
                "doctorId": doctor,
                "doctorName": doctor_name or (previous or {}).get("doctorName"),
                "text": event.text,
                "updatedAt": event.timestamp.isoformat(),
            }
            if previous is None:
                return {"therapistNotes": [*notes, note]}
            return {"therapistNotes": [note if n is previous else n for n in notes]}

        return _with_exercise(row, event.exercise_id, saved)
    if isinstance(event, Workout.NoteDeleted):
        doctor = str(event.doctor_id)

        def deleted(exercise: Doc) -> Doc:
            notes = exercise["therapistNotes"]
            return {"therapistNotes": [n for n in notes if n["doctorId"] != doctor]}

        return _with_exercise(row, event.exercise_id, deleted)
    return row
