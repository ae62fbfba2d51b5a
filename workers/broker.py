"""The Dramatiq broker, imported first by every actor module.

Redis when CARELOOP_REDIS_URL is set; otherwise Dramatiq's StubBroker, whose messages the
embedded default processes with an in-process worker.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from bootstrap.settings import Settings, get_settings


def make_broker(settings: Settings) -> dramatiq.Broker:
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=settings.redis_url)
    return StubBroker()


broker = make_broker(get_settings())
dramatiq.set_broker(broker)
