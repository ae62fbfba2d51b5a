"""Push notifications and push tokens, given events / when command / then events, and the
Notifications application over an in-memory log with a fake sender: no database, no HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.notifications.application import (
    DEVICE_NOT_REGISTERED,
    Notifications,
    PushResult,
    SendOnce,
)
from domain.notifications.notification import (
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    DeliveryStatus,
    Notification,
)
from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.errors import ForbiddenError, InvalidInputError
from domain.shared.eventlog import EventLog
from domain.shared.unit_of_work import UnitOfWork
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PUSH = uuid.UUID("00000000-0000-4000-a000-00000000f001")
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"
TABLET = "ExpoPushToken[tablet-bbbbbbbbbbbb]"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- given: aggregates and steps ---------------------------------------------------------


def a_notification() -> Notification:
    return Notification(
        id=PUSH,
        tenant_id=CLINIC,
        recipient_id=PATIENT,
        title="Your therapist reviewed your session",
        body="Tap to view.",
        data={"type": "DOCTOR_FEEDBACK_NOTE"},
        timestamp=T0,
    )


def failed_at(seconds: float, permanent: bool = False) -> Any:
    return lambda n: n.failed("HTTP 500", at(seconds), permanent=permanent)


def delivered_at(seconds: float) -> Any:
    return lambda n: n.delivered(["ticket-1"], at(seconds))


def recorded(reason: str) -> Any:
    return lambda n: n.record_only(reason, at(1))


def a_token_list() -> PushTokens:
    return PushTokens.for_user(PATIENT, CLINIC, T0)


def registered(token: str, platform: str = "ios") -> Any:
    return lambda t: t.register(token, platform, T0)


# -- Notification ------------------------------------------------------------------------


def test_a_first_failure_schedules_a_retry_after_the_first_backoff_step() -> None:
    notification = given(a_notification())
    notification.failed("HTTP 500", at(10))
    [event] = new_events(notification)
    assert isinstance(event, Notification.DeliveryFailed)
    assert (event.attempt, event.retry_at) == (1, at(10 + BACKOFF_SECONDS[0]))
    assert notification.status is DeliveryStatus.RETRYING


def test_each_further_failure_waits_longer_following_the_backoff_schedule() -> None:
    notification = given(a_notification())
    waits = []
    now = 0.0
    for _ in range(MAX_ATTEMPTS - 1):
        notification.failed("HTTP 500", at(now))
        assert notification.retry_at is not None
        waits.append((notification.retry_at - at(now)).total_seconds())
        now = (notification.retry_at - T0).total_seconds()
    assert waits == list(BACKOFF_SECONDS[: MAX_ATTEMPTS - 1])
    assert waits == sorted(waits)


def test_the_last_allowed_attempt_failing_settles_the_notification_as_failed() -> None:
    notification = given(a_notification(), *[failed_at(i) for i in range(MAX_ATTEMPTS - 1)])
    assert notification.status is DeliveryStatus.RETRYING
    notification.failed("HTTP 500", at(MAX_ATTEMPTS))
    [event] = new_events(notification)
    assert (event.attempt, event.retry_at) == (MAX_ATTEMPTS, None)
    assert notification.status is DeliveryStatus.FAILED and notification.is_settled


def test_a_permanent_failure_settles_at_once_without_a_retry() -> None:
    notification = given(a_notification())
    notification.failed(DEVICE_NOT_REGISTERED, at(1), permanent=True)
    [event] = new_events(notification)
    assert event.retry_at is None
    assert notification.status is DeliveryStatus.FAILED


@pytest.mark.parametrize(
    "settled",
    [delivered_at(1), recorded("embedded"), recorded("no_device"), failed_at(1, permanent=True)],
    ids=["delivered", "recorded", "no_device", "failed"],
)
def test_a_settled_notification_ignores_every_further_outcome(settled: Any) -> None:
    notification = given(a_notification(), settled)
    status = notification.status
    notification.delivered(["ticket-2"], at(50))
    notification.failed("HTTP 500", at(50))
    notification.record_only("embedded", at(50))
    assert new_events(notification) == []
    assert notification.status is status


def test_a_retrying_notification_can_still_be_delivered_and_counts_every_attempt() -> None:
    notification = given(a_notification(), failed_at(1), failed_at(10))
    notification.delivered(["ticket-9"], at(60))
    assert names(new_events(notification)) == ["Notification.Delivered"]
    assert notification.status is DeliveryStatus.DELIVERED
    assert (notification.attempts, notification.delivered_at) == (3, at(60))


def test_recording_without_a_device_is_no_device_and_otherwise_recorded() -> None:
    assert given(a_notification(), recorded("no_device")).status is DeliveryStatus.NO_DEVICE
    assert given(a_notification(), recorded("embedded")).status is DeliveryStatus.RECORDED


# -- PushTokens --------------------------------------------------------------------------


def test_registering_a_token_twice_on_the_same_platform_records_nothing_new() -> None:
    tokens = given(a_token_list(), registered(PHONE))
    tokens.register(PHONE, "ios", at(5))
    assert new_events(tokens) == []


def test_a_token_moving_to_another_platform_is_registered_again() -> None:
    tokens = given(a_token_list(), registered(PHONE, "ios"))
    tokens.register(PHONE, "android", at(5))
    assert names(new_events(tokens)) == ["PushTokens.Registered"]
    assert tokens.tokens == {PHONE: "android"}


def test_unregistering_forgets_the_token_once_and_an_unknown_token_is_a_no_op() -> None:
    tokens = given(a_token_list(), registered(PHONE), registered(TABLET, "android"))
    tokens.unregister(PHONE, DEVICE_NOT_REGISTERED, at(5))
    tokens.unregister(PHONE, DEVICE_NOT_REGISTERED, at(6))
    tokens.unregister("ExponentPushToken[never-seen]", DEVICE_NOT_REGISTERED, at(6))
    assert names(new_events(tokens)) == ["PushTokens.Unregistered"]
    assert tokens.tokens == {TABLET: "android"}


def test_a_users_token_list_has_one_id_derived_from_the_user() -> None:
    assert a_token_list().id == push_tokens_id(PATIENT)
    assert push_tokens_id(PATIENT) != push_tokens_id(CLINIC)


# -- the Notifications application, with a fake sender -----------------------------------


class FakeSender:
    """Answers each token from a script; counts what it was asked to send."""

    def __init__(self, answers: Mapping[str, PushResult] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[list[str]] = []

    def send(
        self, tokens: Sequence[str], title: str, body: str, data: Mapping[str, Any]
    ) -> list[PushResult]:
        self.calls.append(list(tokens))
        return [
            self.answers.get(t, PushResult(t, ok=True, ticket_id=f"ticket:{t}")) for t in tokens
        ]


def gone(token: str) -> PushResult:
    return PushResult(token, ok=False, error=DEVICE_NOT_REGISTERED, permanent=True)


def server_error(token: str) -> PushResult:
    return PushResult(token, ok=False, error="HTTP 500", permanent=False)


class Outbox:
    """The Notifications application over an in-memory log and a fake clock."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.clock = FakeClock(T0)
        self.ids = SequentialIds()
        self.app = Notifications()
        self.patient = Actor(PATIENT, Role.PATIENT, CLINIC)

    def run(self, actor: Actor, command: Any) -> dict[str, Any]:
        uow = UnitOfWork(self.log, CommandContext(actor), self.clock, self.ids)
        body: dict[str, Any] = command(uow)
        uow.commit()
        return body

    def queue(self) -> None:
        self.run(SYSTEM_ACTOR, lambda uow: uow.add(a_notification()) or {})

    def register(self, *tokens: str) -> None:
        for token in tokens:
            self.run(self.patient, lambda uow, t=token: self.app.register_push_token(uow, t, "ios"))

    def deliver(self, sender: Any) -> dict[str, Any]:
        return self.run(SYSTEM_ACTOR, lambda uow: self.app.deliver(uow, PUSH, sender))

    def notification(self) -> Notification:
        found = self.log.find(PUSH)
        assert isinstance(found, Notification)
        return found

    def tokens(self) -> dict[str, str]:
        found = self.log.find(push_tokens_id(PATIENT))
        return dict(found.tokens) if isinstance(found, PushTokens) else {}


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    o = Outbox()
    yield o
    o.log.close()


