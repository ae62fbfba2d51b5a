"""The feedback loop's process managers, as pure decisions.

- The summary policy: a finalized workout may need its one PATIENT_FEEDBACK_SUMMARY card.
- The note-card policy: a therapist's coalescing window elapsed, so their notes are due
  as one DOCTOR_FEEDBACK_NOTE card.

Whether the card is posted (flagged exercises, the feature flag, a care team) is the
command's to check against current aggregates; both need the care-team read model to
have reached the triggering event, for the therapists it lists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.shared.reactions import ProcessManager
from domain.workouts.window import FeedbackWindow
from domain.workouts.workout import Workout

CARE_TEAM = "care_team"


@dataclass(frozen=True)
class SummarizeWorkout:
    workout_id: uuid.UUID


@dataclass(frozen=True)
class PostNoteCard:
    window_id: uuid.UUID
    deadline: datetime


def decide_summary(event: Workout.Finalized) -> list[SummarizeWorkout]:
    return [SummarizeWorkout(event.originator_id)]


def decide_note_card(event: FeedbackWindow.Elapsed) -> list[PostNoteCard]:
    return [PostNoteCard(event.originator_id, event.deadline)]


SUMMARY_POLICY = ProcessManager(
    name="summary_policy",
    reacts_to=(Workout.Finalized,),
    decide=decide_summary,
    needs=(CARE_TEAM,),
)

NOTE_CARD_POLICY = ProcessManager(
    name="note_card_policy",
    reacts_to=(FeedbackWindow.Elapsed,),
    decide=decide_note_card,
    needs=(CARE_TEAM,),
)

PROCESS_MANAGERS = (SUMMARY_POLICY, NOTE_CARD_POLICY)
