"""Webhook delivery through the outbox: `Webhooks.fire` queues one delivery per wanting
subscription, `DeliverDue` claims it when due, `WebhookSender` POSTs it signed to a real
HTTP receiver (the standard library's `ThreadingHTTPServer`, started by the test on
127.0.0.1) and the outcome is recorded on the `Delivery`. The receiver checks every
request as a clinic's would (`domain.webhooks.signing.verify`: signature and timestamp),
answers 500 twice then 200, and keeps what it accepted.

The receiver is on loopback, so the runtime allows private addresses
(`webhook_allow_private=True`); the refusals are in test_webhook_ssrf.py.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bootstrap.runtime import Runtime
from domain.outbox.application import Claim
from domain.outbox.delivery import BACKOFF_SECONDS, MAX_ATTEMPTS, Delivery, DeliveryStatus
from domain.shared.clock import FakeClock
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.webhooks.application import (
    WEBHOOK,
    webhook_delivery_id,
)
from domain.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    verify,
)
from domain.webhooks.subscription import Subscription, Trigger
from tests.support.app import make_runtime
from tests.support.push import delivery_handler, due_deliveries, status_of
from workers.outbox.deliver import DeliverDue
from workers.outbox.webhook import USER_AGENT, PublicAddressGuard, WebhookSender

SECRET = "whsec-riverside-0123456789abcdef"
TENANT = uuid.UUID("6f1d8a52-0c3e-4b7a-9e21-5d4c3b2a1f00")
ADMIN = uuid.UUID("6f1d8a52-0c3e-4b7a-9e21-5d4c3b2a1f01")
PLAN = "0d3c2b1a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
DATA = {"planId": PLAN, "title": "Knee rehab — week 1", "version": 1}


# -- a real HTTP receiver ----------------------------------------------------------------


@dataclass
class Seen:
    """One request as the receiver saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int = 0

    @property
    def delivery(self) -> str:
        return self.headers.get(DELIVERY_HEADER, "")


@dataclass
class Receiver:
    """A clinic's endpoint: refuses (401) what does not verify, answers `failure` to the
    first `fail_first` requests of each delivery, then 200; or always `fixed`."""

    secret: str = SECRET
    fail_first: int = 2
    failure: int = 500
    fixed: int | None = None
    delay: float = 0.0
    requests: list[Seen] = field(default_factory=list)
    accepted: list[Seen] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/careloop"

    def answer(self, seen: Seen) -> int:
        with self.lock:
            tried = sum(1 for r in self.requests if r.delivery == seen.delivery)
            self.requests.append(seen)
            if not seen.verified:
                seen.status = 401
            elif self.fixed is not None:
                seen.status = self.fixed
            elif tried < self.fail_first:
                seen.status = self.failure
            else:
                seen.status = 200
            if seen.status == 200:
                self.accepted.append(seen)
            return seen.status


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name: value for name, value in self.headers.items()}
            verified = verify(
                receiver.secret,
                headers.get(TIMESTAMP_HEADER, ""),
                body,
                headers.get(SIGNATURE_HEADER, ""),
                now=time.time(),
            )
            status = receiver.answer(Seen(self.path, headers, body, verified))
            time.sleep(receiver.delay)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def serve(receiver: Receiver) -> Callable[[], None]:
    """Starts the receiver on a free local port; returns how to stop it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    stop = serve(receiver)
    try:
        yield receiver
    finally:
        stop()


# -- the pieces: a runtime, the webhooks context and the webhook channel ----------------


class Rig:
    """A tenant's webhooks on a runtime, as wired: subscribe, fire (what the automation
    process manager does), deliver what is due (what the deadlines worker does). With a
    `sender`, deliveries go through it instead of the runtime's own."""

    def __init__(self, runtime: Runtime, sender: WebhookSender | None = None) -> None:
        self.runtime = runtime
        self.deliverer = (
            delivery_handler(runtime)
            if sender is None
            else DeliverDue(runtime.outbox, {WEBHOOK: sender}, runtime.commands)
        )
        self.admin = CommandContext(actor=Actor(ADMIN, Role.HOSPITAL_ADMIN, TENANT))

    def run(self, handler: Callable[[Any], Any], ctx: CommandContext | None = None) -> Any:
        return self.runtime.commands.run(ctx or self.admin, handler).result

    def subscribe(self, url: str, events: list[str], secret: str = SECRET) -> uuid.UUID:
        webhooks = self.runtime.webhooks
        created = self.run(lambda uow: webhooks.subscribe(uow, url, events, secret))
        self.runtime.catch_up()  # the trigger index that `fire` reads
        return uuid.UUID(str(created.id))

    def fire(self, trigger: str, source: str = PLAN, data: dict[str, Any] = DATA) -> list[Any]:
        at = self.runtime.clock.now()
        webhooks = self.runtime.webhooks
        fired = self.run(
            lambda uow: webhooks.fire(uow, TENANT, trigger, source, at, data),
            CommandContext(actor=SYSTEM_ACTOR),
        )
        return list(fired.deliveries)

    def deliver_due(self, delivery_id: uuid.UUID | None = None) -> int:
        """One pass of the deadlines worker over due deliveries: attempts made."""
        due = [d for d in due_deliveries(self.runtime) if delivery_id in (None, d.id)]
        return sum(self.deliverer.deliver(deadline) for deadline in due)

    def redeliver(self, delivery_id: uuid.UUID) -> Any:
        outbox = self.runtime.outbox
        return self.run(lambda uow: outbox.redeliver(uow, delivery_id))

    def logged(self, subscription_id: uuid.UUID) -> list[dict[str, Any]]:
        """`GET /v1/webhooks/{id}/deliveries`' read model: newest first."""
        self.runtime.catch_up()
        rows, _ = self.runtime.views.webhooks.deliveries(str(subscription_id), None, 50)
        return rows


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(clock: FakeClock, tmp_path: Path) -> Iterator[Runtime]:
    with make_runtime("sqlite", tmp_path, clock=clock, webhook_allow_private=True) as rt:
        yield rt


