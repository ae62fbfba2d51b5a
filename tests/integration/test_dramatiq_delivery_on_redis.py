"""Push delivery on the production shape: a WorkerHost with a RedisBroker and real Dramatiq
workers, on PostgreSQL, sending through the real SDK to a local server that speaks
Expo's push API. Skipped locally without Redis; a failure under CI=true.

A Dramatiq message is only a wake-up: the deadline lives in the event store (and the
deadlines read model), so a message Redis loses is sent again by the scheduler once the
deadline has stayed due for the sweep interval."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from bootstrap.runtime import Runtime
from domain.outbox.delivery import BACKOFF_SECONDS, DeliveryStatus
from tests.support.app import make_runtime
from tests.support.fake_expo import FakeExpo, fake_expo
from tests.support.push import due_deliveries, queue_notification, register_token, stored
from tests.support.services import redis_url
from workers.host import WorkerHost
from workers.outbox.deliver import DeliverDue

TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"
SWEEP = 0.5


@pytest.fixture
def expo() -> Iterator[FakeExpo]:
    with fake_expo() as fake:
        yield fake


@dataclass
class Production:
    runtime: Runtime
    broker: RedisBroker
    host: WorkerHost
    url: str

    def start(self) -> None:
        self.runtime.start_projections()
        self.host.start()


@pytest.fixture
def production(expo: FakeExpo, tmp_path: Path) -> Iterator[Production]:
    """A PostgreSQL runtime whose pushes go to the fake Expo, and a WorkerHost on a Redis
    broker of its own namespace (not yet started)."""
    url = redis_url()
    with make_runtime(
        "postgresql",
        tmp_path,
        redis_url=url,
        expo_base_url=expo.base_url,
        sweep_interval_seconds=SWEEP,
    ) as runtime:
        namespace = f"careloop-test-{uuid.uuid4().hex[:12]}"
        broker = RedisBroker(url=url, namespace=namespace)
        host = WorkerHost(runtime, broker, threads=2)
        try:
            yield Production(runtime, broker, host, url)
        finally:
            host.stop()
            keys = list(broker.client.scan_iter(match=f"{namespace}*"))
            if keys:
                broker.client.delete(*keys)
            broker.close()


def eventually(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status_is(runtime: Runtime, push: uuid.UUID, status: DeliveryStatus) -> Callable[[], bool]:
    return lambda: stored(runtime, push).status is status


def test_a_worker_host_on_redis_delivers_a_queued_push_to_expo_exactly_once(
    production: Production, expo: FakeExpo
) -> None:
    runtime = production.runtime
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)

    production.start()

    eventually(status_is(runtime, push, DeliveryStatus.SENT), 15)
    time.sleep(3 * SWEEP)  # a resend, had the deadline stayed due, would have run by now
    [message] = expo.sent_messages()
    assert message["to"] == PHONE
    actor = production.host.actors.for_kind(runtime, "delivery")
    assert actor.options["max_retries"] == 0


def test_duplicate_wake_ups_for_one_push_send_it_once(
    production: Production, expo: FakeExpo
) -> None:
    runtime = production.runtime
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)
    due = due_deliveries(runtime)

    for _ in range(3):
        production.host.dispatch("delivery", due)
    production.start()

    eventually(status_is(runtime, push, DeliveryStatus.SENT), 15)
    time.sleep(3 * SWEEP)
    assert len(expo.sent_messages()) == 1


def test_a_push_due_when_redis_is_flushed_is_sent_again_after_the_sweep_interval_and_once(
    production: Production, expo: FakeExpo
) -> None:
    runtime = production.runtime
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)
    # The scheduler sends the wake-up before any worker runs: it waits in Redis...
    assert due_deliveries(runtime)
    ticked_at = time.monotonic()
    production.host.scheduler.tick()
    client = redis.Redis.from_url(production.url)
    queue_key = f"{production.broker.namespace}:{DeliverDue.queue}"
    assert client.llen(queue_key) == 1
    # ... and Redis loses it.
    client.flushall()
    assert client.llen(queue_key) == 0

    production.start()

    eventually(status_is(runtime, push, DeliveryStatus.SENT), 15)
    assert time.monotonic() - ticked_at >= SWEEP
    time.sleep(3 * SWEEP)
    assert len(expo.sent_messages()) == 1
    assert stored(runtime, push).attempts == 1


def test_after_an_expo_outage_the_push_is_retried_at_its_backoff_time(
    production: Production, expo: FakeExpo
) -> None:
    runtime = production.runtime
    register_token(runtime, PATIENT, TENANT, PHONE)
    push = queue_notification(runtime, PATIENT, TENANT)
    expo.fail_next(500)

    production.start()

    eventually(status_is(runtime, push, DeliveryStatus.FAILED), 15)
    retry_at = stored(runtime, push).due_at
    assert retry_at is not None
    eventually(status_is(runtime, push, DeliveryStatus.SENT), BACKOFF_SECONDS[0] + 15)
    delivery = stored(runtime, push)
    assert delivery.attempts == 2
    sent_at = runtime.log.stream(push)[-1].timestamp
    assert sent_at >= retry_at
    assert len(expo.received) == 2
