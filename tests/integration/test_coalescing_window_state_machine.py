"""The coalescing window as a hypothesis state machine, on a fake clock, driven through
the real reaction platform: deadlines fire through `Elapse`, the note-card process manager
runs in a `ReactionFollower`.

Rules: save, edit or delete a note; advance time; deliver a wake-up (late, twice, or stale);
run the scheduler's due query; run the process managers; restart the process (between the
window elapsing and its card, too). Invariants: no card before the latest note plus the
window; exactly one card or revision per closed window; the card equals the notes at close.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.messaging.message import Message
from domain.workouts.errors import NoteNotFoundError
from domain.workouts.feedback import note_card_id
from domain.workouts.window import FeedbackWindow, window_id
from domain.workouts.workout import Workout
from tests.support.feedback import WINDOW, Clinic

EXERCISES = ["e0", "e1", "e2"]
texts = st.sampled_from(["Good form", "Slow down the descent", "Ice afterwards"])


class CoalescingWindowMachine(RuleBasedStateMachine):
    @initialize()
    def a_finalized_workout_and_its_therapist(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="window-sm-"))
        self.clinic = Clinic(self.dir)
        self.workout = self.clinic.workout([{"id": e, "pain": 3} for e in EXERCISES])
        self.clinic.finalize(self.workout)
        self.doctor = self.clinic.doctors[0]
        self.window = window_id(self.workout, self.doctor)
        self.card = note_card_id(self.workout, self.doctor)
        self.notes: dict[str, str] = {}
        self.wakeups: list[datetime] = []
        self.deadline: datetime | None = None
        self.open = False
        self.elapsed = False  # the window elapsed; its card waits for the process manager

    def teardown(self) -> None:
        if hasattr(self, "clinic"):
            self.clinic.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def now(self) -> datetime:
        return self.clinic.clock.now()

    def touched(self) -> None:
        self.deadline = self.now + timedelta(seconds=WINDOW)
        self.wakeups.append(self.deadline)
        self.open = True
        self.elapsed = False

    def elapse(self, scheduled: datetime) -> None:
        self.clinic.elapse(self.window, scheduled)

    # -- rules ---------------------------------------------------------------------

    @rule(exercise=st.sampled_from(EXERCISES), text=texts)
    def save_or_edit_a_note(self, exercise: str, text: str) -> None:
        rt = self.clinic.rt
        self.clinic.run(
            self.clinic.doctor(0),
            lambda u: rt.workouts.save_note(u, self.workout, exercise, text),
        )
        if self.notes.get(exercise) != text:
            self.notes[exercise] = text
            self.touched()

    @rule(exercise=st.sampled_from(EXERCISES))
    def delete_a_note(self, exercise: str) -> None:
        rt = self.clinic.rt

        def delete() -> None:
            self.clinic.run(
                self.clinic.doctor(0), lambda u: rt.workouts.delete_note(u, self.workout, exercise)
            )

        if exercise not in self.notes:
            with pytest.raises(NoteNotFoundError):
                delete()
            return
        delete()
        del self.notes[exercise]
        self.touched()

    @rule(seconds=st.sampled_from([1, 30, WINDOW - 1, WINDOW, WINDOW + 1, 2 * WINDOW]))
    def advance_time(self, seconds: float) -> None:
        self.clinic.clock.advance(seconds)

    @precondition(lambda self: bool(self.wakeups))
    @rule(data=st.data(), twice=st.booleans())
    def deliver_a_wakeup(self, data: st.DataObject, twice: bool) -> None:
        """Any wake-up ever scheduled, perhaps stale, perhaps late, perhaps twice."""
        scheduled = data.draw(st.sampled_from(self.wakeups))
        due = self.open and not self.elapsed and scheduled == self.deadline
        due = due and self.now >= scheduled
        fired = self.clinic.elapse(self.window, scheduled)
        assert fired is due, (fired, due)
        if due:
            self.elapsed = True
        if twice:
            assert self.clinic.elapse(self.window, scheduled) is False

    @rule()
    def the_scheduler_fires_what_is_due(self) -> None:
        self.clinic.rt.catch_up()
        for deadline in self.clinic.rt.views.deadlines.due(self.now):
            if deadline.id == self.window:
                assert self.clinic.elapse(deadline.id, deadline.due_at)
                self.elapsed = True
        assert not (self.open and not self.elapsed and self.now >= (self.deadline or self.now))

    @rule()
    def the_process_managers_run(self) -> None:
        self.clinic.react()
        if self.elapsed:
            self.open = self.elapsed = False

    @rule()
    def restart(self) -> None:
        self.clinic.restart()

    # -- invariants ----------------------------------------------------------------

    def card_events(self) -> list[Message.Posted | Message.Revised]:
        return [
            e
            for e in self.clinic.events()
            if isinstance(e, Message.Posted | Message.Revised) and e.originator_id == self.card
        ]

    @invariant()
    def no_card_before_the_latest_note_plus_the_window(self) -> None:
        last_note: datetime | None = None
        for event in self.clinic.events():
            if isinstance(event, Workout.NoteSaved | Workout.NoteDeleted):
                last_note = event.timestamp
            if (
                isinstance(event, Message.Posted | Message.Revised)
                and event.originator_id == self.card
            ):
                assert last_note is not None
                assert event.timestamp >= last_note + timedelta(seconds=WINDOW)

    @invariant()
    def exactly_one_card_or_revision_per_closed_window(self) -> None:
        closes = [
            e.outcome
            for e in self.clinic.events()
            if isinstance(e, FeedbackWindow.Closed) and e.originator_id == self.window
        ]
        changed = [o for o in closes if o in ("posted", "revised", "withdrawn")]
        assert len(self.card_events()) == len(changed)

    @invariant()
    def the_card_equals_the_notes_at_close(self) -> None:
        window = self.clinic.rt.log.find(self.window)
        assert (window is not None and window.is_open) is self.open
        assert (window is not None and window.elapsed) is self.elapsed
        if self.open:
            return
        card = self.clinic.rt.log.find(self.card)
        if card is None:
            assert not self.notes or window is None
            return
        shown = {e["exerciseId"]: e["note"].text for e in card.card["exercises"]}
        assert shown == self.notes
        assert card.card.get("withdrawn", False) is (not self.notes)


CoalescingWindowMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_coalescing_window_state_machine = CoalescingWindowMachine.TestCase
