"""Push delivery through the outbox: `DeliverDue` claims a due delivery, sends it with the
real `exponent-server-sdk` (`PushSender` over `ExpoSender`) to a local server that speaks
Expo's push API, and records the outcome. Tickets, ticket errors, HTTP failures, retries
until dead, redelivery, racing workers, expired leases and the embedded default."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from bootstrap.runtime import Runtime
from domain.notifications.application import (
    DEVICE_NOT_REGISTERED,
    PUSH,
    RECORDED_RECEIPT,
    PushRules,
)
from domain.outbox.application import Claim, Outbox, SendResult
from domain.outbox.delivery import (
    BACKOFF_SECONDS,
    DELIVERY,
    MAX_ATTEMPTS,
    Delivery,
    DeliveryStatus,
)
from domain.shared.clock import FakeClock
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.shared.deadlines import deadline_key
from domain.shared.unit_of_work import UnitOfWork
from tests.support.app import make_runtime
from tests.support.fake_expo import SEND_PATH, FakeExpo, fake_expo
from tests.support.push import (
    BODY,
    TITLE,
    deadlines_current,
    deliver_due,
    delivery_handler,
    due_deliveries,
    queue_notification,
    register_token,
    status_of,
    stored,
    tokens_of,
)
from workers.actors import declare_actors, from_wire, to_wire
from workers.outbox.deliver import DeliverDue
from workers.outbox.expo import ExpoSender, split_base_url
from workers.outbox.senders import PushSender, RecordingSender

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
    """A SQLite runtime whose pushes go to the fake Expo server."""
    with make_runtime("sqlite", tmp_path, clock=clock, expo_base_url=expo.base_url) as rt:
        yield rt


def system(runtime: Runtime, handler: Any) -> Any:
    return runtime.commands.run(CommandContext(actor=SYSTEM_ACTOR), handler).result


def last_event(runtime: Runtime, delivery_id: uuid.UUID) -> Any:
    return runtime.log.stream(delivery_id)[-1]


def event_names(runtime: Runtime, delivery_id: uuid.UUID) -> list[str]:
    return [type(e).__qualname__ for e in runtime.log.stream(delivery_id)]


def a_push_to_a_phone(runtime: Runtime) -> uuid.UUID:
    register_token(runtime, PATIENT, TENANT, PHONE)
    return queue_notification(runtime, PATIENT, TENANT)


def retry_at(runtime: Runtime, delivery_id: uuid.UUID) -> Any:
    due = stored(runtime, delivery_id).due_at
    assert due is not None
    return due


# -- delivering --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_due_push_is_sent_to_expo_and_its_ticket_reaches_both_read_models(
    backend: str, expo: FakeExpo, clock: FakeClock, tmp_path: Path
) -> None:
    with make_runtime(backend, tmp_path, clock=clock, expo_base_url=expo.base_url) as runtime:
        push = a_push_to_a_phone(runtime)

        assert deliver_due(runtime) == 1

        event = last_event(runtime, push)
        assert isinstance(event, Delivery.Sent)
        assert (event.attempt, event.receipt) == (1, ["ticket-0001"])
        [message] = expo.sent_messages()
        assert message["to"] == PHONE
        assert (message["title"], message["body"]) == (TITLE, BODY)
        assert message["data"]["type"] == "DOCTOR_FEEDBACK_NOTE"

        runtime.catch_up()
        [row] = runtime.views.notifications.of_recipient(str(PATIENT))
        assert (row["status"], row["deliveredAt"]) == ("delivered", clock.now().isoformat())
        listed = runtime.views.deliveries.get(str(push))
        assert listed is not None and listed["status"] == "sent"
        assert runtime.views.deadlines.get(deadline_key(DELIVERY, push)) is None
        assert deliver_due(runtime) == 0


class RacingRules(PushRules):
    """The push rules, holding each of the first two claimers until both have loaded the
    delivery: both then try to commit a claim of the same attempt."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)
        self.calls = 0
        self.lock = threading.Lock()

    def addresses(self, uow: UnitOfWork, delivery: Delivery) -> list[str]:
        with self.lock:
            self.calls += 1
            first_two = self.calls <= 2
        if first_two:
            self.barrier.wait()
        return super().addresses(uow, delivery)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_racing_for_one_due_delivery_send_it_exactly_once(
    backend: str, expo: FakeExpo, clock: FakeClock, tmp_path: Path
) -> None:
    with make_runtime(backend, tmp_path, clock=clock, expo_base_url=expo.base_url) as runtime:
        push = a_push_to_a_phone(runtime)
        [deadline] = due_deliveries(runtime)
        rules = RacingRules()
        racing = DeliverDue(Outbox({PUSH: rules}), runtime.senders, runtime.commands)
        outcomes: list[bool] = []
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                outcomes.append(racing.deliver(deadline))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert errors == []
        assert sorted(outcomes) == [False, True]
        assert rules.calls == 2  # both claimed the same attempt; one claim committed
        assert len(expo.received) == 1
        assert event_names(runtime, push) == [
            "Delivery.Queued",
            "Delivery.AttemptStarted",
            "Delivery.Sent",
        ]


