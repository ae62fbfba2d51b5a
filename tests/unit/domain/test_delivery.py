"""The outbox's Delivery, given events / when command / then events; the push channel's
outcome rules; the Outbox application with the push rules over an in-memory log; and the
delivery's life as a hypothesis state machine. No database, no HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.notifications.application import (
    DEVICE_NOT_REGISTERED,
    PUSH,
    Notifications,
    PushResult,
    PushRules,
    push_outcome,
    queue_push,
)
from domain.notifications.push_tokens import PushTokens, push_tokens_id
from domain.outbox.application import Claim, Outbox, SendResult
from domain.outbox.delivery import (
    BACKOFF_SECONDS,
    DELIVERY,
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    Delivery,
    DeliveryStatus,
)
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.commands import CommandBus, Handler
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.deadlines import Deadline, SetsDeadline
from domain.shared.errors import ConflictError
from domain.shared.eventlog import EventLog
from tests.support.given import given, names, new_events, replay

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
DELIVERY_ID = uuid.UUID("00000000-0000-4000-a000-00000000f001")
PHONE = "ExponentPushToken[phone-aaaaaaaaaaaa]"
TABLET = "ExpoPushToken[tablet-bbbbbbbbbbbb]"
LEASE = timedelta(seconds=LEASE_SECONDS)
PAYLOAD = {"title": "Your therapist reviewed your session", "body": "Tap to view.", "data": {}}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- given: a delivery and the steps of its life -----------------------------------------

Step = Any


def a_delivery(max_attempts: int = MAX_ATTEMPTS) -> Delivery:
    return Delivery.queue(
        id=DELIVERY_ID,
        channel=PUSH,
        tenant_id=CLINIC,
        recipient_id=PATIENT,
        payload=PAYLOAD,
        at=T0,
        max_attempts=max_attempts,
    )


def started_at(delivery: Delivery) -> datetime:
    """When the attempt under way was claimed (its lease ends LEASE later)."""
    assert delivery.sending and delivery.due_at is not None
    return delivery.due_at - LEASE


def claimed(delivery: Delivery) -> None:
    """The wake-up for the current step arrives on time and claims the next attempt."""
    assert delivery.due_at is not None
    assert delivery.start_attempt(delivery.due_at, delivery.due_at) is not None


def sent(delivery: Delivery) -> None:
    delivery.succeed(delivery.attempts, ["ticket-1"], started_at(delivery) + timedelta(seconds=1))


def failed(delivery: Delivery) -> None:
    delivery.fail(delivery.attempts, "HTTP 500", started_at(delivery) + timedelta(seconds=1))


def failed_for_good(delivery: Delivery) -> None:
    delivery.fail(delivery.attempts, DEVICE_NOT_REGISTERED, started_at(delivery), permanent=True)


def skipped(delivery: Delivery) -> None:
    delivery.skip("no_address", T0)


def attempts_failing(count: int) -> list[Step]:
    return [step for _ in range(count) for step in (claimed, failed)]


def died() -> list[Step]:
    return attempts_failing(MAX_ATTEMPTS)


# -- claiming an attempt -----------------------------------------------------------------


def test_a_queued_delivery_is_due_at_once_and_its_claim_starts_attempt_1_with_a_lease() -> None:
    delivery = given(a_delivery())
    assert (delivery.status, delivery.due_at) == (DeliveryStatus.PENDING, T0)

    attempt = delivery.start_attempt(T0, at(2))

    assert attempt == 1
    [event] = new_events(delivery)
    assert isinstance(event, Delivery.AttemptStarted)
    assert (event.attempt, event.lease_until) == (1, at(2) + LEASE)
    assert delivery.sending and delivery.due_at == at(2) + LEASE


def test_a_wake_up_before_its_time_claims_nothing() -> None:
    delivery = given(a_delivery(), claimed, failed)
    retry_at = delivery.due_at
    assert retry_at is not None

    assert delivery.start_attempt(retry_at, retry_at - timedelta(microseconds=1)) is None
    assert new_events(delivery) == []


def test_a_stale_wake_up_for_a_step_that_moved_on_claims_nothing() -> None:
    delivery = given(a_delivery(), claimed, failed)
    assert delivery.start_attempt(T0, at(3600)) is None  # scheduled for the queued step
    assert new_events(delivery) == []


def test_a_duplicate_wake_up_for_a_claimed_step_claims_nothing() -> None:
    delivery = given(a_delivery())
    assert delivery.start_attempt(T0, at(1)) == 1
    new_events(delivery)

    assert delivery.start_attempt(T0, at(1)) is None
    assert new_events(delivery) == []
    assert delivery.attempts == 1


@pytest.mark.parametrize(
    "settle",
    [[claimed, sent], died(), [claimed, failed_for_good], [skipped]],
    ids=["sent", "dead", "failed-for-good", "skipped"],
)
def test_a_settled_delivery_claims_nothing_and_ignores_every_outcome(settle: list[Step]) -> None:
    delivery = given(a_delivery(), *settle)
    assert delivery.is_settled and delivery.due_at is None
    status, attempts = delivery.status, delivery.attempts

    for scheduled in (T0, at(1), at(3600)):
        assert delivery.start_attempt(scheduled, at(86_400)) is None
    delivery.succeed(attempts, ["late"], at(86_400))
    delivery.fail(attempts, "late", at(86_400))
    delivery.skip("no_address", at(86_400))

    assert new_events(delivery) == []
    assert (delivery.status, delivery.attempts) == (status, attempts)


# -- outcomes ----------------------------------------------------------------------------


def test_a_sent_attempt_settles_the_delivery_with_its_receipt() -> None:
    delivery = given(a_delivery(), claimed)
    delivery.succeed(1, ["ticket-0001"], at(2))
    [event] = new_events(delivery)
    assert isinstance(event, Delivery.Sent)
    assert (event.attempt, event.receipt) == (1, ["ticket-0001"])
    assert (delivery.status, delivery.sending, delivery.due_at) == (
        DeliveryStatus.SENT,
        False,
        None,
    )


def test_an_outcome_for_an_attempt_that_is_not_the_current_one_changes_nothing() -> None:
    delivery = given(a_delivery(), claimed, failed, claimed)
    delivery.succeed(1, ["ticket-old"], at(100))
    delivery.fail(1, "HTTP 500", at(100))
    delivery.succeed(3, ["ticket-future"], at(100))
    assert new_events(delivery) == []
    assert (delivery.attempts, delivery.sending) == (2, True)


def test_an_outcome_with_no_attempt_under_way_changes_nothing() -> None:
    delivery = given(a_delivery())
    delivery.succeed(0, ["ticket"], at(1))
    delivery.fail(0, "HTTP 500", at(1))
    assert new_events(delivery) == []


# -- retries with backoff, then death ----------------------------------------------------


def test_a_failed_attempt_schedules_a_retry_after_the_first_backoff_step() -> None:
    delivery = given(a_delivery(), claimed)
    delivery.fail(1, "HTTP 500", at(10))
    [event] = new_events(delivery)
    assert isinstance(event, Delivery.AttemptFailed)
    assert (event.attempt, event.error, event.retry_at) == (1, "HTTP 500", at(10 + 5))
    assert (delivery.status, delivery.sending) == (DeliveryStatus.FAILED, False)
    assert delivery.due_at == event.retry_at and not delivery.is_settled


def test_each_further_failure_waits_longer_5_30_120_then_600_seconds() -> None:
    delivery = given(a_delivery())
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        claimed(delivery)
        failed_at = started_at(delivery) + timedelta(seconds=1)
        delivery.fail(delivery.attempts, "HTTP 500", failed_at)
        assert delivery.due_at is not None
        waits.append((delivery.due_at - failed_at).total_seconds())
    assert BACKOFF_SECONDS == (5, 30, 120, 600)
    assert waits == [5, 30, 120, 600]


def test_a_retry_is_claimed_at_its_retry_time_as_the_next_attempt() -> None:
    delivery = given(a_delivery(), claimed, failed)
    retry_at = delivery.due_at
    assert retry_at is not None
    assert delivery.start_attempt(retry_at, retry_at) == 2
    assert names(new_events(delivery)) == ["Delivery.AttemptStarted"]


def test_the_last_allowed_attempt_failing_kills_the_delivery() -> None:
    delivery = given(a_delivery(), *attempts_failing(MAX_ATTEMPTS - 1), claimed)
    assert delivery.status is DeliveryStatus.PENDING

    delivery.fail(MAX_ATTEMPTS, "HTTP 500", at(9999))

    failure, death = new_events(delivery)
    assert isinstance(failure, Delivery.AttemptFailed) and failure.retry_at is None
    assert isinstance(death, Delivery.Died)
    assert (death.attempts, death.error) == (MAX_ATTEMPTS, "HTTP 500")
    assert delivery.status is DeliveryStatus.DEAD and delivery.is_settled


def test_a_delivery_with_fewer_attempts_allowed_dies_sooner() -> None:
    delivery = given(a_delivery(max_attempts=2), claimed, failed, claimed)
    delivery.fail(2, "HTTP 500", at(9999))
    assert names(new_events(delivery)) == ["Delivery.AttemptFailed", "Delivery.Died"]


def test_a_permanent_failure_kills_the_delivery_at_once() -> None:
    delivery = given(a_delivery(), claimed)
    delivery.fail(1, DEVICE_NOT_REGISTERED, at(1), permanent=True)
    failure, death = new_events(delivery)
    assert failure.retry_at is None
    assert (death.attempts, death.error) == (1, DEVICE_NOT_REGISTERED)
    assert delivery.status is DeliveryStatus.DEAD


# -- an attempt whose worker died ---------------------------------------------------------


def test_when_a_lease_runs_out_its_attempt_counts_as_failed_and_the_next_starts_at_once() -> None:
    delivery = given(a_delivery(), claimed)
    lease_end = delivery.due_at
    assert lease_end == T0 + LEASE

    attempt = delivery.start_attempt(lease_end, lease_end + timedelta(seconds=3))

    assert attempt == 2
    failure, start = new_events(delivery)
    assert isinstance(failure, Delivery.AttemptFailed) and failure.attempt == 1
    assert "lease expired" in failure.error
    assert isinstance(start, Delivery.AttemptStarted) and start.attempt == 2
    assert delivery.due_at == start.lease_until == lease_end + timedelta(seconds=3) + LEASE


def test_a_wake_up_before_the_lease_ends_leaves_the_attempt_to_its_worker() -> None:
    delivery = given(a_delivery(), claimed)
    lease_end = delivery.due_at
    assert lease_end is not None
    assert delivery.start_attempt(lease_end, lease_end - timedelta(seconds=1)) is None
    assert new_events(delivery) == []


def test_the_outcome_of_an_expired_attempt_arriving_after_the_next_claim_changes_nothing() -> None:
    delivery = given(a_delivery(), claimed)
    lease_end = delivery.due_at
    assert lease_end is not None
    assert delivery.start_attempt(lease_end, lease_end) == 2
    new_events(delivery)

    delivery.succeed(1, ["ticket-late"], lease_end + timedelta(seconds=1))

    assert new_events(delivery) == []
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 2)


def test_an_outcome_recorded_after_the_lease_but_before_any_new_claim_still_counts() -> None:
    delivery = given(a_delivery(), claimed)
    lease_end = delivery.due_at
    assert lease_end is not None
    delivery.succeed(1, ["ticket-slow"], lease_end + timedelta(seconds=5))
    assert names(new_events(delivery)) == ["Delivery.Sent"]


def test_a_lease_running_out_on_the_last_attempt_kills_the_delivery_and_claims_nothing() -> None:
    delivery = given(a_delivery(), *attempts_failing(MAX_ATTEMPTS - 1), claimed)
    lease_end = delivery.due_at
    assert lease_end is not None

    assert delivery.start_attempt(lease_end, lease_end) is None

    assert names(new_events(delivery)) == ["Delivery.AttemptFailed", "Delivery.Died"]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, MAX_ATTEMPTS)


# -- skipping ----------------------------------------------------------------------------


def test_skipping_settles_a_pending_delivery_without_any_attempt() -> None:
    delivery = given(a_delivery())
    delivery.skip("no_address", at(1))
    [event] = new_events(delivery)
    assert isinstance(event, Delivery.Skipped) and event.reason == "no_address"
    assert (delivery.status, delivery.attempts, delivery.due_at) == (
        DeliveryStatus.SKIPPED,
        0,
        None,
    )


def test_a_delivery_waiting_for_a_retry_can_be_skipped_too() -> None:
    delivery = given(a_delivery(), claimed, failed)
    delivery.skip("no_address", at(9))
    assert names(new_events(delivery)) == ["Delivery.Skipped"]
    assert delivery.status is DeliveryStatus.SKIPPED


# -- redelivery --------------------------------------------------------------------------


def redelivered(seconds: float) -> Step:
    return lambda d: d.redeliver(at(seconds))


def test_a_dead_delivery_is_redelivered_at_once_with_a_fresh_set_of_attempts() -> None:
    delivery = given(a_delivery(), *died())

    assert delivery.redeliver(at(86_400)) is True

    [event] = new_events(delivery)
    assert isinstance(event, Delivery.Redelivered)
    assert (delivery.status, delivery.due_at) == (DeliveryStatus.PENDING, at(86_400))
    assert delivery.start_attempt(at(86_400), at(86_400)) == MAX_ATTEMPTS + 1


def test_a_redelivered_delivery_dies_again_after_another_full_round_of_attempts() -> None:
    delivery = given(
        a_delivery(), *died(), redelivered(86_400), *attempts_failing(MAX_ATTEMPTS - 1), claimed
    )
    assert delivery.status is DeliveryStatus.PENDING

    delivery.fail(delivery.attempts, "HTTP 500", at(10**6))

    assert names(new_events(delivery)) == ["Delivery.AttemptFailed", "Delivery.Died"]
    assert delivery.attempts == 2 * MAX_ATTEMPTS


def test_after_a_redelivery_the_first_failure_waits_the_first_backoff_step() -> None:
    delivery = given(a_delivery(), *died(), redelivered(86_400), claimed)
    delivery.fail(delivery.attempts, "HTTP 500", at(86_401))
    [event] = new_events(delivery)
    assert event.retry_at == at(86_401 + BACKOFF_SECONDS[0])


@pytest.mark.parametrize(
    "steps",
    [[], [claimed], [claimed, failed], [claimed, sent], [skipped]],
    ids=["queued", "sending", "failed", "sent", "skipped"],
)
def test_only_a_dead_delivery_can_be_redelivered(steps: list[Step]) -> None:
    delivery = given(a_delivery(), *steps)
    status = delivery.status
    assert delivery.redeliver(at(99)) is False
    assert new_events(delivery) == []
    assert delivery.status is status


# -- the deadline each event leaves ------------------------------------------------------


def deadline(due_at: datetime | None, tenant: uuid.UUID | None = None) -> Deadline | None:
    if due_at is None:
        return None
    return Deadline(kind=DELIVERY, id=DELIVERY_ID, due_at=due_at, tenant_id=tenant, payload={})


def last_event(*steps: Step) -> Any:
    delivery = a_delivery()
    for step in steps:
        step(delivery)
    return list(delivery.collect_events())[-1]


def test_queued_sets_a_deadline_of_kind_delivery_due_at_once_for_its_tenant() -> None:
    event = last_event()
    assert isinstance(event, Delivery.Queued) and isinstance(event, SetsDeadline)
    assert event.deadline_kind == DELIVERY
    assert event.next_deadline() == deadline(T0, CLINIC)


def test_an_attempt_started_moves_the_deadline_to_the_end_of_its_lease() -> None:
    event = last_event(lambda d: d.start_attempt(T0, at(4)))
    assert event.next_deadline() == deadline(at(4) + LEASE)


def test_a_failed_attempt_moves_the_deadline_to_its_retry() -> None:
    event = last_event(claimed, lambda d: d.fail(1, "HTTP 500", at(7)))
    assert event.next_deadline() == deadline(at(7 + BACKOFF_SECONDS[0]))


def test_a_redelivery_sets_a_deadline_due_at_once() -> None:
    event = last_event(*died(), lambda d: d.redeliver(at(500)))
    assert isinstance(event, Delivery.Redelivered)
    assert event.next_deadline() == deadline(at(500))


@pytest.mark.parametrize(
    "steps",
    [[claimed, sent], [claimed, failed_for_good], died(), [skipped]],
    ids=["sent", "failed-for-good", "died", "skipped"],
)
def test_every_settling_event_clears_the_deadline(steps: list[Step]) -> None:
    delivery = a_delivery()
    for step in steps:
        step(delivery)
    events = list(delivery.collect_events())
    settling = [e for e in events if not isinstance(e, Delivery.Queued | Delivery.AttemptStarted)]
    last = settling[-1]
    assert last.next_deadline() is None
    if isinstance(last, Delivery.Died):
        assert settling[-2].next_deadline() is None  # its AttemptFailed has no retry either


# -- the push channel: one attempt's outcome from Expo's answer per token -----------------


def ok(token: str, ticket: str | None = None) -> PushResult:
    return PushResult(token, ok=True, ticket_id=ticket or f"ticket:{token}")


def gone(token: str) -> PushResult:
    return PushResult(token, ok=False, error=DEVICE_NOT_REGISTERED, permanent=True)


def server_error(token: str, error: str = "HTTP 500") -> PushResult:
    return PushResult(token, ok=False, error=error, permanent=False)


def too_big(token: str) -> PushResult:
    return PushResult(token, ok=False, error="MessageTooBig", permanent=True)


def test_a_push_that_reached_every_device_is_sent_with_every_ticket() -> None:
    outcome = push_outcome([PHONE, TABLET], [ok(TABLET, "t2"), ok(PHONE, "t1")])
    assert outcome == SendResult(ok=True, receipt=("t2", "t1"))


def test_one_gone_device_does_not_fail_a_push_another_device_received_but_is_reported() -> None:
    outcome = push_outcome([PHONE, TABLET], [gone(PHONE), ok(TABLET)])
    assert (outcome.ok, outcome.receipt, outcome.gone) == (True, (f"ticket:{TABLET}",), (PHONE,))


def test_a_push_no_device_received_fails_and_retries_when_an_error_is_transient() -> None:
    outcome = push_outcome([PHONE, TABLET], [gone(PHONE), server_error(TABLET)])
    assert (outcome.ok, outcome.permanent, outcome.gone) == (False, False, (PHONE,))
    assert outcome.error == f"{DEVICE_NOT_REGISTERED}; HTTP 500"


def test_a_push_fails_for_good_when_no_error_could_pass_on_a_retry() -> None:
    outcome = push_outcome([PHONE, TABLET], [gone(PHONE), too_big(TABLET)])
    assert (outcome.ok, outcome.permanent, outcome.gone) == (False, True, (PHONE,))
    assert outcome.error == f"{DEVICE_NOT_REGISTERED}; MessageTooBig"


def test_every_device_gone_fails_for_good_and_reports_them_all_gone() -> None:
    outcome = push_outcome([TABLET, PHONE], [gone(TABLET), gone(PHONE)])
    assert (outcome.ok, outcome.permanent) == (False, True)
    assert outcome.gone == tuple(sorted([PHONE, TABLET]))
    assert outcome.error == DEVICE_NOT_REGISTERED


def test_a_token_expo_gave_no_answer_for_counts_as_a_transient_failure() -> None:
    outcome = push_outcome([PHONE, TABLET], [gone(PHONE)])
    assert (outcome.ok, outcome.permanent) == (False, False)
    assert outcome.error == f"{DEVICE_NOT_REGISTERED}; no result"
    assert push_outcome([PHONE, TABLET], [ok(PHONE)]).ok


def test_the_same_error_on_several_devices_is_named_once() -> None:
    outcome = push_outcome([PHONE, TABLET], [server_error(PHONE), server_error(TABLET)])
    assert outcome.error == "HTTP 500"


# -- the Outbox with the push rules, over an in-memory log --------------------------------


class PushDesk:
    """The Outbox with the push channel's rules, on an in-memory log and a fake clock."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.clock = FakeClock(T0)
        self.commands = CommandBus(self.log, self.clock, SequentialIds())
        self.outbox = Outbox({PUSH: PushRules()})
        self.patient = Actor(PATIENT, Role.PATIENT, CLINIC)

    def run(self, handler: Handler[Any], actor: Actor = SYSTEM_ACTOR) -> Any:
        return self.commands.run(CommandContext(actor=actor), handler).result

    def queue(self, delivery_id: uuid.UUID = DELIVERY_ID) -> uuid.UUID:
        self.run(
            lambda uow: queue_push(
                uow, delivery_id, CLINIC, PATIENT, PAYLOAD["title"], PAYLOAD["body"], {}
            )
        )
        return delivery_id

    def register(self, *tokens: str) -> None:
        for token in tokens:
            self.run(
                lambda uow, t=token: Notifications().register_push_token(uow, t, "ios"),
                self.patient,
            )

    def delivery(self, delivery_id: uuid.UUID = DELIVERY_ID) -> Delivery:
        found = self.log.find(delivery_id)
        assert isinstance(found, Delivery)
        return found

    def claim(
        self, scheduled_for: datetime | None = None, delivery_id: uuid.UUID = DELIVERY_ID
    ) -> Claim | None:
        """The wake-up for the current step (or for `scheduled_for`) claims an attempt."""
        due = scheduled_for or self.delivery(delivery_id).due_at
        assert due is not None
        return self.run(lambda uow: self.outbox.claim(uow, delivery_id, due))

    def record(self, claim: Claim, *answers: PushResult) -> DeliveryStatus:
        outcome = push_outcome(claim.addresses, answers)
        return self.run(lambda uow: self.outbox.record(uow, claim, outcome))

    def tokens(self) -> dict[str, str]:
        found = self.log.find(push_tokens_id(PATIENT))
        return dict(found.tokens) if isinstance(found, PushTokens) else {}


