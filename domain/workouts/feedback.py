"""What the feedback loop posts and pushes, as pure functions of a workout.

The texts are the spec's, to the letter: names are `firstName lastName` and `exercise(s)`
is literal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.privacy.personal import PersonalText
from domain.workouts.workout import Workout

HIGH_PAIN = 7
HIGH_EXERTION = 9

_NAMESPACE = uuid.UUID("9a3f6c1e-44b1-4f0e-8d7a-5b2c9e1f0a77")


def summary_card_id(workout_id: uuid.UUID) -> uuid.UUID:
    """The one summary card a workout can ever have."""
    return uuid.uuid5(_NAMESPACE, f"summary:{workout_id}")


def note_card_id(workout_id: uuid.UUID, doctor_id: uuid.UUID) -> uuid.UUID:
    """The one Doctor Feedback Note card per therapist per workout (revised in place)."""
    return uuid.uuid5(_NAMESPACE, f"doctor-note:{workout_id}:{doctor_id}")


def notification_id(message_id: uuid.UUID, recipient_id: uuid.UUID, revision: int = 1) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"push:{message_id}:{recipient_id}:{revision}")


def has_comment(notes: PersonalText | None) -> bool:
    """The patient left a note that is not blank. An erased note counts as one: it was
    left, and its words are gone (the decision never depends on whether they are)."""
    if notes is None:
        return False
    return notes.text is None or bool(notes.text.strip())


@dataclass(frozen=True)
class FlagRule:
    """When an exercise is flagged for the therapists: the spec's thresholds by default;
    an analyst's what-if rebuild may fold with others."""

    high_pain: float = HIGH_PAIN
    high_exertion: float = HIGH_EXERTION


SPEC_RULE = FlagRule()


def is_flagged(exercise: dict[str, Any], rule: FlagRule = SPEC_RULE) -> bool:
    """Pain >= 7, exertion >= 9, or a note that is not blank."""
    pain, exertion = exercise.get("pain"), exercise.get("exertion")
    return (
        (pain is not None and pain >= rule.high_pain)
        or (exertion is not None and exertion >= rule.high_exertion)
        or has_comment(exercise.get("patientNotes"))
    )


def flagged_exercises(workout: Workout) -> list[dict[str, Any]]:
    return [workout.exercises[e] for e in workout.order if is_flagged(workout.exercises[e])]


def workout_date(workout: Workout, timezone: str) -> str:
    """The day the patient did the workout, in their own time zone."""
    at: datetime = workout.finalized_at or workout.started_at
    return at.astimezone(ZoneInfo(timezone)).date().isoformat()


def headline(flagged: list[dict[str, Any]]) -> str:
    high_pain = any((e.get("pain") or 0) >= HIGH_PAIN for e in flagged)
    high_exertion = any((e.get("exertion") or 0) >= HIGH_EXERTION for e in flagged)
    if high_pain:
        return "High pain reported"
    if high_exertion:
        return "Very hard session reported"
    return "Patient left comments"


def summary_card(workout: Workout, timezone: str) -> dict[str, Any]:
    flagged = flagged_exercises(workout)
    rows = []
    for e in flagged:
        pain, exertion = e.get("pain"), e.get("exertion")
        row: dict[str, Any] = {
            "exerciseId": e["exerciseId"],
            "name": e["name"],
            "pain": pain,
            "painBadge": "red" if (pain or 0) >= HIGH_PAIN else "yellow",
            "exertion": exertion,
            "exertionBadge": "orange" if (exertion or 0) >= HIGH_EXERTION else "blue",
        }
        if has_comment(e.get("patientNotes")):
            row["patientNotes"] = e["patientNotes"]  # sealed: the patient's own words
        rows.append(row)
    return {
        "workoutId": str(workout.id),
        "workoutDate": workout_date(workout, timezone),
        "headline": headline(flagged),
        "exercises": rows,
    }


def summary_push(patient_name: str, flagged: list[dict[str, Any]]) -> tuple[str, str]:
    """(title, body) of the push each connected therapist receives."""
    high_pain = any((e.get("pain") or 0) >= HIGH_PAIN for e in flagged)
    title = f"{patient_name} reported high pain" if high_pain else f"{patient_name} left feedback"
    return title, f"{len(flagged)} exercise(s) flagged in their workout. Tap to view."


def doctor_note_card(
    workout: Workout, doctor_id: uuid.UUID, doctor_name: str, timezone: str
) -> dict[str, Any]:
    notes = workout.notes.get(str(doctor_id), {})
    exercises = [
        {"exerciseId": e, "name": workout.exercises[e]["name"], "note": notes[e]}
        for e in workout.order
        if e in notes
    ]
    return {
        "workoutId": str(workout.id),
        "workoutDate": workout_date(workout, timezone),
        "doctorId": str(doctor_id),
        "doctorName": doctor_name,
        "exercises": exercises,
    }


def doctor_note_push(doctor_name: str, noted: int) -> tuple[str, str]:
    return (
        "Your therapist reviewed your session",
        f"{doctor_name} left notes on {noted} exercise(s). Tap to view.",
    )