@pytest.fixture
def rig(runtime: Runtime) -> Rig:
    return Rig(runtime)


def events_of(runtime: Runtime, delivery_id: uuid.UUID) -> list[Any]:
    return list(runtime.log.stream(delivery_id))


def names(runtime: Runtime, delivery_id: uuid.UUID) -> list[str]:
    return [type(e).__qualname__ for e in events_of(runtime, delivery_id)]


def failures(runtime: Runtime, delivery_id: uuid.UUID) -> list[Delivery.AttemptFailed]:
    return [e for e in events_of(runtime, delivery_id) if isinstance(e, Delivery.AttemptFailed)]


def retry_after_the_backoff(runtime: Runtime, clock: FakeClock, delivery_id: uuid.UUID) -> None:
    """Moves the clock to the last failed attempt's retry time."""
    retry_at = failures(runtime, delivery_id)[-1].retry_at
    assert retry_at is not None
    clock.set(retry_at)


def listed(runtime: Runtime, delivery_id: uuid.UUID) -> dict[str, Any]:
    runtime.catch_up()
    row = runtime.views.deliveries.get(str(delivery_id))
    assert row is not None
    return row


def body_of(trigger: str, occurred_at: str, data: dict[str, Any] = DATA) -> bytes:
    document = {"event": trigger, "occurredAt": occurred_at, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- delivering through the outbox -----------------------------------------------------


def test_a_webhook_answered_500_twice_then_200_is_accepted_once_with_one_delivery_id(
    rig: Rig, runtime: Runtime, receiver: Receiver, clock: FakeClock
) -> None:
    subscription = rig.subscribe(receiver.url, [Trigger.CREATED, Trigger.ASSIGNED])
    occurred_at = clock.now().isoformat()
    [delivery] = rig.fire(Trigger.CREATED)
    assert delivery == webhook_delivery_id(subscription, Trigger.CREATED, PLAN)

    assert rig.deliver_due() == 1
    [first] = failures(runtime, delivery)
    assert (first.attempt, first.error) == (1, "HTTP 500 Internal Server Error")
    assert first.retry_at == clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    assert status_of(runtime, delivery) is DeliveryStatus.FAILED

    clock.set(first.retry_at - timedelta(milliseconds=1))
    assert rig.deliver_due() == 0  # not before its backoff
    retry_after_the_backoff(runtime, clock, delivery)
    assert rig.deliver_due() == 1
    second = failures(runtime, delivery)[-1]
    assert second.retry_at == clock.now() + timedelta(seconds=BACKOFF_SECONDS[1])

    retry_after_the_backoff(runtime, clock, delivery)
    assert rig.deliver_due() == 1

    assert status_of(runtime, delivery) is DeliveryStatus.SENT
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert [r.delivery for r in receiver.requests] == [str(delivery)] * 3
    assert all(r.verified for r in receiver.requests)
    [accepted] = receiver.accepted
    assert accepted.path == "/hooks/careloop"
    assert accepted.body == body_of(Trigger.CREATED, occurred_at)
    assert json.loads(accepted.body) == {
        "event": "treatment_plan.created",
        "occurredAt": occurred_at,
        "data": DATA,
    }
    # Every attempt is logged on the delivery: two failed with their error, then sent.
    assert names(runtime, delivery) == [
        "Delivery.Queued",
        "Delivery.AttemptStarted",
        "Delivery.AttemptFailed",
        "Delivery.AttemptStarted",
        "Delivery.AttemptFailed",
        "Delivery.AttemptStarted",
        "Delivery.Sent",
    ]
    assert [(f.attempt, f.error) for f in failures(runtime, delivery)] == [
        (1, "HTTP 500 Internal Server Error"),
        (2, "HTTP 500 Internal Server Error"),
    ]
    sent = events_of(runtime, delivery)[-1]
    assert isinstance(sent, Delivery.Sent)
    assert (sent.attempt, sent.receipt) == (3, ["200"])
    row = listed(runtime, delivery)
    assert (row["channel"], row["status"]) == (WEBHOOK, "sent")
    assert [a["outcome"] for a in row["attempts"]] == [
        "started",
        "failed",
        "started",
        "failed",
        "started",
        "sent",
    ]
    # GET /v1/webhooks/{id}/deliveries: the subscription's deliveries with every attempt.
    [logged] = rig.logged(subscription)
    assert (logged["id"], logged["event"], logged["status"]) == (
        str(delivery),
        "treatment_plan.created",
        "sent",
    )
    assert [(a["outcome"], a["detail"]) for a in logged["attempts"]] == [
        ("started", None),
        ("failed", "HTTP 500 Internal Server Error"),
        ("started", None),
        ("failed", "HTTP 500 Internal Server Error"),
        ("started", None),
        ("sent", "200"),
    ]
    assert logged["nextAttemptAt"] is None
    # Settled: nothing more goes out, however late it gets.
    clock.advance(86_400)
    assert rig.deliver_due() == 0
    assert len(receiver.requests) == 3


def test_each_event_is_accepted_exactly_once_and_a_decision_taken_twice_queues_once(
    rig: Rig, runtime: Runtime, receiver: Receiver, clock: FakeClock
) -> None:
    rig.subscribe(receiver.url, [Trigger.CREATED, Trigger.ASSIGNED, Trigger.COMPLETED])
    created = rig.fire(Trigger.CREATED)
    assigned = rig.fire(Trigger.ASSIGNED, source="enrollment-1")
    assert rig.fire(Trigger.CREATED) == []  # the same event decided again
    assert rig.fire(Trigger.EXPIRED) == []  # not subscribed to
    deliveries = created + assigned

    for _ in range(3):
        assert rig.deliver_due() == 2
        clock.advance(max(BACKOFF_SECONDS[:2]))

    assert rig.deliver_due() == 0
    assert all(status_of(runtime, d) is DeliveryStatus.SENT for d in deliveries)
    accepted = sorted((r.delivery, json.loads(r.body)["event"]) for r in receiver.accepted)
    assert accepted == sorted(
        [(str(created[0]), "treatment_plan.created"), (str(assigned[0]), "treatment_plan.assigned")]
    )
    assert len(receiver.requests) == 6


def test_the_request_is_compact_utf8_json_with_its_headers_and_a_fresh_timestamp(
    rig: Rig, runtime: Runtime, receiver: Receiver
) -> None:
    receiver.fail_first = 0
    rig.subscribe(receiver.url, [Trigger.SESSION_COMPLETED])
    data = {"patient": "Åsa Ødegård", "note": "ça va — 痛み 2/10", "sessions": [1, 2]}
    [delivery] = rig.fire(Trigger.SESSION_COMPLETED, data=data)
    before = int(time.time())

    rig.deliver_due()

    [seen] = receiver.accepted
    assert seen.body == body_of(Trigger.SESSION_COMPLETED, runtime.clock.now().isoformat(), data)
    assert "Åsa Ødegård".encode() in seen.body and b"\\u" not in seen.body  # UTF-8, unescaped
    assert b'", "' not in seen.body and b'": ' not in seen.body  # compact
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == USER_AGENT == "CareLoop-Webhooks/1"
    assert seen.headers[DELIVERY_HEADER] == str(delivery)
    assert before <= int(seen.headers[TIMESTAMP_HEADER]) <= int(time.time())
    assert seen.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert seen.headers["Host"] == f"127.0.0.1:{receiver.port}"


# -- what a receiver refuses -------------------------------------------------------------


def test_a_receiver_refuses_a_tampered_body_a_stale_timestamp_or_another_secret(
    rig: Rig, receiver: Receiver
) -> None:
    receiver.fail_first = 0
    rig.subscribe(receiver.url, [Trigger.CREATED])
    rig.fire(Trigger.CREATED)
    rig.deliver_due()
    [seen] = receiver.accepted
    timestamp, header = seen.headers[TIMESTAMP_HEADER], seen.headers[SIGNATURE_HEADER]
    sent_at = int(timestamp)

    assert verify(SECRET, timestamp, seen.body, header, now=sent_at)
    tampered = seen.body.replace(b'"version":1', b'"version":2')
    assert tampered != seen.body
    assert not verify(SECRET, timestamp, tampered, header, now=sent_at)
    assert not verify(SECRET, timestamp, seen.body, header, now=sent_at + TOLERANCE_SECONDS + 1)
    assert not verify(SECRET, timestamp, seen.body, header, now=sent_at - TOLERANCE_SECONDS - 1)
    assert not verify(SECRET, str(sent_at + 1), seen.body, header, now=sent_at)
    assert not verify("another-secret-0123456789", timestamp, seen.body, header, now=sent_at)


def test_a_delivery_signed_with_another_secret_is_refused_401_and_fails_for_good(
    runtime: Runtime, receiver: Receiver
) -> None:
    sender = WebhookSender(
        lambda _: "not-the-subscriptions-secret", PublicAddressGuard(allow_private=True)
    )
    rig = Rig(runtime, sender)
    rig.subscribe(receiver.url, [Trigger.CREATED])
    [delivery] = rig.fire(Trigger.CREATED)

    assert rig.deliver_due() == 1

    [seen] = receiver.requests
    assert (seen.verified, seen.status) == (False, 401)
    assert receiver.accepted == []
    assert status_of(runtime, delivery) is DeliveryStatus.DEAD
    [failure] = failures(runtime, delivery)
    assert (failure.error, failure.retry_at) == ("HTTP 401 Unauthorized", None)


# -- dead, and delivered again by hand -------------------------------------------------


def test_after_max_attempts_the_delivery_is_dead_and_redelivering_it_sends_it(
    rig: Rig, runtime: Runtime, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.fail_first = MAX_ATTEMPTS
    receiver.failure = 503
    subscription = rig.subscribe(receiver.url, [Trigger.EXPIRED])
    [delivery] = rig.fire(Trigger.EXPIRED)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert rig.deliver_due() == 1
        if attempt < MAX_ATTEMPTS:
            assert status_of(runtime, delivery) is DeliveryStatus.FAILED
            retry_after_the_backoff(runtime, clock, delivery)

    assert status_of(runtime, delivery) is DeliveryStatus.DEAD
    assert names(runtime, delivery)[-2:] == ["Delivery.AttemptFailed", "Delivery.Died"]
    died = events_of(runtime, delivery)[-1]
    assert isinstance(died, Delivery.Died)
    assert (died.attempts, died.error) == (MAX_ATTEMPTS, "HTTP 503 Service Unavailable")
    assert [f.retry_at is None for f in failures(runtime, delivery)] == [False] * (
        MAX_ATTEMPTS - 1
    ) + [True]
    assert listed(runtime, delivery)["status"] == "dead"
    [logged] = rig.logged(subscription)
    assert (logged["status"], logged["nextAttemptAt"]) == ("dead", None)
    assert [a["outcome"] for a in logged["attempts"]].count("failed") == MAX_ATTEMPTS
    clock.advance(86_400)
    assert rig.deliver_due() == 0
    assert receiver.accepted == []

    redelivery = rig.redeliver(delivery)
    assert redelivery.status is DeliveryStatus.PENDING
    assert rig.deliver_due() == 1

    assert status_of(runtime, delivery) is DeliveryStatus.SENT
    [accepted] = receiver.accepted
    assert accepted.delivery == str(delivery)
    assert [r.delivery for r in receiver.requests] == [str(delivery)] * (MAX_ATTEMPTS + 1)
    sent = events_of(runtime, delivery)[-1]
    assert isinstance(sent, Delivery.Sent) and sent.attempt == MAX_ATTEMPTS + 1
    assert listed(runtime, delivery)["status"] == "sent"
    [logged] = rig.logged(subscription)
    assert logged["status"] == "sent"
    assert [a["outcome"] for a in logged["attempts"]][-2:] == ["started", "sent"]


def test_a_delivery_to_a_subscription_deactivated_after_it_was_queued_is_skipped(
    rig: Rig, runtime: Runtime, receiver: Receiver
) -> None:
    subscription = rig.subscribe(receiver.url, [Trigger.COMPLETED])
    [delivery] = rig.fire(Trigger.COMPLETED)
    rig.run(lambda uow: uow.get(Subscription, subscription).deactivate(uow.now))

    assert rig.deliver_due() == 0

    assert status_of(runtime, delivery) is DeliveryStatus.SKIPPED
    assert receiver.requests == []


# -- what the sender makes of each answer ------------------------------------------------


def claim_to(url: str, delivery_id: uuid.UUID | None = None) -> Claim:
    payload = {"event": "treatment_plan.activated", "occurredAt": "2026-01-05T09:00:00+00:00"}
    return Claim(delivery_id or uuid.uuid4(), WEBHOOK, 1, {**payload, "data": DATA}, (url,))


def a_sender(timeout: float = 10.0) -> WebhookSender:
    return WebhookSender(lambda _: SECRET, PublicAddressGuard(allow_private=True), timeout)


@pytest.mark.parametrize(
    ("status", "ok", "permanent"),
    [
        (200, True, False),
        (202, True, False),
        (204, True, False),
        (408, False, False),
        (429, False, False),
        (500, False, False),
        (502, False, False),
        (503, False, False),
        (400, False, True),
        (401, False, True),
        (404, False, True),
        (410, False, True),
        (422, False, True),
        (301, False, True),
        (307, False, True),
    ],
)
def test_2xx_is_sent_408_429_and_5xx_are_retried_and_other_answers_fail_for_good(
    receiver: Receiver, status: int, ok: bool, permanent: bool
) -> None:
    receiver.fixed = status

    result = a_sender().send(claim_to(receiver.url))

    assert (result.ok, result.permanent) == (ok, permanent)
    if ok:
        assert (result.receipt, result.error) == ((str(status),), None)
    else:
        assert result.error is not None and result.error.startswith(f"HTTP {status} ")
    # A redirect is not followed: one request, to the subscription's URL.
    assert [r.path for r in receiver.requests] == ["/hooks/careloop"]


def test_a_receiver_that_answers_too_late_is_a_transient_timeout(receiver: Receiver) -> None:
    receiver.fail_first, receiver.delay = 0, 1.0

    result = a_sender(timeout=0.2).send(claim_to(receiver.url))

    assert (result.ok, result.permanent) == (False, False)
    assert result.error is not None and result.error.startswith("TimeoutError")


def test_a_refused_connection_is_transient() -> None:
    stopped = Receiver()
    serve(stopped)()  # started and stopped: nothing listens on its port now

    result = a_sender().send(claim_to(stopped.url))

    assert (result.ok, result.permanent) == (False, False)
    assert result.error is not None and result.error.startswith("ConnectionRefusedError")


def test_a_subscription_gone_fails_for_good_and_nothing_is_sent(receiver: Receiver) -> None:
    sender = WebhookSender(lambda _: None, PublicAddressGuard(allow_private=True))

    result = sender.send(claim_to(receiver.url))

    assert (result.ok, result.permanent) == (False, True)
    assert result.error is not None and "subscription is gone" in result.error
    assert receiver.requests == []


def test_a_payload_that_makes_no_body_fails_for_good_without_connecting(
    receiver: Receiver,
) -> None:
    claim = Claim(uuid.uuid4(), WEBHOOK, 1, {"event": "treatment_plan.created"}, (receiver.url,))

    result = a_sender().send(claim)

    assert (result.ok, result.permanent) == (False, True)
    assert result.error is not None and result.error.startswith("invalid webhook payload")
    assert receiver.requests == []


def test_the_urls_path_and_query_are_sent_as_given_and_anything_unsafe_percent_encoded(
    receiver: Receiver,
) -> None:
    receiver.fail_first = 0
    # (urlsplit drops CR and LF itself; what is left is encoded, so no header is injected.)
    url = f"http://127.0.0.1:{receiver.port}/hooks/careloop?clinic=riverside&note=a bé\r\nX: 1"

    result = a_sender().send(claim_to(url))

    assert result.ok, result.error
    [seen] = receiver.accepted
    assert seen.path == "/hooks/careloop?clinic=riverside&note=a%20b%C3%A9X:%201"
    assert "X" not in seen.headers
