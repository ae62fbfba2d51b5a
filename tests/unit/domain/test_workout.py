"""The Workout aggregate, given events / when command / then events, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.privacy.personal import PersonalText
from domain.workouts.errors import (
    InvalidWorkoutError,
    NoteNotFoundError,
    UnknownExerciseError,
    WorkoutFinalizedError,
    WorkoutNotFinalizedError,
)
from domain.workouts.workout import Workout
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=30)
T2 = T0 + timedelta(hours=2)
WORKOUT = uuid.UUID("00000000-0000-4000-a000-00000000f001")
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
D1 = uuid.UUID("00000000-0000-4000-a000-00000000d001")
D2 = uuid.UUID("00000000-0000-4000-a000-00000000d002")
E1, E2 = "squat", "plank"

Step = Any


# -- given: a workout and the steps it went through ----------------------------------------


def a_workout() -> Workout:
    return Workout.start(
        WORKOUT,
        CLINIC,
        PATIENT,
        [
            {"exerciseId": E1, "name": "Squat", "prescribed": {"sets": 3, "painTarget": 3}},
            {"exerciseId": E2, "name": "Plank", "prescribed": {"holdSeconds": 30}},
        ],
        T0,
    )


def exercise_recorded(
    exercise_id: str = E1, pain: int | None = 4, notes: str | None = None
) -> Step:
    return lambda w: w.record(exercise_id, {"sets": 3}, pain, 5, notes, T1)


def finalized() -> Step:
    return lambda w: w.finalize(T1)


def note_saved(text: str = "Ease off next time.", doctor: uuid.UUID = D1) -> Step:
    return lambda w: w.save_note(E1, doctor, text, T2)


# -- starting --------------------------------------------------------------------------


def test_a_workout_starts_with_its_exercises_in_order_and_nothing_recorded() -> None:
    workout = given(a_workout())
    assert workout.order == [E1, E2]
    assert workout.exercises[E1]["prescribed"] == {"sets": 3, "painTarget": 3}
    assert workout.exercises[E1]["pain"] is None and workout.finalized_at is None


@pytest.mark.parametrize(
    "exercises",
    [[], [{"exerciseId": E1, "name": "Squat"}, {"exerciseId": E1, "name": "Squat again"}]],
    ids=["no-exercise", "the-same-exercise-twice"],
)
def test_a_workout_without_exercises_or_with_one_twice_is_rejected(
    exercises: list[dict[str, Any]],
) -> None:
    with pytest.raises(InvalidWorkoutError):
        Workout.start(WORKOUT, CLINIC, PATIENT, exercises, T0)


# -- recording and finalizing ------------------------------------------------------------


def test_recording_an_exercise_records_what_was_done() -> None:
    workout = given(a_workout())
    workout.record(E1, {"sets": 2, "reps": 8}, 8, 9, "Knee hurt", T1)
    assert names(new_events(workout)) == ["Workout.ExerciseRecorded"]
    assert workout.exercises[E1] | {"prescribed": None} == {
        "exerciseId": E1,
        "name": "Squat",
        "prescribed": None,
        "actual": {"sets": 2, "reps": 8},
        "pain": 8,
        "exertion": 9,
        "patientNotes": PersonalText(PATIENT, "Knee hurt"),
    }


def test_finalizing_twice_records_once() -> None:
    workout = given(a_workout(), exercise_recorded(), finalized())
    assert workout.finalize(T2) is False
    assert new_events(workout) == []
    assert workout.finalized_at == T1


def test_the_first_finalize_records_the_patient_and_the_time() -> None:
    workout = given(a_workout())
    assert workout.finalize(T1) is True
    [event] = new_events(workout)
    assert isinstance(event, Workout.Finalized)
    assert event.patient_id == PATIENT and event.timestamp == T1


def test_recording_after_finalize_is_rejected_and_records_nothing() -> None:
    workout = given(a_workout(), exercise_recorded(), finalized())
    with pytest.raises(WorkoutFinalizedError):
        workout.record(E1, {"sets": 1}, 2, 2, None, T2)
    assert new_events(workout) == []
    assert workout.exercises[E1]["actual"] == {"sets": 3}


@pytest.mark.parametrize(("pain", "exertion"), [(-1, 5), (11, 5), (5, -1), (5, 11)], ids=str)
def test_an_out_of_range_pain_or_exertion_is_rejected_and_records_nothing(
    pain: int, exertion: int
) -> None:
    workout = given(a_workout())
    with pytest.raises(InvalidWorkoutError):
        workout.record(E1, {}, pain, exertion, None, T1)
    assert new_events(workout) == []


@pytest.mark.parametrize("score", [0, 10])
def test_pain_and_exertion_of_0_and_10_are_accepted(score: int) -> None:
    workout = given(a_workout())
    workout.record(E1, {}, score, score, None, T1)
    assert names(new_events(workout)) == ["Workout.ExerciseRecorded"]


def test_recording_an_exercise_that_is_not_in_the_workout_is_rejected() -> None:
    workout = given(a_workout())
    with pytest.raises(UnknownExerciseError):
        workout.record("lunge", {}, 1, 1, None, T1)
    assert new_events(workout) == []


# -- therapist notes ---------------------------------------------------------------------


def test_a_note_on_a_finalized_workout_is_saved() -> None:
    workout = given(a_workout(), exercise_recorded(pain=8), finalized())
    assert workout.save_note(E1, D1, "Ease off next time.", T2) is True
    [event] = new_events(workout)
    assert isinstance(event, Workout.NoteSaved)
    assert (event.exercise_id, event.doctor_id, event.text, event.patient_id) == (
        E1,
        D1,
        PersonalText(PATIENT, "Ease off next time."),
        PATIENT,
    )
    assert workout.note_of(D1, E1) == PersonalText(PATIENT, "Ease off next time.")


def test_free_text_is_the_patients_personal_text_whoever_wrote_it() -> None:
    workout = given(a_workout(), exercise_recorded(notes="Knee hurt"))
    workout.report(3, 2, {"How was it?": "Hard"}, T1)
    workout.finalize(T1)
    workout.save_note(E1, D1, "Ease off.", T2)
    reported, _, noted = new_events(workout)
    assert reported.questionnaire == {"How was it?": PersonalText(PATIENT, "Hard")}
    assert noted.text == PersonalText(PATIENT, "Ease off.")
    assert workout.exercises[E1]["patientNotes"] == PersonalText(PATIENT, "Knee hurt")


def test_an_erased_note_replays_and_is_never_the_same_text_again() -> None:
    erased = PersonalText(PATIENT, None)
    workout = given(a_workout(), finalized(), note_saved("Well done."))
    workout.notes[str(D1)][E1] = erased  # as a replay after erasure reads it
    assert workout.save_note(E1, D1, "Well done.", T2) is True
    workout.delete_note(E1, D1, T2)
    assert workout.note_of(D1, E1) is None


def test_a_note_longer_than_1000_characters_is_rejected_and_records_nothing() -> None:
    workout = given(a_workout(), exercise_recorded(pain=8), finalized())
    with pytest.raises(InvalidWorkoutError):
        workout.save_note(E1, D1, "x" * 1001, T2)
    assert new_events(workout) == []


def test_a_note_of_exactly_1000_characters_is_accepted() -> None:
    workout = given(a_workout(), finalized())
    assert workout.save_note(E1, D1, "x" * 1000, T2) is True


@pytest.mark.parametrize("text", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
def test_a_blank_note_is_rejected_and_records_nothing(text: str) -> None:
    workout = given(a_workout(), finalized())
    with pytest.raises(InvalidWorkoutError):
        workout.save_note(E1, D1, text, T2)
    assert new_events(workout) == []


def test_saving_the_same_note_text_twice_records_once() -> None:
    workout = given(a_workout(), finalized(), note_saved("Well done."))
    assert workout.save_note(E1, D1, "Well done.", T2) is False
    assert new_events(workout) == []


def test_editing_a_note_records_the_new_text() -> None:
    workout = given(a_workout(), finalized(), note_saved("Well done."))
    assert workout.save_note(E1, D1, "Well done, keep the knee straight.", T2) is True
    assert names(new_events(workout)) == ["Workout.NoteSaved"]
    assert workout.note_of(D1, E1) == PersonalText(PATIENT, "Well done, keep the knee straight.")


def test_a_note_on_an_unfinalized_workout_is_rejected() -> None:
    workout = given(a_workout(), exercise_recorded())
    with pytest.raises(WorkoutNotFinalizedError):
        workout.save_note(E1, D1, "Too early.", T2)
    assert new_events(workout) == []


def test_a_note_on_an_exercise_that_is_not_in_the_workout_is_rejected() -> None:
    workout = given(a_workout(), finalized())
    with pytest.raises(UnknownExerciseError):
        workout.save_note("lunge", D1, "Which one?", T2)
    assert new_events(workout) == []


def test_deleting_a_note_removes_only_that_doctors_note() -> None:
    workout = given(a_workout(), finalized(), note_saved("Mine.", D1), note_saved("Theirs.", D2))
    workout.delete_note(E1, D1, T2)
    [event] = new_events(workout)
    assert isinstance(event, Workout.NoteDeleted) and event.doctor_id == D1
    assert workout.note_of(D1, E1) is None and workout.note_of(D2, E1) == PersonalText(
        PATIENT, "Theirs."
    )


def test_deleting_a_missing_note_is_rejected_and_records_nothing() -> None:
    workout = given(a_workout(), finalized(), note_saved("Theirs.", D2))
    with pytest.raises(NoteNotFoundError):
        workout.delete_note(E1, D1, T2)
    assert new_events(workout) == []


def test_deleting_a_note_twice_is_rejected_the_second_time() -> None:
    workout = given(a_workout(), finalized(), note_saved())
    workout.delete_note(E1, D1, T2)
    new_events(workout)
    with pytest.raises(NoteNotFoundError):
        workout.delete_note(E1, D1, T2)
    assert new_events(workout) == []
