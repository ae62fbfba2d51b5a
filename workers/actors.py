"""Every actor, for the worker to load, and a way to bind them all to another broker."""

from __future__ import annotations

import dramatiq

import workers.broker  # noqa: F401
from workers.feedback.actors import fire_window, summarize_workout
from workers.notifications.actors import deliver_notification

ALL_ACTORS: list[dramatiq.Actor] = [summarize_workout, fire_window, deliver_notification]  # type: ignore[type-arg]


def bind(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` and make it the global one (tests, the worker)."""
    dramatiq.set_broker(broker)
    for actor in ALL_ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
