"""The safety net under every timer and delivery: fire what is due, whatever Redis lost.

A delayed message is only the fast path. If Redis was flushed or a worker died mid-wait,
the deadline is still in the event store (and so in the timers read model), and the sweep
fires it through the same command, which checks the deadline is still current.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime

from workers.context import get_runtime
from workers.feedback.actors import fire

log = logging.getLogger(__name__)


def sweep_once() -> dict[str, int]:
    runtime = get_runtime()
    now = runtime.clock.now()
    fired = 0
    for window in runtime.views.timers.due(now):
        outcome = fire(uuid.UUID(window["id"]), datetime.fromisoformat(window["deadline"]), "sweep")
        fired += outcome != "not_due"
    resent = 0
    notifications = getattr(runtime.views, "notifications", None)
    if notifications is not None:
        from workers.notifications.actors import deliver_notification

        for row in notifications.due(now):
            deliver_notification.send(row["id"])
            resent += 1
    return {"fired": fired, "resent": resent}


def run_sweeper(stop: threading.Event, interval: float) -> None:
    runtime = get_runtime()
    while not stop.is_set():
        with runtime.store.elect("sweep") as elected:
            while elected and not stop.wait(interval):
                try:
                    sweep_once()
                except Exception:
                    log.exception("sweep failed; trying again next interval")
        stop.wait(interval)
