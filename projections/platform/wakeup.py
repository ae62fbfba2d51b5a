"""Waking projection runners as soon as an event is committed.

In one process (the embedded default) the event log pokes the hub after each commit. On
PostgreSQL the library's recorder sends NOTIFY on the events table's channel with every
insert; a listener thread turns those into pokes, so runners in other processes wake
within milliseconds too. Runners still poll once a second, in case a notification is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class WakeHub:
    def __init__(self) -> None:
        self._events: list[threading.Event] = []
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def add_callback(self, callback: Callable[[], None]) -> None:
        """Called (in the poking thread) on every poke, before the subscribed threads are
        woken: for waiters that are not threads, and for what those threads will look at
        (the log tail's head; projections/platform/tail.py)."""
        with self._lock:
            self._callbacks.append(callback)

    def subscribe(self) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._events.append(event)
        return event

    def poke(self, *_: Any) -> None:
        with self._lock:
            events = list(self._events)
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()
        for event in events:
            event.set()


class PostgresListener(threading.Thread):
    """LISTEN on the event log's channel and poke the hub on every NOTIFY."""

    def __init__(self, conninfo: str, channel: str, hub: WakeHub, stop: threading.Event) -> None:
        super().__init__(name="careloop-pg-listener", daemon=True)
        self.conninfo = conninfo
        self.channel = channel
        self.hub = hub
        self.stop_event = stop
        self.listening = threading.Event()

    def run(self) -> None:
        import psycopg
        from psycopg import sql

        while not self.stop_event.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    self.hub.poke()  # catch up on anything committed while not listening
                    while not self.stop_event.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.hub.poke()
            except Exception:  # reconnect after any connection failure
                log.exception("projection listener lost its connection; reconnecting")
                self.stop_event.wait(1.0)
