"""Actors of the feedback loop: translate a message into one command, nothing more."""

from __future__ import annotations

import uuid
from datetime import datetime

import dramatiq

import workers.broker  # noqa: F401  (the broker must exist before any actor)
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.workouts.window import FeedbackWindow
from projections.careteam.projection import CareTeamProjection
from projections.platform.runner import wait_for_position
from workers.context import get_runtime

# How long an actor waits for the care-team read model to reach the event that caused it.
TEAM_WAIT_SECONDS = 5.0


def care_team_candidates(patient_id: uuid.UUID, position: int) -> list[uuid.UUID]:
    """The therapists the care-team read model lists for the patient, once it has seen
    `position`; the command re-checks each one against its aggregate."""
    runtime = get_runtime()
    wait_for_position(runtime.store, CareTeamProjection.name, position, TEAM_WAIT_SECONDS)
    entry = runtime.views.care_team.team_of(str(patient_id))
    return [uuid.UUID(t["id"]) for t in entry[1]] if entry else []


@dramatiq.actor(queue_name="feedback", max_retries=5, min_backoff=200, max_backoff=10_000)
def summarize_workout(workout_id: str, patient_id: str, position: int) -> None:
    runtime = get_runtime()
    candidates = care_team_candidates(uuid.UUID(patient_id), position)
    ctx = CommandContext(actor=SYSTEM_ACTOR, causation_id=f"event:{position}")
    runtime.commands.run(
        ctx, lambda uow: runtime.feedback.summarize(uow, uuid.UUID(workout_id), candidates)
    )


@dramatiq.actor(queue_name="timers", max_retries=5, min_backoff=200, max_backoff=10_000)
def fire_window(window_id: str, deadline: str, position: int) -> None:
    fire(uuid.UUID(window_id), datetime.fromisoformat(deadline), f"event:{position}", position)


def fire(window_id: uuid.UUID, deadline: datetime, cause: str, position: int = 0) -> str:
    """Fire one window (from a wake-up message or the sweep); returns the outcome."""
    runtime = get_runtime()
    window = runtime.log.find(window_id)
    if not isinstance(window, FeedbackWindow):
        return "unknown"
    candidates = care_team_candidates(window.patient_id, position)
    ctx = CommandContext(actor=SYSTEM_ACTOR, causation_id=cause)
    outcome = runtime.commands.run(
        ctx, lambda uow: runtime.feedback.fire_window(uow, window_id, deadline, candidates)
    )
    return str(outcome.body["outcome"])