def test_registering_creates_the_callers_token_list_on_first_use(outbox: Outbox) -> None:
    outbox.register(PHONE, TABLET)
    assert outbox.tokens() == {PHONE: "ios", TABLET: "ios"}


@pytest.mark.parametrize(
    ("token", "platform", "fields"),
    [
        ("not-a-token", "ios", {"token"}),
        ("ExponentPushToken[]", "ios", {"token"}),
        (PHONE, "windows", {"platform"}),
        ("apns:abc", "blackberry", {"token", "platform"}),
    ],
)
def test_a_token_that_is_not_expos_or_an_unknown_platform_is_rejected_naming_the_field(
    outbox: Outbox, token: str, platform: str, fields: set[str]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        outbox.run(outbox.patient, lambda uow: outbox.app.register_push_token(uow, token, platform))
    assert {e["field"] for e in caught.value.errors} == fields
    assert outbox.tokens() == {}


def test_a_platform_admin_cannot_register_a_push_token(outbox: Outbox) -> None:
    admin = Actor(uuid.UUID(int=0xAA), Role.PLATFORM_ADMIN, None)
    with pytest.raises(ForbiddenError):
        outbox.run(admin, lambda uow: outbox.app.register_push_token(uow, PHONE, "ios"))


def test_delivering_to_every_device_records_the_tickets(outbox: Outbox) -> None:
    outbox.queue()
    outbox.register(PHONE, TABLET)
    sender = FakeSender()
    outcome = outbox.deliver(sender)
    assert (outcome["status"], outcome["sent"]) == ("delivered", True)
    assert sender.calls == [sorted([PHONE, TABLET])]
    [*_, event] = outbox.log.stream(PUSH)
    assert isinstance(event, Notification.Delivered)
    assert sorted(event.tickets) == sorted([f"ticket:{PHONE}", f"ticket:{TABLET}"])


def test_a_recipient_without_a_device_is_recorded_as_no_device_without_sending(
    outbox: Outbox,
) -> None:
    outbox.queue()
    sender = FakeSender()
    assert outbox.deliver(sender)["status"] == "no_device"
    assert sender.calls == []


def test_a_device_no_longer_registered_is_forgotten_and_the_push_fails_for_good(
    outbox: Outbox,
) -> None:
    outbox.queue()
    outbox.register(PHONE)
    outcome = outbox.deliver(FakeSender({PHONE: gone(PHONE)}))
    assert (outcome["status"], outcome["retryAt"]) == ("failed", None)
    assert outbox.tokens() == {}


def test_one_gone_device_does_not_fail_a_push_another_device_received(outbox: Outbox) -> None:
    outbox.queue()
    outbox.register(PHONE, TABLET)
    assert outbox.deliver(FakeSender({PHONE: gone(PHONE)}))["status"] == "delivered"
    assert outbox.tokens() == {TABLET: "ios"}


def test_a_gone_device_beside_a_transient_error_still_retries(outbox: Outbox) -> None:
    outbox.queue()
    outbox.register(PHONE, TABLET)
    outcome = outbox.deliver(FakeSender({PHONE: gone(PHONE), TABLET: server_error(TABLET)}))
    assert outcome["status"] == "retrying"
    assert outbox.tokens() == {TABLET: "ios"}


def test_a_transient_error_retries_after_the_backoff_and_a_later_attempt_delivers(
    outbox: Outbox,
) -> None:
    outbox.queue()
    outbox.register(PHONE)
    first = outbox.deliver(FakeSender({PHONE: server_error(PHONE)}))
    assert first["status"] == "retrying"
    assert first["retryAt"] == at(BACKOFF_SECONDS[0]).isoformat()

    early = FakeSender()
    outbox.clock.advance(BACKOFF_SECONDS[0] - 1)
    assert outbox.deliver(early) == {**first, "sent": False}
    assert early.calls == []

    outbox.clock.advance(1)
    assert outbox.deliver(FakeSender())["status"] == "delivered"
    assert outbox.notification().attempts == 2


def test_a_settled_notification_is_never_sent_again(outbox: Outbox) -> None:
    outbox.queue()
    outbox.register(PHONE)
    outbox.deliver(FakeSender())
    again = FakeSender()
    outcome = outbox.deliver(again)
    assert (outcome["status"], outcome["sent"]) == ("delivered", False)
    assert again.calls == []


def test_recording_without_sending_settles_as_recorded(outbox: Outbox) -> None:
    outbox.queue()
    outbox.register(PHONE)
    outcome = outbox.run(SYSTEM_ACTOR, lambda uow: outbox.app.record_without_sending(uow, PUSH))
    assert outcome["status"] == "recorded"
    assert outbox.deliver(FakeSender())["sent"] is False


def test_send_once_sends_once_however_often_a_conflicting_command_is_rerun() -> None:
    sender = FakeSender()
    once = SendOnce(sender)
    first = once.send([PHONE], "t", "b", {"type": "x"})
    assert once.send([PHONE], "t", "b", {"type": "x"}) == first
    assert sender.calls == [[PHONE]]
