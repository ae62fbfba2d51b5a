"""The coalescing window's deadline: given events / when a wake-up / then events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.shared.deadlines import Deadline
from domain.workouts.window import FEEDBACK_WINDOW, FeedbackWindow
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DUE = T0 + timedelta(seconds=300)
IDS = [uuid.UUID(int=i) for i in range(1, 5)]


def a_window() -> FeedbackWindow:
    return FeedbackWindow.open(IDS[0], IDS[1], IDS[2], IDS[3], T0, 300)


def test_a_wakeup_at_the_current_deadline_elapses_the_window() -> None:
    window = given(a_window())
    window.elapse(DUE, DUE + timedelta(milliseconds=3))
    assert names(new_events(window)) == ["FeedbackWindow.Elapsed"]
    assert window.is_elapsed_at(DUE)


def test_an_early_wakeup_does_nothing() -> None:
    window = given(a_window())
    window.elapse(DUE, DUE - timedelta(milliseconds=1))
    assert new_events(window) == []


def test_a_stale_wakeup_for_a_moved_deadline_does_nothing() -> None:
    window = given(a_window(), lambda w: w.touch(T0 + timedelta(seconds=10), 300))
    window.elapse(DUE, DUE + timedelta(seconds=20))
    assert new_events(window) == []


def test_a_duplicate_wakeup_elapses_the_window_once() -> None:
    window = given(a_window(), lambda w: w.elapse(DUE, DUE))
    window.elapse(DUE, DUE)
    assert new_events(window) == []


def test_a_note_after_the_window_elapsed_moves_the_deadline_and_withholds_the_card() -> None:
    window = given(a_window(), lambda w: w.elapse(DUE, DUE))
    window.touch(DUE + timedelta(seconds=1), 300)
    assert names(new_events(window)) == ["FeedbackWindow.Extended"]
    assert not window.is_elapsed_at(DUE)


def test_each_event_leaves_the_deadline_the_scheduler_needs() -> None:
    window = a_window()
    window.touch(T0 + timedelta(seconds=5), 300)
    moved = T0 + timedelta(seconds=305)
    window.elapse(moved, moved)
    window.close("posted", moved)
    opened, extended, elapsed, closed = window.collect_events()
    assert opened.next_deadline() == Deadline(FEEDBACK_WINDOW, window.id, DUE)
    assert extended.next_deadline() == Deadline(FEEDBACK_WINDOW, window.id, moved)
    assert elapsed.next_deadline() is None
    assert closed.next_deadline() is None