@pytest.fixture
def desk() -> Iterator[PushDesk]:
    d = PushDesk()
    yield d
    d.log.close()


def test_a_claim_carries_the_payload_and_every_registered_device(desk: PushDesk) -> None:
    desk.register(TABLET, PHONE)
    desk.queue()

    claim = desk.claim()

    assert claim == Claim(DELIVERY_ID, PUSH, 1, PAYLOAD, tuple(sorted([PHONE, TABLET])))
    assert desk.record(claim, ok(PHONE), ok(TABLET)) is DeliveryStatus.SENT
    [*_, event] = desk.log.stream(DELIVERY_ID)
    assert isinstance(event, Delivery.Sent)
    assert sorted(event.receipt) == sorted([f"ticket:{PHONE}", f"ticket:{TABLET}"])


def test_a_recipient_without_a_device_is_skipped_and_nothing_is_claimed(desk: PushDesk) -> None:
    desk.queue()
    assert desk.claim() is None
    assert desk.delivery().status is DeliveryStatus.SKIPPED
    assert names(desk.log.stream(DELIVERY_ID)) == ["Delivery.Queued", "Delivery.Skipped"]


def test_a_device_no_longer_registered_is_forgotten_and_the_push_dies(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    claim = desk.claim()
    assert claim is not None

    assert desk.record(claim, gone(PHONE)) is DeliveryStatus.DEAD
    assert desk.tokens() == {}


def test_one_gone_device_is_forgotten_and_the_push_another_received_is_sent(
    desk: PushDesk,
) -> None:
    desk.register(PHONE, TABLET)
    desk.queue()
    claim = desk.claim()
    assert claim is not None
    assert desk.record(claim, gone(PHONE), ok(TABLET)) is DeliveryStatus.SENT
    assert desk.tokens() == {TABLET: "ios"}


def test_a_gone_device_beside_a_transient_error_is_forgotten_and_the_push_retries_the_rest(
    desk: PushDesk,
) -> None:
    desk.register(PHONE, TABLET)
    desk.queue()
    first = desk.claim()
    assert first is not None
    assert desk.record(first, gone(PHONE), server_error(TABLET)) is DeliveryStatus.FAILED
    assert desk.tokens() == {TABLET: "ios"}

    desk.clock.advance(BACKOFF_SECONDS[0])
    retry = desk.claim()
    assert retry is not None and (retry.attempt, retry.addresses) == (2, (TABLET,))


def test_a_transient_error_retries_at_the_backoff_time_and_not_before(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    first = desk.claim()
    assert first is not None
    assert desk.record(first, server_error(PHONE)) is DeliveryStatus.FAILED
    retry_at = desk.delivery().due_at
    assert retry_at == T0 + timedelta(seconds=BACKOFF_SECONDS[0])

    desk.clock.set(retry_at - timedelta(seconds=1))
    assert desk.claim(retry_at) is None
    desk.clock.set(retry_at)
    second = desk.claim(retry_at)
    assert second is not None and second.attempt == 2
    assert desk.record(second, ok(PHONE)) is DeliveryStatus.SENT
    assert desk.delivery().attempts == 2


def test_a_stale_or_duplicate_wake_up_claims_nothing_and_writes_nothing(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    assert desk.claim(T0) is not None
    head = desk.log.head()

    assert desk.claim(T0) is None  # the same wake-up again
    desk.clock.advance(3600)
    assert desk.claim(T0 - timedelta(seconds=1)) is None  # one that was never current
    assert desk.log.head() == head


def test_a_sent_delivery_is_never_claimed_again(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    claim = desk.claim()
    assert claim is not None
    desk.record(claim, ok(PHONE))
    desk.clock.advance(3600)
    for scheduled in (T0, T0 + LEASE):
        assert desk.claim(scheduled) is None


def test_an_outcome_recorded_twice_changes_nothing_the_second_time(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    claim = desk.claim()
    assert claim is not None
    desk.record(claim, server_error(PHONE))
    head = desk.log.head()
    assert desk.record(claim, ok(PHONE)) is DeliveryStatus.FAILED
    assert desk.log.head() == head


def test_a_lease_that_ran_out_for_a_recipient_whose_devices_are_gone_ends_skipped(
    desk: PushDesk,
) -> None:
    """The attempt under way counts as failed; with no device left, nothing is claimed
    (an attempt to no device could only fail)."""
    desk.register(PHONE)
    desk.queue()
    assert desk.claim() is not None  # its worker dies before recording the outcome
    other = desk.queue(uuid.UUID(int=2))
    other_claim = desk.claim(delivery_id=other)
    assert other_claim is not None
    desk.record(other_claim, gone(PHONE))  # meanwhile another push finds the device gone
    assert desk.tokens() == {}

    desk.clock.advance(LEASE_SECONDS)
    assert desk.claim() is None

    assert names(desk.log.stream(DELIVERY_ID))[-2:] == [
        "Delivery.AttemptFailed",
        "Delivery.Skipped",
    ]
    assert desk.delivery().status is DeliveryStatus.SKIPPED


def test_redelivering_a_dead_delivery_claims_its_next_attempt_at_once(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    claim = desk.claim()
    assert claim is not None
    desk.record(claim, too_big(PHONE))
    assert desk.delivery().status is DeliveryStatus.DEAD

    redelivery = desk.run(lambda uow: desk.outbox.redeliver(uow, DELIVERY_ID))

    assert (redelivery.id, redelivery.status) == (DELIVERY_ID, DeliveryStatus.PENDING)
    again = desk.claim(desk.clock.now())
    assert again is not None and again.attempt == 2


def test_redelivering_a_delivery_that_is_not_dead_is_a_conflict(desk: PushDesk) -> None:
    desk.register(PHONE)
    desk.queue()
    with pytest.raises(ConflictError):
        desk.run(lambda uow: desk.outbox.redeliver(uow, DELIVERY_ID))


def test_a_channel_without_rules_sends_to_the_address_in_its_payload(desk: PushDesk) -> None:
    def queue(uow: Any) -> None:
        uow.add(Delivery.queue(DELIVERY_ID, "sms", None, None, {"to": "+4712345678"}, uow.now))

    desk.run(queue)
    claim = desk.claim()
    assert claim is not None and claim.addresses == ("+4712345678",)


# -- the delivery's life as a state machine ----------------------------------------------


class DeliveryMachine(RuleBasedStateMachine):
    """Wake-ups arrive on time, late, early, twice or stale; workers succeed, fail or die
    (their lease runs out); the clock moves; there may be nowhere to send it; a dead
    delivery may be redelivered; the process restarts (the delivery is replayed)."""

    @initialize(max_attempts=st.integers(1, MAX_ATTEMPTS + 1))
    def a_queued_delivery(self, max_attempts: int) -> None:
        self.clock = FakeClock(T0)
        self.delivery = Delivery.queue(
            DELIVERY_ID, PUSH, CLINIC, PATIENT, PAYLOAD, T0, max_attempts=max_attempts
        )
        self.history: list[Any] = []
        # Each save: the step that was due before it, and the events it wrote.
        self.saves: list[tuple[datetime | None, list[Any]]] = []
        self.wakeups: list[datetime] = []
        self.settled_at: int | None = None  # events in the history when it settled
        self.due_before: datetime | None = None
        self.saved()

    def saved(self) -> None:
        """What a command's save does: the new events join the history, and the step they
        leave behind is a wake-up the deadlines worker will send (and may send again)."""
        events = list(self.delivery.collect_events())
        self.history.extend(events)
        self.saves.append((self.due_before, events))
        self.due_before = self.delivery.due_at
        if self.delivery.due_at is not None and self.delivery.due_at not in self.wakeups:
            self.wakeups.append(self.delivery.due_at)
        if self.delivery.is_settled and self.settled_at is None:
            self.settled_at = len(self.history)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def used(self) -> int:
        """Attempts started in this round."""
        return self.delivery.attempts - self.delivery.first_attempt + 1

    # -- rules -------------------------------------------------------------------------

    @precondition(lambda self: bool(self.wakeups))
    @rule(data=st.data(), twice=st.booleans())
    def a_wake_up_arrives(self, data: st.DataObject, twice: bool) -> None:
        """Any wake-up ever scheduled: current or stale, on time, late or early."""
        scheduled = data.draw(st.sampled_from(self.wakeups))
        d = self.delivery
        due = not d.is_settled and scheduled == d.due_at and self.now >= scheduled
        # A wake-up at the end of the round's last lease finds no attempt left.
        out_of_attempts = d.sending and self.used() >= d.max_attempts
        before = d.attempts

        attempt = d.start_attempt(scheduled, self.now)

        if due and not out_of_attempts:
            assert attempt == before + 1 == d.attempts and d.sending
        else:
            assert attempt is None
            assert d.attempts == before
        if due and out_of_attempts:
            assert d.status is DeliveryStatus.DEAD
        self.saved()
        if twice:
            assert self.delivery.start_attempt(scheduled, self.now) is None
            self.saved()

    @precondition(lambda self: self.delivery.attempts > 0)
    @rule(data=st.data())
    def a_worker_reports_success(self, data: st.DataObject) -> None:
        d = self.delivery
        attempt = data.draw(st.integers(1, d.attempts))
        current = d.sending and attempt == d.attempts
        status = d.status

        d.succeed(attempt, ["ticket"], self.now)

        assert d.status is (DeliveryStatus.SENT if current else status)
        assert bool(d.pending_events) is current
        self.saved()

    @precondition(lambda self: self.delivery.attempts > 0)
    @rule(data=st.data(), permanent=st.booleans())
    def a_worker_reports_failure(self, data: st.DataObject, permanent: bool) -> None:
        d = self.delivery
        attempt = data.draw(st.integers(1, d.attempts))
        current = d.sending and attempt == d.attempts
        last = self.used() >= d.max_attempts
        status = d.status

        d.fail(attempt, "HTTP 500", self.now, permanent=permanent)

        if not current:
            assert d.status is status and not d.pending_events
        elif permanent or last:
            assert d.status is DeliveryStatus.DEAD
        else:
            assert d.status is DeliveryStatus.FAILED and d.due_at is not None
            assert d.due_at > self.now
        self.saved()

    @precondition(lambda self: self.delivery.sending)
    @rule(late=st.sampled_from([0, 1, 45]))
    def the_worker_dies_and_its_lease_runs_out(self, late: float) -> None:
        d = self.delivery
        lease_end = d.due_at
        assert lease_end is not None
        self.clock.set(max(self.now, lease_end + timedelta(seconds=late)))
        used, before = self.used(), d.attempts

        attempt = d.start_attempt(lease_end, self.now)

        if used >= d.max_attempts:
            assert attempt is None and d.status is DeliveryStatus.DEAD
        else:
            assert attempt == before + 1 and d.sending
            failure = d.pending_events[0]
            assert isinstance(failure, Delivery.AttemptFailed) and failure.attempt == before
        self.saved()

    @rule(seconds=st.sampled_from([0.5, 1, 5, 29, 30, 31, 120, 600, 3600]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: not self.delivery.sending)
    @rule()
    def there_is_nowhere_to_send_it(self) -> None:
        status = self.delivery.status
        self.delivery.skip("no_address", self.now)
        settled = status in (DeliveryStatus.SENT, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED)
        assert self.delivery.status is (status if settled else DeliveryStatus.SKIPPED)
        self.saved()

    @rule()
    def an_admin_redelivers_it(self) -> None:
        dead = self.delivery.status is DeliveryStatus.DEAD
        assert self.delivery.redeliver(self.now) is dead
        if dead:
            self.settled_at = None
        self.saved()

    @rule()
    def the_process_restarts(self) -> None:
        rebuilt = replay(self.history)
        assert isinstance(rebuilt, Delivery)
        for name in ("status", "attempts", "first_attempt", "sending", "due_at", "max_attempts"):
            assert getattr(rebuilt, name) == getattr(self.delivery, name), name
        self.delivery = rebuilt

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def at_most_one_attempt_is_open_and_it_is_the_latest(self) -> None:
        started = {e.attempt for e in self.history if isinstance(e, Delivery.AttemptStarted)}
        ended = {
            e.attempt for e in self.history if isinstance(e, Delivery.Sent | Delivery.AttemptFailed)
        }
        open_attempts = started - ended
        assert len(open_attempts) <= 1
        assert open_attempts == ({self.delivery.attempts} if self.delivery.sending else set())

    @invariant()
    def attempts_never_exceed_the_maximum_of_a_round(self) -> None:
        rounds = [0]
        for event in self.history:
            if isinstance(event, Delivery.Redelivered):
                rounds.append(0)
            elif isinstance(event, Delivery.AttemptStarted):
                rounds[-1] += 1
        assert all(count <= self.delivery.max_attempts for count in rounds)
        assert self.delivery.attempts == sum(rounds)

    @invariant()
    def a_settled_delivery_never_changes(self) -> None:
        if self.settled_at is None:
            return
        assert self.delivery.is_settled and self.delivery.due_at is None
        assert len(self.history) == self.settled_at

    @invariant()
    def the_deadline_is_always_the_next_step(self) -> None:
        d = self.delivery
        deadlines = [e.next_deadline() for e in self.history if isinstance(e, SetsDeadline)]
        assert len(deadlines) == len(self.history)  # every event sets or clears it
        assert all(x is None or (x.kind, x.id) == (DELIVERY, DELIVERY_ID) for x in deadlines)
        assert (deadlines[-1].due_at if deadlines[-1] else None) == d.due_at
        step = [e for e in self.history if not isinstance(e, Delivery.Died)][-1]
        if d.is_settled:
            assert d.due_at is None
        elif d.sending:
            assert isinstance(step, Delivery.AttemptStarted) and d.due_at == step.lease_until
        elif d.status is DeliveryStatus.FAILED:
            assert isinstance(step, Delivery.AttemptFailed) and d.due_at == step.retry_at
        else:
            assert isinstance(step, Delivery.Queued | Delivery.Redelivered)
            assert d.due_at == step.timestamp

    @invariant()
    def no_attempt_starts_before_its_step_is_due(self) -> None:
        for due_before, events in self.saves:
            for event in events:
                if isinstance(event, Delivery.AttemptStarted):
                    assert due_before is not None and event.timestamp >= due_before


DeliveryMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30)
test_the_delivery_state_machine = DeliveryMachine.TestCase
