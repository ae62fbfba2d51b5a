"""The feedback loop's process managers: given events / when event / then commands,
without a store. A decision is pure: it sees only the event, and it decides the same way
every time it sees it (a replay, a retry)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.feedback.policies import (
    NOTE_CARD_POLICY,
    SUMMARY_POLICY,
    PostNoteCard,
    SummarizeWorkout,
)
from domain.shared.reactions import ProcessManager
from domain.workouts.window import FeedbackWindow
from domain.workouts.workout import Workout

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WORKOUT = uuid.UUID("00000000-0000-4000-a000-00000000f001")
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
D1 = uuid.UUID("00000000-0000-4000-a000-00000000d001")


def events_of(*steps: Any) -> list[Any]:
    """The events an aggregate recorded through `steps` (the first makes it)."""
    aggregate = steps[0]()
    for step in steps[1:]:
        step(aggregate)
    return list(aggregate.collect_events())


def decisions(manager: ProcessManager, history: list[Any]) -> list[Any]:
    """What the process manager decides over a history: the platform hands it only the
    events it reacts to, one at a time."""
    return [
        command
        for event in history
        if isinstance(event, manager.reacts_to)
        for command in manager.decide(event)
    ]


def a_hard_workout() -> Workout:
    return Workout.start(
        WORKOUT, CLINIC, PATIENT, [{"exerciseId": "squat", "name": "Squat", "prescribed": {}}], T0
    )


def recorded_at_pain(pain: int) -> Any:
    return lambda w: w.record("squat", {"sets": 3}, pain, 5, None, T0 + timedelta(minutes=5))


def finalized(w: Workout) -> None:
    w.finalize(T0 + timedelta(minutes=30))


def a_window() -> FeedbackWindow:
    return FeedbackWindow.open(CLINIC, WORKOUT, D1, PATIENT, T0, 300)


def test_a_finalized_workout_is_summarized_once() -> None:
    history = events_of(a_hard_workout, recorded_at_pain(9), finalized)
    assert decisions(SUMMARY_POLICY, history) == [SummarizeWorkout(WORKOUT)]


def test_a_workout_still_in_progress_is_not_summarized() -> None:
    history = events_of(a_hard_workout, recorded_at_pain(9))
    assert decisions(SUMMARY_POLICY, history) == []


def test_finalizing_again_records_nothing_so_nothing_more_is_decided() -> None:
    history = events_of(a_hard_workout, recorded_at_pain(9), finalized, finalized)
    assert decisions(SUMMARY_POLICY, history) == [SummarizeWorkout(WORKOUT)]


def test_the_summary_decision_is_the_same_on_every_replay() -> None:
    history = events_of(a_hard_workout, recorded_at_pain(9), finalized)
    assert decisions(SUMMARY_POLICY, history) == decisions(SUMMARY_POLICY, history)


def test_an_elapsed_window_posts_its_card_for_the_deadline_it_elapsed_at() -> None:
    deadline = T0 + timedelta(seconds=300)
    history = events_of(a_window, lambda w: w.elapse(deadline, deadline))
    assert decisions(NOTE_CARD_POLICY, history) == [
        PostNoteCard(history[0].originator_id, deadline)
    ]


def test_a_window_that_is_only_opened_and_extended_posts_nothing_yet() -> None:
    history = events_of(a_window, lambda w: w.touch(T0 + timedelta(seconds=60), 300))
    assert decisions(NOTE_CARD_POLICY, history) == []


def test_a_window_extended_after_it_elapsed_posts_for_each_elapsing_deadline() -> None:
    first = T0 + timedelta(seconds=300)
    second = first + timedelta(seconds=300)
    history = events_of(
        a_window,
        lambda w: w.elapse(first, first),
        lambda w: w.touch(first, 300),
        lambda w: w.elapse(second, second),
    )
    window = history[0].originator_id
    assert decisions(NOTE_CARD_POLICY, history) == [
        PostNoteCard(window, first),
        PostNoteCard(window, second),
    ]


def test_both_policies_wait_for_the_care_team_read_model() -> None:
    assert SUMMARY_POLICY.needs == NOTE_CARD_POLICY.needs == ("care_team",)
