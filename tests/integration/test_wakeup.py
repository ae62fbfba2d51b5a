"""A new event reaches a read model promptly because the runner is woken, not because it
polls: with its fallback poll set to 30 s, the event still arrives within 5 s.

On PostgreSQL the event is written by another process's event log (so no in-process poke
can help) and only LISTEN/NOTIFY can wake the runner. On SQLite the event log pokes the
hub in-process. No assertion here is about speed beyond these generous bounds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bootstrap.runtime import postgres_env
from domain.people.tenant import Tenant
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.shared.eventlog import EventLog
from projections.platform.runner import ProjectionRunner, wait_for_position
from projections.platform.wakeup import PostgresListener, WakeHub
from tests.support.app import make_runtime
from tests.support.ledger import Ledger

POLL_SECONDS = 30.0
WITHIN_SECONDS = 5.0
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Watched(threading.Event):
    """A runner's wake-up event that also tells the test when the runner is asleep."""

    def __init__(self, inner: threading.Event) -> None:
        super().__init__()
        self.inner = inner
        self.asleep = threading.Event()

    def set(self) -> None:
        self.inner.set()

    def is_set(self) -> bool:
        return self.inner.is_set()

    def clear(self) -> None:
        self.inner.clear()

    def wait(self, timeout: float | None = None) -> bool:
        self.asleep.set()
        try:
            return self.inner.wait(timeout)
        finally:
            self.asleep.clear()

    def settled_asleep(self) -> bool:
        """True once the runner has slept undisturbed for a moment (stray pokes done)."""
        deadline = time.monotonic() + WITHIN_SECONDS
        while time.monotonic() < deadline:
            if self.asleep.wait(timeout=0.05):
                time.sleep(0.2)
                if self.asleep.is_set():
                    return True
        return False


@contextmanager
def following(runner: ProjectionRunner, wake: Watched) -> Iterator[None]:
    """`runner.run_forever` with a 30 s poll, in a thread, stopped on exit."""
    stop = threading.Event()
    thread = threading.Thread(
        target=runner.run_forever, args=(wake, stop, POLL_SECONDS), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        wake.set()
        thread.join(timeout=5)
        assert not thread.is_alive()


def a_tenant() -> Tenant:
    return Tenant(id=uuid.uuid4(), name="Riverside", timestamp=T0)


def test_on_postgres_notify_wakes_a_runner_whose_poll_is_30_seconds(tmp_path: Path) -> None:
    with make_runtime("postgresql", tmp_path) as rt:
        assert rt.settings.database_url
        hub = WakeHub()  # not wired to this process's event log: only NOTIFY pokes it
        stop_listening = threading.Event()
        listener = PostgresListener(rt.settings.database_url, rt.event_channel, hub, stop_listening)
        listener.start()
        other_process = EventLog(env=postgres_env(rt.settings, create_tables=False))
        try:
            assert listener.listening.wait(WITHIN_SECONDS)
            runner = ProjectionRunner(Ledger(), rt.log, rt.store)
            wake = Watched(hub.subscribe())
            with following(runner, wake):
                assert wake.settled_asleep()

                position = other_process.record([a_tenant()], CommandContext(SYSTEM_ACTOR), T0)

                assert position is not None
                assert wait_for_position(rt.store, Ledger.name, position, WITHIN_SECONDS)
        finally:
            stop_listening.set()
            listener.join(timeout=5)
            other_process.close()


def test_on_sqlite_the_in_process_hub_wakes_a_runner_whose_poll_is_30_seconds(
    tmp_path: Path,
) -> None:
    with make_runtime("sqlite", tmp_path) as rt:
        runner = ProjectionRunner(Ledger(), rt.log, rt.store)
        wake = Watched(rt.hub.subscribe())
        with following(runner, wake):
            assert wake.settled_asleep()

            outcome = rt.commands.run(
                CommandContext(SYSTEM_ACTOR), lambda uow: rt.people.create_tenant(uow, "R")
            )

            assert wait_for_position(rt.store, Ledger.name, outcome.position, WITHIN_SECONDS)


def test_a_runner_that_is_not_woken_waits_for_its_poll(tmp_path: Path) -> None:
    """The control: the same runner, on a hub nothing pokes, has not seen the event yet."""
    with make_runtime("sqlite", tmp_path) as rt:
        runner = ProjectionRunner(Ledger(), rt.log, rt.store)
        wake = Watched(WakeHub().subscribe())
        with following(runner, wake):
            assert wake.settled_asleep()
            position = rt.log.record([a_tenant()], CommandContext(SYSTEM_ACTOR), T0)
            assert position is not None
            assert not wait_for_position(rt.store, Ledger.name, position, timeout=0.5)
