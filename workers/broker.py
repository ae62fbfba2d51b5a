"""The Dramatiq broker of a process: Redis when CARELOOP_REDIS_URL is set, otherwise
Dramatiq's StubBroker, whose messages the embedded default's in-process worker runs."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from bootstrap.settings import Settings


def make_broker(settings: Settings) -> dramatiq.Broker:
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=settings.redis_url)
    return StubBroker()
