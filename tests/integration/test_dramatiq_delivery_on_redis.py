"""The push delivery actor on a real Redis broker with a real Dramatiq worker, delivering
through the real SDK to a local server that speaks Expo's push API, on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from bootstrap.runtime import Runtime
from domain.notifications.notification import BACKOFF_SECONDS, DeliveryStatus
from tests.support.app import make_runtime
from tests.support.fake_expo import FakeExpo, fake_expo
from tests.support.push import queue_notification, register_token, stored
from tests.support.services import redis_url
from workers import context
from workers.notifications.actors import declare

TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"

DeliverActor = dramatiq.Actor[[str], None]


@pytest.fixture
def expo() -> Iterator[FakeExpo]:
    with fake_expo() as fake:
        yield fake


@pytest.fixture
def runtime(expo: FakeExpo, tmp_path: Path) -> Iterator[Runtime]:
    with make_runtime("postgresql", tmp_path, expo_base_url=expo.base_url) as rt:
        context.use(rt)
        try:
            yield rt
        finally:
            context.use(None)


@pytest.fixture
def on_redis(runtime: Runtime) -> Iterator[DeliverActor]:
    """The actor declared on a Redis broker of its own namespace, with a running worker."""
    namespace = f"careloop-test-{uuid.uuid4().hex[:12]}"
    broker = RedisBroker(url=redis_url(), namespace=namespace)
    actor = declare(broker)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        yield actor
    finally:
        worker.stop(timeout=5000)
        keys = list(broker.client.scan_iter(match=f"{namespace}*"))
        if keys:
            broker.client.delete(*keys)
        broker.close()


def eventually(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_actor_delivers_a_push_through_redis_to_expo(
    runtime: Runtime, expo: FakeExpo, on_redis: DeliverActor
) -> None:
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)

    on_redis.send(str(push))

    eventually(lambda: stored(runtime, push).status is DeliveryStatus.DELIVERED, 10)
    [message] = expo.sent_messages()
    assert message["to"] == PHONE
    assert on_redis.options["max_retries"] == 0


def test_duplicate_messages_for_one_notification_push_once(
    runtime: Runtime, expo: FakeExpo, on_redis: DeliverActor
) -> None:
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)

    for _ in range(3):
        on_redis.send(str(push))

    eventually(lambda: stored(runtime, push).status is DeliveryStatus.DELIVERED, 10)
    time.sleep(0.5)  # let the copies run too
    assert len(expo.sent_messages()) == 1


def test_after_an_expo_outage_the_actor_retries_by_itself_at_the_backoff_time(
    runtime: Runtime, expo: FakeExpo, on_redis: DeliverActor
) -> None:
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)
    expo.fail_next(500)

    on_redis.send(str(push))

    eventually(lambda: stored(runtime, push).status is DeliveryStatus.RETRYING, 10)
    retry_at = stored(runtime, push).retry_at
    assert retry_at is not None
    eventually(
        lambda: stored(runtime, push).status is DeliveryStatus.DELIVERED,
        BACKOFF_SECONDS[0] + 10,
    )
    notification = stored(runtime, push)
    assert notification.attempts == 2
    assert notification.delivered_at is not None and notification.delivered_at >= retry_at
    assert len(expo.received) == 2
