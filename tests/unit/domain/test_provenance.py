"""Provenance as a pure trace over a fake log: given events, then the chain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.shared.deadlines import Deadline, SetsDeadline
from domain.shared.provenance import parse_deadline_cause, trace

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WORKOUT, CARD, PUSH, WINDOW = (uuid.uuid4() for _ in range(4))


def meta(cause: str | None, correlation: str = "c-1") -> dict[str, Any]:
    return {"actorId": "a", "role": "patient", "correlationId": correlation, "causationId": cause}


@dataclass(frozen=True)
class Recorded:
    originator_id: uuid.UUID
    timestamp: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


class Workout:
    class Finalized(Recorded):
        pass

    class NoteSaved(Recorded):
        pass


class Message:
    class Posted(Recorded):
        pass


class Delivery:
    class Queued(Recorded):
        pass


@dataclass(frozen=True)
class _WindowEvent(Recorded, SetsDeadline):
    due: datetime | None = None
    deadline_kind = "feedback_window"

    def next_deadline(self) -> Deadline | None:
        return Deadline(self.deadline_kind, self.originator_id, self.due) if self.due else None


class FeedbackWindow:
    class Opened(_WindowEvent):
        pass

    class Extended(_WindowEvent):
        pass

    class Elapsed(_WindowEvent):
        pass

    class Closed(_WindowEvent):
        pass


class FakeLog:
    def __init__(self, *events: Recorded) -> None:
        self.events = {position: event for position, event in enumerate(events, start=1)}

    def events_of(self, aggregate_id: uuid.UUID) -> Sequence[tuple[int, Any]]:
        return [(p, e) for p, e in self.events.items() if e.originator_id == aggregate_id]

    def event_at(self, position: int) -> Any | None:
        return self.events.get(position)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def deadline_cause(window: uuid.UUID, due: datetime) -> str:
    return f"deadline:feedback_window:{window}@{due.isoformat()}"


def chain_of(log: FakeLog, aggregate_id: uuid.UUID) -> list[tuple[int, str, str | None]]:
    return [(s.position, s.type, s.causation_id) for s in trace(log, aggregate_id)]


def test_a_request_caused_creation_is_a_chain_of_one_naming_the_request() -> None:
    log = FakeLog(Workout.Finalized(WORKOUT, at(0), meta("request:r1")))
    assert chain_of(log, WORKOUT) == [(1, "Workout.Finalized", "request:r1")]


def test_an_unknown_id_has_no_chain() -> None:
    assert trace(FakeLog(Workout.Finalized(WORKOUT, at(0), meta("request:r1"))), CARD) == []


def test_a_card_leads_back_through_the_event_it_reacted_to_and_a_push_through_its_card() -> None:
    log = FakeLog(
        Workout.Finalized(WORKOUT, at(0), meta("request:r1")),
        Message.Posted(CARD, at(0), meta("event:1")),
        Delivery.Queued(PUSH, at(0), meta("event:2")),
    )
    assert chain_of(log, PUSH) == [
        (1, "Workout.Finalized", "request:r1"),
        (2, "Message.Posted", "event:1"),
        (3, "Delivery.Queued", "event:2"),
    ]
    steps = trace(log, PUSH)
    assert [s.aggregate_type for s in steps] == ["Workout", "Message", "Delivery"]
    assert [s.aggregate_id for s in steps] == [WORKOUT, CARD, PUSH]
    assert {s.correlation_id for s in steps} == {"c-1"}


def test_a_deadline_leads_back_to_the_event_that_set_it_not_to_a_later_one() -> None:
    first_due, moved_due = at(5), at(7)
    log = FakeLog(
        Workout.NoteSaved(WORKOUT, at(0), meta("request:r1")),
        FeedbackWindow.Opened(WINDOW, at(0), meta("request:r1"), due=first_due),
        Workout.NoteSaved(WORKOUT, at(2), meta("request:r2")),
        FeedbackWindow.Extended(WINDOW, at(2), meta("request:r2"), due=moved_due),
        FeedbackWindow.Elapsed(WINDOW, at(7), meta(deadline_cause(WINDOW, moved_due))),
        Message.Posted(CARD, at(7), meta("event:5")),
    )
    assert chain_of(log, CARD) == [
        (4, "FeedbackWindow.Extended", "request:r2"),
        (5, "FeedbackWindow.Elapsed", deadline_cause(WINDOW, moved_due)),
        (6, "Message.Posted", "event:5"),
    ]


def test_a_deadline_no_event_set_leads_back_to_the_aggregates_latest_earlier_event() -> None:
    log = FakeLog(
        FeedbackWindow.Opened(WINDOW, at(0), meta("request:r1"), due=at(5)),
        FeedbackWindow.Extended(WINDOW, at(1), meta("request:r2"), due=None),
        FeedbackWindow.Elapsed(WINDOW, at(9), meta(deadline_cause(WINDOW, at(9)))),
        FeedbackWindow.Opened(WINDOW, at(10), meta("request:r3"), due=at(9)),
        Message.Posted(CARD, at(9), meta("event:3")),
    )
    assert [p for p, _, _ in chain_of(log, CARD)] == [2, 3, 5]


def test_the_chain_ends_at_a_system_path_an_unreadable_cause_or_a_missing_event() -> None:
    for cause in (None, "sweep", "event:x", "event:99", "deadline:nonsense"):
        log = FakeLog(Message.Posted(CARD, at(0), meta(cause)))
        assert chain_of(log, CARD) == [(1, "Message.Posted", cause)]


def test_a_cycle_ends_the_chain_once_every_event_is_in_it() -> None:
    log = FakeLog(
        Message.Posted(CARD, at(0), meta("event:2")),
        Workout.Finalized(WORKOUT, at(0), meta("event:1")),
    )
    assert chain_of(log, CARD) == [
        (2, "Workout.Finalized", "event:1"),
        (1, "Message.Posted", "event:2"),
    ]


def test_a_chain_is_capped_at_its_limit_keeping_the_nearest_causes() -> None:
    ids = [uuid.uuid4() for _ in range(150)]
    events = [Message.Posted(ids[0], at(0), meta("request:r1"))]
    events += [Message.Posted(ids[i], at(0), meta(f"event:{i}")) for i in range(1, 150)]
    log = FakeLog(*events)
    chain = trace(log, ids[-1])
    assert len(chain) == 100
    assert chain[-1].aggregate_id == ids[-1] and chain[0].position == 51


def test_a_deadline_cause_names_its_kind_aggregate_and_due_time() -> None:
    cause = f"deadline:delivery:{PUSH}@{at(3).isoformat()}"
    assert parse_deadline_cause(cause) == ("delivery", PUSH, at(3))
    assert parse_deadline_cause("deadline:delivery@x") is None