def test_a_duplicate_or_stale_wake_up_sends_nothing(sending: Runtime, expo: FakeExpo) -> None:
    push = a_push_to_a_phone(sending)
    [deadline] = due_deliveries(sending)
    handler = delivery_handler(sending)

    assert handler.deliver(deadline) is True
    assert handler.deliver(deadline) is False  # the same wake-up again

    assert len(expo.received) == 1
    assert status_of(sending, push) is DeliveryStatus.SENT


# -- what Expo answers -------------------------------------------------------------------


def test_device_not_registered_forgets_the_token_and_the_push_dies(
    sending: Runtime, expo: FakeExpo
) -> None:
    expo.device_errors[PHONE] = DEVICE_NOT_REGISTERED
    push = a_push_to_a_phone(sending)

    assert deliver_due(sending, push) == 1

    assert status_of(sending, push) is DeliveryStatus.DEAD
    failure = sending.log.stream(push)[-2]
    assert isinstance(failure, Delivery.AttemptFailed)
    assert (failure.error, failure.retry_at) == (DEVICE_NOT_REGISTERED, None)
    assert tokens_of(sending, PATIENT) == {}
    # The next push finds no device: it is skipped and nothing is sent.
    second = queue_notification(sending, PATIENT, TENANT)
    assert deliver_due(sending, second) == 0
    assert status_of(sending, second) is DeliveryStatus.SKIPPED
    assert len(expo.sent_messages()) == 1


def test_a_gone_device_beside_a_working_one_is_dropped_and_the_push_is_sent(
    sending: Runtime, expo: FakeExpo
) -> None:
    expo.device_errors[PHONE] = DEVICE_NOT_REGISTERED
    register_token(sending, PATIENT, TENANT, PHONE)
    register_token(sending, PATIENT, TENANT, TABLET, "android")
    push = queue_notification(sending, PATIENT, TENANT)

    deliver_due(sending, push)

    assert status_of(sending, push) is DeliveryStatus.SENT
    assert tokens_of(sending, PATIENT) == {TABLET: "android"}
    assert sorted(m["to"] for m in expo.sent_messages()) == sorted([PHONE, TABLET])


def test_an_http_500_retries_after_the_backoff_and_not_before(
    sending: Runtime, expo: FakeExpo, clock: FakeClock
) -> None:
    push = a_push_to_a_phone(sending)
    expo.fail_next(500, "Internal Server Error")

    deliver_due(sending, push)

    retry = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    failure = last_event(sending, push)
    assert isinstance(failure, Delivery.AttemptFailed)
    assert (failure.attempt, failure.retry_at, failure.error) == (1, retry, "HTTP 500")
    sending.catch_up()
    [row] = sending.views.notifications.of_recipient(str(PATIENT))
    assert (row["status"], row["retryAt"]) == ("retrying", retry.isoformat())

    clock.set(retry - timedelta(milliseconds=1))
    assert deliver_due(sending, push) == 0
    assert len(expo.received) == 1

    clock.set(retry)
    assert deliver_due(sending, push) == 1
    assert status_of(sending, push) is DeliveryStatus.SENT
    assert stored(sending, push).attempts == 2
    assert len(expo.received) == 2


def test_the_deadlines_view_lists_a_retry_from_its_time_until_it_is_sent(
    sending: Runtime, expo: FakeExpo, clock: FakeClock
) -> None:
    push = a_push_to_a_phone(sending)
    expo.fail_next(500)
    deliver_due(sending, push)
    retry = retry_at(sending, push)
    view = sending.views.deadlines

    assert due_deliveries(sending, retry - timedelta(microseconds=1)) == []
    [due] = due_deliveries(sending, retry)
    assert (due.id, due.due_at, due.tenant_id) == (push, retry, TENANT)
    assert view.next_due() == retry

    clock.set(retry)
    deliver_due(sending, push)
    deadlines_current(sending)
    assert due_deliveries(sending, retry + timedelta(days=1)) == []
    assert view.next_due() is None


def test_throttling_with_an_errors_body_and_a_json_500_are_transient(
    sending: Runtime, expo: FakeExpo
) -> None:
    register_token(sending, PATIENT, TENANT, PHONE)
    throttled = queue_notification(sending, PATIENT, TENANT)
    outage = queue_notification(sending, PATIENT, TENANT)
    expo.fail_next(429, {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "slow down"}]})
    expo.fail_next(500, {"message": "upstream unavailable"})

    deliver_due(sending, throttled)
    deliver_due(sending, outage)

    assert status_of(sending, throttled) is DeliveryStatus.FAILED
    assert last_event(sending, throttled).error == "HTTP 429: TOO_MANY_REQUESTS"
    assert status_of(sending, outage) is DeliveryStatus.FAILED
    assert last_event(sending, outage).error.startswith("HTTP 500")


