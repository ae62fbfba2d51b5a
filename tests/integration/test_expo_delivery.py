"""Push delivery through the real `exponent-server-sdk` against a local server that speaks
Expo's push API: tickets, ticket errors, HTTP failures, and the embedded default."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from bootstrap.runtime import Runtime
from domain.notifications.application import DEVICE_NOT_REGISTERED
from domain.notifications.notification import BACKOFF_SECONDS, DeliveryStatus, Notification
from domain.shared.clock import FakeClock
from tests.support.app import make_runtime
from tests.support.fake_expo import SEND_PATH, FakeExpo, fake_expo
from tests.support.push import BODY, TITLE, queue_notification, register_token, stored, tokens_of
from workers import context
from workers.notifications.actors import QUEUE, declare, deliver_once
from workers.notifications.expo import ExpoSender, split_base_url

TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"
TABLET = "ExpoPushToken[tablet-bbbbbbbbbbbb]"


@pytest.fixture
def expo() -> Iterator[FakeExpo]:
    with fake_expo() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sending(expo: FakeExpo, clock: FakeClock, tmp_path: Path) -> Iterator[Runtime]:
    """A SQLite runtime whose settings point at the fake Expo server."""
    with make_runtime("sqlite", tmp_path, clock=clock, expo_base_url=expo.base_url) as rt:
        yield rt


def status_of(runtime: Runtime, notification_id: uuid.UUID) -> DeliveryStatus:
    return stored(runtime, notification_id).status


def last_event(runtime: Runtime, notification_id: uuid.UUID) -> Any:
    return runtime.log.stream(notification_id)[-1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_delivered_push_records_expos_ticket_and_reaches_the_read_model(
    backend: str, expo: FakeExpo, clock: FakeClock, tmp_path: Path
) -> None:
    with make_runtime(backend, tmp_path, clock=clock, expo_base_url=expo.base_url) as runtime:
        register_token(runtime, PATIENT, TENANT, PHONE)
        push = queue_notification(runtime, PATIENT, TENANT)

        outcome = deliver_once(runtime, push)

        assert (outcome["status"], outcome["sent"]) == ("delivered", True)
        event = last_event(runtime, push)
        assert isinstance(event, Notification.Delivered)
        assert event.tickets == ["ticket-0001"]
        [message] = expo.sent_messages()
        assert message["to"] == PHONE
        assert (message["title"], message["body"]) == (TITLE, BODY)
        assert message["data"]["type"] == "DOCTOR_FEEDBACK_NOTE"

        runtime.catch_up()
        [row] = runtime.views.notifications.of_recipient(str(PATIENT))
        assert (row["status"], row["deliveredAt"]) == ("delivered", clock.now().isoformat())


def test_device_not_registered_forgets_the_token_and_fails_the_push_for_good(
    sending: Runtime, expo: FakeExpo
) -> None:
    expo.device_errors[PHONE] = DEVICE_NOT_REGISTERED
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)

    outcome = deliver_once(sending, push)

    assert (outcome["status"], outcome["retryAt"]) == ("failed", None)
    event = last_event(sending, push)
    assert isinstance(event, Notification.DeliveryFailed)
    assert event.error == DEVICE_NOT_REGISTERED
    assert tokens_of(sending, PATIENT) == {}
    # The next notification finds no device and sends nothing.
    second = queue_notification(sending, PATIENT, TENANT)
    assert deliver_once(sending, second)["status"] == "no_device"
    assert len(expo.sent_messages()) == 1


def test_a_gone_device_beside_a_working_one_is_dropped_and_the_push_is_delivered(
    sending: Runtime, expo: FakeExpo
) -> None:
    expo.device_errors[PHONE] = DEVICE_NOT_REGISTERED
    register_token(sending, PATIENT, TENANT, PHONE)
    register_token(sending, PATIENT, TENANT, TABLET, "android")
    push = queue_notification(sending, PATIENT, TENANT)

    assert deliver_once(sending, push)["status"] == "delivered"
    assert tokens_of(sending, PATIENT) == {TABLET: "android"}
    assert sorted(m["to"] for m in expo.sent_messages()) == sorted([PHONE, TABLET])


def test_an_http_500_retries_with_backoff_and_a_later_attempt_delivers(
    sending: Runtime, expo: FakeExpo, clock: FakeClock
) -> None:
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)
    expo.fail_next(500, "Internal Server Error")

    first = deliver_once(sending, push)

    assert first["status"] == "retrying"
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    assert first["retryAt"] == retry_at.isoformat()
    event = last_event(sending, push)
    assert isinstance(event, Notification.DeliveryFailed)
    assert (event.attempt, event.retry_at, event.error) == (1, retry_at, "HTTP 500")

    # Not due yet: nothing is sent.
    assert deliver_once(sending, push)["sent"] is False
    assert len(expo.received) == 1

    clock.set(retry_at)
    second = deliver_once(sending, push)
    assert second["status"] == "delivered"
    assert stored(sending, push).attempts == 2
    assert len(expo.received) == 2


def test_throttling_with_an_errors_body_and_a_json_500_are_transient(
    sending: Runtime, expo: FakeExpo
) -> None:
    register_token(sending, PATIENT, TENANT, PHONE)
    throttled = queue_notification(sending, PATIENT, TENANT)
    outage = queue_notification(sending, PATIENT, TENANT)
    expo.fail_next(429, {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "slow down"}]})
    expo.fail_next(500, {"message": "upstream unavailable"})

    assert deliver_once(sending, throttled)["status"] == "retrying"
    assert last_event(sending, throttled).error == "HTTP 429: TOO_MANY_REQUESTS"
    assert deliver_once(sending, outage)["status"] == "retrying"
    assert last_event(sending, outage).error.startswith("HTTP 500")


def test_message_rate_exceeded_for_a_token_retries(sending: Runtime, expo: FakeExpo) -> None:
    expo.device_errors[PHONE] = "MessageRateExceeded"
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)

    assert deliver_once(sending, push)["status"] == "retrying"
    assert last_event(sending, push).error == "MessageRateExceeded"
    assert tokens_of(sending, PATIENT) == {PHONE: "ios"}


def test_a_bad_request_is_permanent(sending: Runtime, expo: FakeExpo) -> None:
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)
    expo.fail_next(400, {"errors": [{"code": "VALIDATION_ERROR", "message": "bad"}]})

    assert deliver_once(sending, push)["status"] == "failed"


def test_an_unreachable_push_service_retries(
    expo: FakeExpo, clock: FakeClock, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    with make_runtime("sqlite", tmp_path, clock=clock, expo_base_url=closed) as runtime:
        register_token(runtime, PATIENT, TENANT, PHONE)
        push = queue_notification(runtime, PATIENT, TENANT)
        assert deliver_once(runtime, push)["status"] == "retrying"
        assert last_event(runtime, push).error == "ConnectionError"


def test_no_registered_device_is_recorded_as_no_device_and_nothing_is_sent(
    sending: Runtime, expo: FakeExpo
) -> None:
    push = queue_notification(sending, PATIENT, TENANT)

    outcome = deliver_once(sending, push)

    assert (outcome["status"], outcome["sent"]) == ("no_device", False)
    assert expo.received == []


def test_the_embedded_default_records_every_notification_and_sends_nothing(
    expo: FakeExpo, tmp_path: Path
) -> None:
    with make_runtime("sqlite", tmp_path) as runtime:
        assert runtime.settings.expo_base_url is None
        register_token(runtime, PATIENT, TENANT, PHONE)
        push = queue_notification(runtime, PATIENT, TENANT)

        outcome = deliver_once(runtime, push)

        assert outcome["status"] == "recorded"
        event = last_event(runtime, push)
        assert isinstance(event, Notification.Recorded) and event.reason == "embedded"
        runtime.catch_up()
        [row] = runtime.views.notifications.of_recipient(str(PATIENT))
        assert row["status"] == "recorded"
    assert expo.received == []


def test_the_newer_expo_token_spelling_and_the_access_token_reach_expo(
    expo: FakeExpo, clock: FakeClock, tmp_path: Path
) -> None:
    with make_runtime(
        "sqlite",
        tmp_path,
        clock=clock,
        expo_base_url=f"{expo.base_url}/--/api/v2/",
        expo_access_token="secret-access-token",
    ) as runtime:
        register_token(runtime, PATIENT, TENANT, TABLET, "android")
        push = queue_notification(runtime, PATIENT, TENANT)
        assert deliver_once(runtime, push)["status"] == "delivered"
    [request] = expo.received
    assert request.path == SEND_PATH
    assert request.headers["authorization"] == "Bearer secret-access-token"
    assert request.body[0]["to"] == TABLET


def test_the_base_url_may_name_the_api_path_or_only_the_host() -> None:
    assert split_base_url("https://exp.host") == ("https://exp.host", "/--/api/v2")
    assert split_base_url("http://127.0.0.1:9/--/api/v2/") == ("http://127.0.0.1:9", "/--/api/v2")


def test_expo_sender_reports_one_result_per_token(expo: FakeExpo) -> None:
    expo.device_errors[TABLET] = "MessageTooBig"
    results = ExpoSender(expo.base_url).send([PHONE, TABLET], "t", "b", {"type": "x"})
    by_token = {r.token: r for r in results}
    assert by_token[PHONE].ok and by_token[PHONE].ticket_id == "ticket-0001"
    assert (by_token[TABLET].ok, by_token[TABLET].error, by_token[TABLET].permanent) == (
        False,
        "MessageTooBig",
        True,
    )


def test_the_sweep_lists_a_retry_once_its_time_and_grace_have_passed(
    sending: Runtime, expo: FakeExpo, clock: FakeClock
) -> None:
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)
    expo.fail_next(500)
    retry_at = stored(sending, push).created_on + timedelta(seconds=BACKOFF_SECONDS[0])
    deliver_once(sending, push)
    sending.catch_up()
    view = sending.views.notifications

    assert view.due(retry_at, retry_grace_seconds=1) == []
    [entry] = view.due(retry_at + timedelta(seconds=1), retry_grace_seconds=1)
    assert (entry["id"], entry["status"]) == (str(push), "retrying")

    clock.set(retry_at)
    deliver_once(sending, push)
    sending.catch_up()
    assert view.due(retry_at + timedelta(days=1)) == []


def test_a_notification_queued_too_long_is_listed_for_the_sweep(
    sending: Runtime, clock: FakeClock
) -> None:
    push = queue_notification(sending, PATIENT, TENANT)
    sending.catch_up()
    view = sending.views.notifications
    assert view.due(clock.now() + timedelta(seconds=59), stale_after_seconds=60) == []
    [entry] = view.due(clock.now() + timedelta(seconds=60), stale_after_seconds=60)
    assert (entry["id"], entry["status"]) == (str(push), "queued")


# -- the actor, on Dramatiq's StubBroker ---------------------------------------------------


@pytest.fixture
def stub_actor(sending: Runtime) -> Iterator[tuple[StubBroker, dramatiq.Actor[[str], None]]]:
    broker = StubBroker()
    actor = declare(broker)
    context.use(sending)
    try:
        yield broker, actor
    finally:
        context.use(None)
        broker.close()


def test_the_actor_delivers_a_queued_notification_on_a_worker(
    sending: Runtime,
    expo: FakeExpo,
    stub_actor: tuple[StubBroker, dramatiq.Actor[[str], None]],
) -> None:
    broker, actor = stub_actor
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        actor.send(str(push))
        actor.send(str(push))  # a duplicate message is harmless
        broker.join(QUEUE, fail_fast=True)
        worker.join()
    finally:
        worker.stop()

    assert status_of(sending, push) is DeliveryStatus.DELIVERED
    assert len(expo.sent_messages()) == 1
    assert actor.options["max_retries"] == 0


def test_a_failed_attempt_makes_the_actor_schedule_its_own_retry_at_retry_at(
    sending: Runtime,
    expo: FakeExpo,
    stub_actor: tuple[StubBroker, dramatiq.Actor[[str], None]],
) -> None:
    broker, actor = stub_actor
    register_token(sending, PATIENT, TENANT, PHONE)
    push = queue_notification(sending, PATIENT, TENANT)
    expo.fail_next(500)

    actor(str(push))  # what a worker does with the message

    assert status_of(sending, push) is DeliveryStatus.RETRYING
    [waiting] = [dramatiq.Message.decode(m) for m in broker.queues[f"{QUEUE}.DQ"].queue]
    assert waiting.args == (str(push),)
    delay_ms = waiting.options["eta"] - waiting.message_timestamp
    assert BACKOFF_SECONDS[0] * 1000 <= delay_ms <= BACKOFF_SECONDS[0] * 1000 + 1000

    # A copy of the message arriving early neither sends nor schedules another retry.
    actor(str(push))
    assert len(broker.queues[f"{QUEUE}.DQ"].queue) == 1
    assert len(expo.received) == 1


def test_the_actor_in_the_embedded_default_records_without_sending(
    expo: FakeExpo, tmp_path: Path
) -> None:
    with make_runtime("sqlite", tmp_path) as runtime:
        broker = StubBroker()
        actor = declare(broker)
        context.use(runtime)
        worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
        worker.start()
        try:
            register_token(runtime, PATIENT, TENANT, PHONE)
            push = queue_notification(runtime, PATIENT, TENANT)
            actor.send(str(push))
            broker.join(QUEUE)
            worker.join()
        finally:
            worker.stop()
            context.use(None)
            broker.close()
        assert status_of(runtime, push) is DeliveryStatus.RECORDED
    assert expo.received == []


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
