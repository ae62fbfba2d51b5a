"""The one-summary-per-workout policy as a hypothesis state machine.

Rules: finalize, re-finalize, deliver the Finalized event (possibly again), crash the
process manager between deciding and posting and restart it, replay the whole log from
position 0, race two workers. Invariants: never more than one summary card per workout,
and exactly one once every finalized, flagged workout's event has been handled.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from unittest import mock

from eventsourcing.persistence import RecordConflictError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.messaging.message import Message, MessageType
from domain.shared.eventlog import EventLog
from domain.workouts.feedback import summary_card_id
from domain.workouts.workout import Workout
from tests.support.feedback import Clinic

WORKOUTS = 3
exercise = st.fixed_dictionaries(
    {
        "pain": st.integers(0, 10),
        "exertion": st.integers(0, 10),
        "notes": st.sampled_from([None, "", "   ", "Knee hurt on the last set"]),
    }
)


class Crash(Exception):
    pass


class SummaryPolicyMachine(RuleBasedStateMachine):
    @initialize(
        plans=st.lists(
            st.lists(exercise, min_size=1, max_size=3), min_size=WORKOUTS, max_size=WORKOUTS
        )
    )
    def a_patient_with_three_workouts(self, plans: list[list[dict[str, object]]]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="summary-sm-"))
        self.clinic = Clinic(self.dir)
        self.workouts: list[uuid.UUID] = []
        self.flagged: list[bool] = []
        for plan in plans:
            exercises = [{"id": f"e{i}", **e} for i, e in enumerate(plan)]
            self.workouts.append(self.clinic.workout(exercises))
            self.flagged.append(
                any(
                    (e["pain"] or 0) >= 7  # type: ignore[operator]
                    or (e["exertion"] or 0) >= 9  # type: ignore[operator]
                    or bool((e["notes"] or "").strip())  # type: ignore[union-attr]
                    for e in plan
                )
            )
        self.finalized: set[int] = set()
        self.handled: set[int] = set()

    def teardown(self) -> None:
        if hasattr(self, "clinic"):
            self.clinic.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(w=st.integers(0, WORKOUTS - 1))
    def finalize(self, w: int) -> None:
        body = self.clinic.finalize(self.workouts[w])
        assert body["alreadyFinalized"] is (w in self.finalized)
        self.finalized.add(w)

    @rule(w=st.integers(0, WORKOUTS - 1))
    def deliver_the_finalized_event(self, w: int) -> None:
        """At-least-once delivery: the same event may arrive any number of times."""
        self.clinic.summarize(self.workouts[w])
        if w in self.finalized:
            self.handled.add(w)

    @rule(w=st.integers(0, WORKOUTS - 1))
    def crash_between_deciding_and_posting_then_restart(self, w: int) -> None:
        with mock.patch.object(EventLog, "save", side_effect=Crash), contextlib.suppress(Crash):
            self.clinic.summarize(self.workouts[w])
        self.clinic.restart()
        self.deliver_the_finalized_event(w)

    @rule()
    def replay_from_position_zero(self) -> None:
        for event in self.clinic.events():
            if isinstance(event, Workout.Finalized):
                self.clinic.summarize(event.originator_id)

    @precondition(lambda self: bool(self.finalized))
    @rule(data=st.data())
    def two_workers_race(self, data: st.DataObject) -> None:
        w = data.draw(st.sampled_from(sorted(self.finalized)))
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker() -> None:
            barrier.wait()
            try:
                self.clinic.summarize(self.workouts[w])
            except RecordConflictError as e:  # pragma: no cover - the bus retries these
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        self.handled.add(w)

    def cards(self) -> dict[uuid.UUID, int]:
        counts: dict[uuid.UUID, int] = {}
        for event in self.clinic.events():
            if (
                isinstance(event, Message.Posted)
                and event.message_type == MessageType.PATIENT_FEEDBACK_SUMMARY
            ):
                workout = uuid.UUID(event.card["workoutId"])
                assert event.originator_id == summary_card_id(workout)
                counts[workout] = counts.get(workout, 0) + 1
        return counts

    @invariant()
    def at_most_one_card_per_workout(self) -> None:
        assert all(n == 1 for n in self.cards().values())

    @invariant()
    def exactly_one_card_for_each_handled_flagged_workout(self) -> None:
        cards = self.cards()
        for w, workout in enumerate(self.workouts):
            expected = 1 if (w in self.handled and self.flagged[w]) else 0
            if w in self.handled or w not in self.finalized:
                assert cards.get(workout, 0) == expected, (w, self.flagged[w])


SummaryPolicyMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_summary_policy_state_machine = SummaryPolicyMachine.TestCase