def test_message_rate_exceeded_for_a_token_retries_and_keeps_the_token(
    sending: Runtime, expo: FakeExpo
) -> None:
    expo.device_errors[PHONE] = "MessageRateExceeded"
    push = a_push_to_a_phone(sending)

    deliver_due(sending, push)

    assert status_of(sending, push) is DeliveryStatus.FAILED
    assert last_event(sending, push).error == "MessageRateExceeded"
    assert tokens_of(sending, PATIENT) == {PHONE: "ios"}


def test_a_bad_request_is_permanent(sending: Runtime, expo: FakeExpo) -> None:
    push = a_push_to_a_phone(sending)
    expo.fail_next(400, {"errors": [{"code": "VALIDATION_ERROR", "message": "bad"}]})

    deliver_due(sending, push)

    assert status_of(sending, push) is DeliveryStatus.DEAD
    assert event_names(sending, push)[-2:] == ["Delivery.AttemptFailed", "Delivery.Died"]


def test_an_unreachable_push_service_retries(clock: FakeClock, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    with make_runtime("sqlite", tmp_path, clock=clock, expo_base_url=closed) as runtime:
        push = a_push_to_a_phone(runtime)
        deliver_due(runtime, push)
        assert status_of(runtime, push) is DeliveryStatus.FAILED
        assert last_event(runtime, push).error == "ConnectionError"


# -- retries until dead, and redelivery --------------------------------------------------


def test_a_push_that_keeps_failing_retries_on_the_backoff_schedule_dies_and_is_redelivered(
    sending: Runtime, expo: FakeExpo, clock: FakeClock
) -> None:
    push = a_push_to_a_phone(sending)
    expo.fail_next(500, times=MAX_ATTEMPTS)
    waits = []

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_due(sending, push) == 1
        assert len(expo.received) == attempt
        if attempt < MAX_ATTEMPTS:
            retry = retry_at(sending, push)
            waits.append((retry - clock.now()).total_seconds())
            clock.set(retry)

    assert waits == list(BACKOFF_SECONDS)
    assert status_of(sending, push) is DeliveryStatus.DEAD
    clock.advance(86_400)
    assert deliver_due(sending, push) == 0
    sending.catch_up()
    [row] = sending.views.notifications.of_recipient(str(PATIENT))
    assert (row["status"], row["attempts"], row["retryAt"]) == ("failed", MAX_ATTEMPTS, None)
    listed = sending.views.deliveries.get(str(push))
    assert listed is not None and listed["status"] == "dead"

    redelivery = system(sending, lambda uow: sending.outbox.redeliver(uow, push))

    assert redelivery.status is DeliveryStatus.PENDING
    assert deliver_due(sending, push) == 1
    assert status_of(sending, push) is DeliveryStatus.SENT
    assert stored(sending, push).attempts == MAX_ATTEMPTS + 1
    assert len(expo.received) == MAX_ATTEMPTS + 1
    sending.catch_up()
    [row] = sending.views.notifications.of_recipient(str(PATIENT))
    assert row["status"] == "delivered"


# -- a worker that dies mid-attempt ------------------------------------------------------


def test_an_attempt_whose_worker_died_is_failed_when_its_lease_runs_out_and_the_next_is_sent(
    sending: Runtime, expo: FakeExpo, clock: FakeClock
) -> None:
    push = a_push_to_a_phone(sending)
    [deadline] = due_deliveries(sending)
    claim = system(sending, lambda uow: sending.outbox.claim(uow, push, deadline.due_at))
    assert claim is not None and claim.attempt == 1  # ... and its worker dies here
    lease_end = retry_at(sending, push)
    assert lease_end == clock.now() + timedelta(seconds=sending.settings.delivery_lease_seconds)

    clock.set(lease_end - timedelta(seconds=1))
    assert deliver_due(sending, push) == 0
    clock.set(lease_end)
    assert deliver_due(sending, push) == 1

    assert event_names(sending, push)[1:] == [
        "Delivery.AttemptStarted",
        "Delivery.AttemptFailed",
        "Delivery.AttemptStarted",
        "Delivery.Sent",
    ]
    assert "lease expired" in sending.log.stream(push)[2].error
    assert len(expo.received) == 1
    # The dead worker's outcome arriving late changes nothing.
    late = system(sending, lambda uow: sending.outbox.record(uow, claim, SendResult(ok=False)))
    assert late is DeliveryStatus.SENT


# -- nowhere to send it, no sender, a sender that fails ----------------------------------


def test_a_push_to_a_recipient_with_no_device_is_skipped_as_no_device_and_nothing_is_sent(
    sending: Runtime, expo: FakeExpo
) -> None:
    push = queue_notification(sending, PATIENT, TENANT)

    assert deliver_due(sending, push) == 0

    assert status_of(sending, push) is DeliveryStatus.SKIPPED
    assert expo.received == []
    sending.catch_up()
    [row] = sending.views.notifications.of_recipient(str(PATIENT))
    assert row["status"] == "no_device"
    assert due_deliveries(sending) == []


def queue_delivery(runtime: Runtime, channel: str, payload: dict[str, Any]) -> uuid.UUID:
    delivery_id = uuid.uuid4()
    system(
        runtime,
        lambda uow: uow.add(
            Delivery.queue(delivery_id, channel, TENANT, PATIENT, payload, uow.now)
        ),
    )
    return delivery_id


def test_a_channel_without_a_sender_fails_for_good(sending: Runtime) -> None:
    sms = queue_delivery(sending, "sms", {"to": "+4712345678", "text": "Hi"})

    assert deliver_due(sending, sms) == 1

    assert status_of(sending, sms) is DeliveryStatus.DEAD
    assert sending.log.stream(sms)[-2].error == "no sender for sms"


def test_a_sender_that_raises_fails_the_attempt_instead_of_leaving_it_to_its_lease(
    sending: Runtime, expo: FakeExpo
) -> None:
    register_token(sending, PATIENT, TENANT, PHONE)
    untitled = queue_delivery(sending, PUSH, {"body": "no title", "data": {}})

    assert deliver_due(sending, untitled) == 1

    failure = last_event(sending, untitled)
    assert isinstance(failure, Delivery.AttemptFailed)
    assert failure.error == "KeyError: 'title'" and failure.retry_at is not None
    assert expo.received == []


# -- the embedded default, and the SDK's details -----------------------------------------


def test_the_embedded_default_records_every_push_and_sends_nothing(
    expo: FakeExpo, tmp_path: Path
) -> None:
    with make_runtime("sqlite", tmp_path) as runtime:
        assert runtime.settings.expo_base_url is None
        push = a_push_to_a_phone(runtime)

        assert deliver_due(runtime, push) == 1

        event = last_event(runtime, push)
        assert isinstance(event, Delivery.Sent) and event.receipt == [RECORDED_RECEIPT]
        recorder = runtime.senders[PUSH]
        assert isinstance(recorder, RecordingSender)
        [claim] = recorder.sent
        assert (claim.delivery_id, claim.addresses) == (push, (PHONE,))
        runtime.catch_up()
        [row] = runtime.views.notifications.of_recipient(str(PATIENT))
        assert (row["status"], row["deliveredAt"]) == ("recorded", None)
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
        deliver_due(runtime, push)
        assert status_of(runtime, push) is DeliveryStatus.SENT
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


def test_push_sender_turns_expos_answers_into_one_outcome(expo: FakeExpo) -> None:
    expo.device_errors[PHONE] = DEVICE_NOT_REGISTERED
    claim = Claim(uuid.uuid4(), PUSH, 1, {"title": "t", "body": "b"}, (PHONE, TABLET))
    outcome = PushSender(ExpoSender(expo.base_url)).send(claim)
    assert (outcome.ok, outcome.receipt, outcome.gone) == (True, ("ticket-0001",), (PHONE,))


# -- the fire_deadlines actor, on Dramatiq's StubBroker ----------------------------------


def test_a_deadline_survives_the_wire_unchanged(sending: Runtime) -> None:
    push = a_push_to_a_phone(sending)
    [deadline] = due_deliveries(sending)
    assert deadline.id == push
    wired = from_wire(DELIVERY, to_wire(deadline))
    assert (wired.kind, wired.id, wired.due_at) == (DELIVERY, push, deadline.due_at)
    assert wired.payload == deadline.payload


def test_the_fire_deadlines_actor_delivers_on_a_worker_and_a_duplicate_message_is_harmless(
    sending: Runtime, expo: FakeExpo
) -> None:
    push = a_push_to_a_phone(sending)
    deadlines: Sequence[Any] = due_deliveries(sending)
    broker = StubBroker()
    actors = declare_actors(broker, sending)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        for _ in range(2):
            actors.for_kind(sending, DELIVERY).send(DELIVERY, [to_wire(d) for d in deadlines])
        broker.join(DeliverDue.queue, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
        broker.close()

    assert status_of(sending, push) is DeliveryStatus.SENT
    assert len(expo.sent_messages()) == 1
    assert actors.for_kind(sending, DELIVERY).options["max_retries"] == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
