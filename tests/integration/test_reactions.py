"""The reaction platform: a process manager reacts to each event exactly once, its commands
and its position commit together, it names its cause, and it never decides on a read model
that has not reached the triggering event."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.feedback.policies import SUMMARY_POLICY
from domain.messaging.message import Message
from domain.outbox.delivery import Delivery
from domain.shared.eventlog import TrackingConflictError, metadata_of
from domain.shared.reactions import Reaction
from projections.platform.tail import LogTail
from tests.support.feedback import Clinic
from workers import reactions
from workers.reactions import ReactionFollower


@pytest.fixture(params=["sqlite", "postgresql"])
def clinic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Clinic]:
    c = Clinic(tmp_path / "data", backend=request.param)
    yield c
    c.close()


def summary_follower(clinic: Clinic, reaction: Reaction | None = None) -> ReactionFollower:
    rt = clinic.rt
    reaction = reaction or next(r for r in rt.reactions if r.name == SUMMARY_POLICY.name)
    return ReactionFollower(reaction, rt.log, rt.commands, rt.reached)


def hard_workouts(clinic: Clinic, count: int) -> list[uuid.UUID]:
    workouts = [clinic.workout([{"id": "e0", "pain": 9}]) for _ in range(count)]
    for workout in workouts:
        clinic.finalize(workout)
    return workouts


def of_type(clinic: Clinic, cls: type[Any]) -> list[Any]:
    return [e for e in clinic.events() if isinstance(e, cls)]


def test_every_finalized_workout_gets_one_card_however_often_the_follower_runs(
    clinic: Clinic,
) -> None:
    hard_workouts(clinic, 3)
    clinic.rt.catch_up()
    follower = summary_follower(clinic)
    follower.run_once()
    follower.run_once()
    summary_follower(clinic).run_once()  # a restarted process reads its position back
    assert len(of_type(clinic, Message.Posted)) == 3
    assert len(of_type(clinic, Delivery.Queued)) == 3  # one push to the one therapist
    assert follower.position() == clinic.rt.log.head()


def test_a_reaction_that_fails_mid_way_writes_neither_its_commands_nor_its_position(
    clinic: Clinic,
) -> None:
    hard_workouts(clinic, 2)
    clinic.rt.catch_up()
    real = next(r for r in clinic.rt.reactions if r.name == SUMMARY_POLICY.name)
    handled: list[Any] = []

    def crash_on_the_second(uow: Any, command: Any) -> object:
        handled.append(command)
        result = real.handle(uow, command)
        if len(handled) == 2:
            raise RuntimeError("the process died here")
        return result

    before = summary_follower(clinic).position()
    with pytest.raises(RuntimeError):
        summary_follower(clinic, Reaction(real.manager, crash_on_the_second)).run_once()
    assert of_type(clinic, Message.Posted) == []
    assert summary_follower(clinic).position() == before

    summary_follower(clinic).run_once()
    assert len(of_type(clinic, Message.Posted)) == 2


def test_two_followers_racing_react_to_each_event_once(clinic: Clinic) -> None:
    hard_workouts(clinic, 6)
    clinic.rt.catch_up()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def follow() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(5):
                try:
                    summary_follower(clinic).run_once()
                except TrackingConflictError:
                    continue
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=follow) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    posted = of_type(clinic, Message.Posted)
    assert len(posted) == len({p.originator_id for p in posted}) == 6


def test_a_reaction_continues_the_request_and_names_the_event_it_reacted_to(
    clinic: Clinic,
) -> None:
    hard_workouts(clinic, 1)
    clinic.rt.catch_up()
    summary_follower(clinic).run_once()
    finalized = [
        (n.id, clinic.rt.log.decode(n))
        for n in clinic.rt.log.read(0, 10_000)
        if type(clinic.rt.log.decode(n)).__qualname__ == "Workout.Finalized"
    ]
    [(position, event)] = finalized
    [card] = of_type(clinic, Message.Posted)
    assert metadata_of(card)["causationId"] == f"event:{position}"
    assert metadata_of(card)["correlationId"] == metadata_of(event)["correlationId"]
    assert metadata_of(card)["role"] == "system"


def test_a_process_manager_does_not_decide_before_its_read_model_has_the_event(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reactions, "NEED_WAIT_SECONDS", 0.05)
    hard_workouts(clinic, 1)
    follower = summary_follower(clinic)
    before = follower.position()
    assert follower.run_once() == 0  # the care-team read model is behind: wait, not guess
    assert follower.position() == before
    assert of_type(clinic, Message.Posted) == []
    clinic.rt.catch_up()
    assert follower.run_once() > 0
    assert len(of_type(clinic, Message.Posted)) == 1


def test_a_read_model_that_the_new_events_do_not_concern_counts_as_current(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reactions, "NEED_WAIT_SECONDS", 0.05)
    clinic.rt.catch_up()  # the care team is known; now only workouts happen
    hard_workouts(clinic, 2)
    assert clinic.rt.store.position("care_team") < clinic.rt.log.head()
    assert summary_follower(clinic).run_once() > 0
    assert len(of_type(clinic, Message.Posted)) == 2


def test_followers_sharing_a_tail_read_the_head_and_the_new_events_once_and_react_once(
    clinic: Clinic,
) -> None:
    rt = clinic.rt
    tail = LogTail(rt.log)
    followers = [
        ReactionFollower(r, rt.log, rt.commands, rt.reached, tail=tail) for r in rt.reactions
    ]
    for count, rounds in ((2, 1), (3, 2)):
        hard_workouts(clinic, count)
        rt.catch_up()
        tail.poke()
        head = rt.log.head()
        for follower in followers:
            follower.run_once()
        assert (tail.head_reads, tail.reads) == (rounds, rounds)
        assert all(f.position() >= head for f in followers)
    assert len(of_type(clinic, Message.Posted)) == 5
    assert len(of_type(clinic, Delivery.Queued)) == 5
    # Once more, nothing new of theirs: no reaction runs twice.
    tail.poke()
    for follower in followers:
        follower.run_once()
    assert len(of_type(clinic, Message.Posted)) == 5
