"""The Session Viewer read model as a pure fold: (row, event) -> row, without a database."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from domain.people.staff import Staff, StaffType
from domain.privacy.personal import PersonalText
from domain.workouts.workout import Workout
from projections.platform.store import Doc
from projections.workouts.evolve import evolve_doctor, evolve_workout

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=30)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)
WORKOUT = uuid.UUID("00000000-0000-4000-a000-00000000f001")
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
ENROLLMENT = uuid.UUID("00000000-0000-4000-a000-00000000b001")
SESSION = uuid.UUID("00000000-0000-4000-a000-00000000b002")
D1 = uuid.UUID("00000000-0000-4000-a000-00000000d001")
D2 = uuid.UUID("00000000-0000-4000-a000-00000000d002")


def pure(row: Doc | None, event: Any, doctor_name: str | None = None) -> Doc | None:
    """Apply one event and check the fold left its input row untouched."""
    before = copy.deepcopy(row)
    after = evolve_workout(row, event, doctor_name)
    assert row == before, "a fold must not change the row it was given"
    return after


def fold(events: Iterable[Any], names: dict[uuid.UUID, str] | None = None) -> Doc | None:
    names = names or {}

    def step(row: Doc | None, event: Any) -> Doc | None:
        doctor = getattr(event, "doctor_id", None)
        return pure(row, event, names.get(doctor) if doctor else None)

    return reduce(step, events, None)


# -- events, made by the aggregate itself ------------------------------------------------


def workout(*then: Callable[[Workout], object], plan: bool = False) -> list[Any]:
    w = Workout.start(
        WORKOUT,
        CLINIC,
        PATIENT,
        [
            {
                "exerciseId": "squat",
                "name": "Squat",
                "prescribed": {"sets": 3, "reps": 10, "painTarget": 3, "exertionTarget": 6},
            },
            {"exerciseId": "plank", "name": "Plank", "prescribed": {"holdSeconds": 30}},
        ],
        T0,
        enrollment_id=ENROLLMENT if plan else None,
        session_id=SESSION if plan else None,
    )
    for command in then:
        command(w)
    return list(w.collect_events())


def recorded(w: Workout) -> None:
    w.record("squat", {"sets": 2, "reps": 8}, 8, 9, "Knee hurt on the way down", T1)


def finalized(w: Workout) -> None:
    w.finalize(T1)


def noted(doctor: uuid.UUID, text: str, at: datetime = T2) -> Callable[[Workout], object]:
    return lambda w: w.save_note("squat", doctor, text, at)


def note_deleted(doctor: uuid.UUID) -> Callable[[Workout], object]:
    return lambda w: w.delete_note("squat", doctor, T3)


def squat(row: Doc | None) -> Doc:
    assert row is not None
    exercise: Doc = row["exercises"][0]
    assert exercise["exerciseId"] == "squat"
    return exercise


# -- the workout row ---------------------------------------------------------------------


def test_a_started_workout_shows_prescriptions_and_targets_and_nothing_recorded() -> None:
    row = fold(workout(plan=True))
    assert row == {
        "id": str(WORKOUT),
        "tenantId": str(CLINIC),
        "patientId": str(PATIENT),
        "enrollmentId": str(ENROLLMENT),
        "sessionId": str(SESSION),
        "startedAt": T0.isoformat(),
        "finalizedAt": None,
        "exercises": [
            {
                "exerciseId": "squat",
                "name": "Squat",
                "prescribed": {"sets": 3, "reps": 10},
                "actual": {},
                "painTarget": 3,
                "pain": None,
                "exertionTarget": 6,
                "exertion": None,
                "patientNotes": None,
                "therapistNotes": [],
            },
            {
                "exerciseId": "plank",
                "name": "Plank",
                "prescribed": {"holdSeconds": 30},
                "actual": {},
                "painTarget": None,
                "pain": None,
                "exertionTarget": None,
                "exertion": None,
                "patientNotes": None,
                "therapistNotes": [],
            },
        ],
    }


def test_a_workout_outside_a_plan_has_no_enrollment_or_session() -> None:
    row = fold(workout())
    assert row is not None and row["enrollmentId"] is None and row["sessionId"] is None


def test_a_recorded_exercise_shows_actual_next_to_prescribed_and_scores_next_to_targets() -> None:
    row = fold(workout(recorded, finalized))
    assert row is not None and row["finalizedAt"] == T1.isoformat()
    exercise = squat(row)
    assert exercise["prescribed"] == {"sets": 3, "reps": 10}
    assert exercise["actual"] == {"sets": 2, "reps": 8}
    assert (exercise["painTarget"], exercise["pain"]) == (3, 8)
    assert (exercise["exertionTarget"], exercise["exertion"]) == (6, 9)
    assert exercise["patientNotes"] == PersonalText(PATIENT, "Knee hurt on the way down")
    assert row["exercises"][1]["actual"] == {}, "the other exercise is untouched"


def test_recording_an_exercise_again_replaces_what_was_recorded() -> None:
    events = workout(recorded, lambda w: w.record("squat", {"sets": 3}, None, 4, None, T1))
    exercise = squat(fold(events))
    assert (exercise["actual"], exercise["pain"], exercise["exertion"]) == ({"sets": 3}, None, 4)
    assert exercise["patientNotes"] is None


def test_a_therapist_note_carries_the_doctors_name_and_when_it_was_saved() -> None:
    row = fold(workout(recorded, finalized, noted(D1, "Ease off.")), {D1: "Maya Lind"})
    assert squat(row)["therapistNotes"] == [
        {
            "doctorId": str(D1),
            "doctorName": "Maya Lind",
            "text": PersonalText(PATIENT, "Ease off."),
            "updatedAt": T2.isoformat(),
        }
    ]


def test_an_edited_note_replaces_the_doctors_note_in_place() -> None:
    events = workout(finalized, noted(D1, "First."), noted(D2, "Other."), noted(D1, "Second.", T3))
    notes = squat(fold(events, {D1: "Maya Lind", D2: "Tomas Reyes"}))["therapistNotes"]
    assert [(n["doctorName"], n["text"].text, n["updatedAt"]) for n in notes] == [
        ("Maya Lind", "Second.", T3.isoformat()),
        ("Tomas Reyes", "Other.", T2.isoformat()),
    ]


def test_an_edit_keeps_the_name_it_had_when_the_name_is_not_given_again() -> None:
    first = fold(workout(finalized, noted(D1, "First.")), {D1: "Maya Lind"})
    [edit] = workout(finalized, noted(D1, "First."), noted(D1, "Second."))[-1:]
    assert squat(pure(first, edit))["therapistNotes"][0]["doctorName"] == "Maya Lind"


def test_a_deleted_note_disappears_and_other_doctors_notes_stay() -> None:
    events = workout(finalized, noted(D1, "Mine."), noted(D2, "Theirs."), note_deleted(D1))
    notes = squat(fold(events, {D1: "Maya Lind", D2: "Tomas Reyes"}))["therapistNotes"]
    assert [n["doctorId"] for n in notes] == [str(D2)]


def test_an_erased_patients_notes_fold_as_erased_values_and_everything_else_stays() -> None:
    def erased(event: Any) -> Any:
        # What the transcoder hands back once the patient's key is destroyed.
        for name in ("patient_notes", "text"):
            if isinstance(getattr(event, name, None), PersonalText):
                object.__setattr__(event, name, PersonalText(PATIENT, None, b"sealed"))
        return event

    events = [erased(e) for e in workout(recorded, finalized, noted(D1, "Ease off."))]
    exercise = squat(fold(events, {D1: "Maya Lind"}))
    assert exercise["patientNotes"].erased and exercise["therapistNotes"][0]["text"].erased
    assert (exercise["pain"], exercise["exertion"]) == (8, 9)
    assert exercise["therapistNotes"][0]["updatedAt"] == T2.isoformat()


def test_events_of_a_workout_never_started_leave_no_row() -> None:
    events = workout(recorded, finalized)
    assert fold(events[1:]) is None


# -- the doctor names --------------------------------------------------------------------


def registered(staff_type: StaffType) -> Any:
    staff = Staff(
        id=D1,
        tenant_id=CLINIC,
        staff_type=staff_type.value,
        first_name="Maya",
        last_name="Lind",
        email="maya@riverside.example",
        timestamp=T0,
    )
    [event] = staff.collect_events()
    return event


def test_a_registered_doctor_is_known_by_first_and_last_name() -> None:
    assert evolve_doctor(None, registered(StaffType.DOCTOR)) == {
        "id": str(D1),
        "tenantId": str(CLINIC),
        "name": "Maya Lind",
    }


def test_other_staff_have_no_row_in_the_doctor_names() -> None:
    assert evolve_doctor(None, registered(StaffType.PX_ADMIN)) is None
    assert evolve_doctor(None, registered(StaffType.HOSPITAL_ADMIN)) is None
